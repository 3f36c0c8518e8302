# Static analysis (scripts/lint: cppcheck and clang-tidy, clean or failing
# with each finding as file:line:col). The code is the same in every build,
# so only the build without sanitizers runs it (CI runs ctest in a release
# and an ASan build). It configures its own clang build tree, lint/, under
# this build's directory; nothing there is compiled.
if(NOT BPJS_SANITIZE)
  add_test(NAME lint
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/lint -B ${PROJECT_BINARY_DIR}/lint)
  set_tests_properties(lint PROPERTIES TIMEOUT 600)
endif()
