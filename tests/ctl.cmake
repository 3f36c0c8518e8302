# bpjs-syncctl, the operator CLI: inspection and replay of failed batches
# against a running daemon (issue 5).
bpjs_integration_test(syncctl)
# The operator half of the journal: its open (nothing created, read-only
# refuses writes) and the replay rules, one row a rule.
bpjs_unit_test(journal_ctl bpjs_daemon)
