# Integration tests of the test tooling itself: bpjs-kafka-mock and the
# Python harness (tests/integration/harness.py) that every integration test
# uses. See docs/testing.md.
bpjs_integration_test(kafka_mock)
