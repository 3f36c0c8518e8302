# Integration tests of the test tooling itself: bpjs-kafka-mock and the
# Python harness (tests/integration/harness.py) that every integration test
# uses. See docs/testing.md.
bpjs_integration_test(kafka_mock)
# The daemon against a real Apache Kafka broker (issue 15): a single-node
# KRaft broker that the harness starts, its jars fetched by Maven
# (tests/kafka/pom.xml) into ~/.cache/bpjs-sync. Fails, never skips, when the
# broker cannot be had. `ctest -R real_kafka` (or -L real_kafka) runs it alone.
bpjs_integration_test(real_kafka)
set_tests_properties(integration.real_kafka PROPERTIES TIMEOUT 900 LABELS real_kafka)
