# The request signature and the mock BPJS endpoint.
bpjs_unit_test(sign bpjs_common)
bpjs_integration_test(bpjs_mock)
