# What registration portals rely on (issue 7): results and dead letters
# conform to the published schemas, hostile events are rejected with their
# reason without stopping the pipeline, and no NIK or secret leaks.
bpjs_integration_test(schemas)
bpjs_integration_test(hostile)
bpjs_integration_test(pii)
# Programmes as the payers define them (issue 14): eligibility and periods
# decided end to end, only eligible workers reaching the endpoint.
bpjs_integration_test(programs)
# budgets end to end, after faults and kills, against the premium model (issue 14)
bpjs_integration_test(budget)
