# The service (issue 6): the metrics registry and its HTTP listener, the
# notify life-cycle under a test NOTIFY_SOCKET, and the systemd unit
# (systemd-analyze verify and security). scripts/check-package installs the
# .deb in a Debian 12 root; it needs root and is not run by ctest.
bpjs_unit_test(metrics bpjs_daemon)
bpjs_integration_test(service)
# the metrics listener under load (issue 12): idle connections, probes from
# 127.0.0.1 and 127.0.0.2
bpjs_integration_test(metrics_load)
# Configuration, secrets and process hardening: no proxy from the
# environment, journal files 0600 under any umask, a non-dumpable daemon,
# the audit's real user (some tests need root, to run programs as nobody).
bpjs_integration_test(config_hardening)
