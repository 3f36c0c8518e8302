# What registration portals rely on (issue 7): results and dead letters
# conform to the published schemas, hostile events are rejected with their
# reason without stopping the pipeline, and no NIK or secret leaks.
bpjs_integration_test(schemas)
bpjs_integration_test(hostile)
bpjs_integration_test(pii)
