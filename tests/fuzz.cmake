# The fuzz targets of tests/fuzz/, built as plain programs that replay their
# seed corpus: ctest runs fuzz.replay.<target> on every build (with the
# sanitizers when BPJS_SANITIZE is on). scripts/fuzz builds the same sources
# with clang and libFuzzer and fuzzes them for a bounded time.
set(BPJS_FUZZ_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)

function(bpjs_fuzz_replay target)
  add_executable(fuzz_${target} ${BPJS_FUZZ_DIR}/fuzz_${target}.c
                 ${BPJS_FUZZ_DIR}/replay.c ${ARGN})
  target_include_directories(fuzz_${target} PRIVATE ${BPJS_FUZZ_DIR})
  target_link_libraries(fuzz_${target} PRIVATE bpjs_common)
  set_target_properties(fuzz_${target} PROPERTIES
    RUNTIME_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
  add_test(NAME fuzz.replay.${target}
    COMMAND fuzz_${target} ${BPJS_FUZZ_DIR}/corpus/${target})
  set_tests_properties(fuzz.replay.${target} PROPERTIES TIMEOUT 120)
endfunction()

bpjs_fuzz_replay(event)
bpjs_fuzz_replay(config)
bpjs_fuzz_replay(safetext)
# daemon/answer.c is compiled in directly: the target needs neither
# librdkafka nor libcurl.
bpjs_fuzz_replay(answer ${PROJECT_SOURCE_DIR}/daemon/answer.c)
target_include_directories(fuzz_answer PRIVATE ${PROJECT_SOURCE_DIR}/daemon)
