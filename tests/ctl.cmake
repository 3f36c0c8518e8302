# bpjs-syncctl, the operator CLI: inspection and replay of failed batches
# against a running daemon (issue 5).
bpjs_integration_test(syncctl)
# The replay rules of the operator's side of the journal, one row a rule.
bpjs_unit_test(journal_ctl bpjs_daemon)
