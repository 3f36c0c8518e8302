# bpjs-syncctl, the operator CLI: inspection and replay of failed batches
# against a running daemon (issue 5).
bpjs_integration_test(syncctl)
# every bpjs-syncctl verb on a PostgreSQL journal (issue 16), a replay's
# requests seen by a recording proxy
bpjs_integration_test(pg_syncctl)
# The operator half of the journal: its open (nothing created, read-only
# refuses writes), the replay rules, one row a rule, and every other verb.
bpjs_unit_test(journal_ctl bpjs_daemon)
# again with the SQLite coverage log merged after every 2 changes
add_test(NAME unit.journal_ctl_merging COMMAND test_journal_ctl)
set_tests_properties(unit.journal_ctl_merging PROPERTIES
  ENVIRONMENT "BPJS_TEST_JOURNAL_MERGE_ROWS=2")
# the same suite on PostgreSQL (issue 16): a private server for the run
# (tests/journal_iface_pg.py), what only a SQLite file has skipped
add_test(NAME unit.journal_ctl_pg
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/journal_iface_pg.py
          $<TARGET_FILE:test_journal_ctl>)
set_tests_properties(unit.journal_ctl_pg PROPERTIES
  ENVIRONMENT "BPJS_BIN_DIR=${PROJECT_BINARY_DIR}/bin;BPJS_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  TIMEOUT 900)
# The premium report (issue 14): report_build's rules, one row a rule, and
# its three formats byte for byte; premium_model.py, the tests' independent
# model of the rules, checked against the worked examples.
bpjs_unit_test(report bpjs_syncctl_lib)
add_test(NAME unit.premium_model
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/premium_model.py)
# bpjs-syncctl report on a journal the daemon wrote on the mock cluster,
# against premium_model.py and docs/schemas/premium-report.v1.schema.json.
bpjs_integration_test(premium_report)
