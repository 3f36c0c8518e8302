bpjs_unit_test(nik bpjs_common)
bpjs_unit_test(safetext bpjs_common)
bpjs_unit_test(event bpjs_common)
bpjs_unit_test(textpool bpjs_common)
bpjs_unit_test(config bpjs_common)
bpjs_unit_test(decide bpjs_daemon)
bpjs_unit_test(replay bpjs_daemon)
bpjs_integration_test(pipeline)
# the daemon on a PostgreSQL journal, a private server of the test
bpjs_integration_test(pg_journal)
bpjs_integration_test(pg_outage)
bpjs_integration_test(scale_out)
# two portals' topics delivering one worker's events to two instances: each
# worker's ops at the endpoint one at a time in the journal's order
bpjs_integration_test(scale_out_topics)
# several instances on the real Apache Kafka broker (as integration.real_kafka:
# its jars fetched by Maven; fails, never skips, when it cannot be had)
bpjs_integration_test(scale_out_real_kafka)
set_tests_properties(integration.scale_out_real_kafka PROPERTIES TIMEOUT 900 LABELS real_kafka)
bpjs_unit_test(nikset bpjs_daemon)
bpjs_unit_test(keyset bpjs_daemon)
bpjs_unit_test(push bpjs_daemon)
# forming batches from the journal's queue, kept in memory between passes
bpjs_unit_test(push_form bpjs_daemon)
bpjs_unit_test(answer bpjs_daemon)
bpjs_unit_test(item bpjs_daemon)
# results and items written without cJSON trees, byte for byte as cJSON printed them
bpjs_unit_test(jsonw bpjs_daemon)
bpjs_unit_test(push_tls bpjs_daemon)
bpjs_integration_test(faults)
# a hostile or broken endpoint: stale responses, bad kpjs, huge Retry-After
bpjs_integration_test(endpoint_hostile)
bpjs_integration_test(outages)
bpjs_unit_test(journal bpjs_daemon)
# the journal interface's promises, one suite for every backend
# (BPJS_TEST_JOURNAL names the journal to run it on)
bpjs_unit_test(journal_iface bpjs_daemon)
# again with the SQLite coverage log merged after every 3 changes
add_test(NAME unit.journal_iface_merging COMMAND test_journal_iface)
set_tests_properties(unit.journal_iface_merging PROPERTIES
  ENVIRONMENT "BPJS_TEST_JOURNAL_MERGE_ROWS=3")
# the same suite on PostgreSQL: a private server (initdb in a temporary
# folder, as nobody when run as root) for the run, removed after
add_test(NAME unit.journal_iface_pg
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/journal_iface_pg.py
          $<TARGET_FILE:test_journal_iface>)
set_tests_properties(unit.journal_iface_pg PROPERTIES
  ENVIRONMENT "BPJS_BIN_DIR=${PROJECT_BINARY_DIR}/bin;BPJS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  TIMEOUT 900)
# what only the PostgreSQL journal has (its connection, schema, opens), on
# a private server too
add_executable(test_journal_pg ${CMAKE_CURRENT_SOURCE_DIR}/unit/test_journal_pg.c)
target_link_libraries(test_journal_pg PRIVATE PkgConfig::CMOCKA bpjs_daemon PkgConfig::LIBPQ)
add_test(NAME unit.journal_pg
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/journal_iface_pg.py
          $<TARGET_FILE:test_journal_pg>)
set_tests_properties(unit.journal_pg PROPERTIES
  ENVIRONMENT "BPJS_BIN_DIR=${PROJECT_BINARY_DIR}/bin;BPJS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  TIMEOUT 600)
bpjs_integration_test(reload)
# pruning starts the daemon on journals made by bench/journal_fill.c
bpjs_integration_test(pruning)
add_test(NAME docs.configuration
  COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/docs_check.sh $<TARGET_FILE:bpjs-syncd>
          ${PROJECT_SOURCE_DIR}/docs/configuration.md)
# Every reference leads inside the repository: no outside path or contract
# file, and every cited docs/ file, section and Markdown anchor exists.
add_test(NAME docs.references
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/docs_refs.py ${PROJECT_SOURCE_DIR})
# The benchmark on a small N, as a smoke test that it still works; no timing
# is asserted (speed belongs in bench/ and docs/performance.md).
add_test(NAME bench.smoke COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/bench/run.py 20000 --workers 20000)
set_tests_properties(bench.smoke PROPERTIES
  ENVIRONMENT "BPJS_BIN_DIR=${PROJECT_BINARY_DIR}/bin;BPJS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  TIMEOUT 600 PASS_REGULAR_EXPRESSION "\\| restart on it: journal open")
bpjs_unit_test(log bpjs_common)
# a full disk (issue 12): mounts a tmpfs for the journal, so it runs as root
bpjs_integration_test(full_disk)
# two daemons with journals of their own in one group (issue 15)
bpjs_integration_test(two_journals)
# The journal-layout microbenchmark (issue 13) on tiny sizes: every layout
# and variant runs, prints its keys and passes its own state check; a
# defect put in on purpose fails it. No timing is asserted.
add_test(NAME bench.layout
  COMMAND ${PYTHON3} ${PROJECT_SOURCE_DIR}/bench/layout_smoke.py $<TARGET_FILE:bpjs-journal-layout>)
set_tests_properties(bench.layout PROPERTIES TIMEOUT 600)
