# The request signature and the mock BPJS endpoint.
bpjs_unit_test(sign bpjs_common)
bpjs_integration_test(bpjs_mock)
# TLS to the endpoint: the mock over HTTPS (and mutual TLS), the daemon verifying
# it, and TLS refusals handled like a 401 (docs/operations.md, "TLS failures").
bpjs_integration_test(tls)
