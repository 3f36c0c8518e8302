"""TLS to the endpoint (docs/operations.md, "TLS failures"): the mock serves
HTTPS with a throwaway CA made here with openssl; verification is on by
default, bpjs.tls.ca_file and mutual TLS work, and a refused TLS (unknown
CA, wrong host name, expired certificate, no or a foreign client
certificate) sends nothing, alerts once, makes /readyz not ready and keeps
the batches in the journal until it is fixed, then registers them exactly
once."""

import json
import os
import random
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, HarnessError, bin_path, run_tests  # noqa: E402
from dataset import BPP, Worker, daemon_config, event  # noqa: E402

TOPICS = {"enrollment.events": 4, "enrollment.results": 4, "enrollment.events.dlq": 1}
EVENTS, RESULTS, _ = TOPICS
N = 5  # workers; one a batch, so that several requests fail at once
ALERT = r"ALERT: TLS to the endpoint is refused"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# ---------------------------------------------------------------------------
# A throwaway PKI

def openssl(env, *args):
    r = subprocess.run(["openssl", *args], cwd=env.dir, capture_output=True, text=True)
    if r.returncode != 0:
        raise HarnessError(f"openssl {' '.join(args)}: {r.stderr.strip()}")


def make_pki(env):
    """CA "ca" and "rogue" (another CA); server certificates "server"
    (127.0.0.1 and localhost), "other-host" (bpjs.example.go.id only) and
    "expired" (January 2020), all by "ca"; client certificates "client" (by
    "ca") and "rogue-client" (by "rogue"). Returns {name: (pem, key)}."""
    env.write_file("ext.cnf", "\n".join([
        "[server]", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "extendedKeyUsage=serverAuth",
        "[other-host]", "subjectAltName=DNS:bpjs.example.go.id",
        "extendedKeyUsage=serverAuth",
        "[client]", "extendedKeyUsage=clientAuth", ""]))
    # `openssl ca` is the honest way to a certificate whose dates are past
    env.write_file("ca.cnf", "\n".join([
        "[ca]", "default_ca=test",
        "[test]", "database=db/index.txt", "serial=db/serial", "new_certs_dir=db",
        "certificate=ca.pem", "private_key=ca.key", "default_md=sha256",
        "policy=any", "x509_extensions=server", "unique_subject=no",
        "[any]", "commonName=supplied",
        "[server]", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "extendedKeyUsage=serverAuth", ""]))
    os.makedirs(env.path("db"))
    env.write_file("db/index.txt", "")
    env.write_file("db/serial", "1000\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    out = {}
    for ca in ("ca", "rogue"):
        openssl(env, "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                "-days", "2", "-subj", f"/CN=bpjs-sync test {ca} CA",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        out[ca] = (env.path(f"{ca}.pem"), env.path(f"{ca}.key"))
    for name, ca, ext in (("server", "ca", "server"), ("other-host", "ca", "other-host"),
                          ("client", "ca", "client"), ("rogue-client", "rogue", "client")):
        openssl(env, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}")
        openssl(env, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem",
                "-CAkey", f"{ca}.key", "-CAcreateserial", "-days", "2",
                "-extfile", "ext.cnf", "-extensions", ext, "-out", f"{name}.pem")
        out[name] = (env.path(f"{name}.pem"), env.path(f"{name}.key"))
    openssl(env, "req", *ec, "-keyout", "expired.key", "-out", "expired.csr",
            "-subj", "/CN=expired")
    openssl(env, "ca", "-batch", "-config", "ca.cnf", "-startdate", "20200101000000Z",
            "-enddate", "20200201000000Z", "-in", "expired.csr", "-out", "expired.pem")
    out["expired"] = (env.path("expired.pem"), env.path("expired.key"))
    return out


# ---------------------------------------------------------------------------
# The run

class Run:
    pass


def start(env, server="server", client_ca=False, tls=None, prepare=None):
    """The mock over TLS with the certificate `server`, demanding a client
    certificate by "ca" when client_ca; the daemon with bpjs.tls = tls; N
    workers' events produced; prepare(pki), if given, runs before the daemon
    starts. Returns a Run."""
    r = Run()
    r.pki = pki = make_pki(env)
    if prepare:
        prepare(pki)
    r.kafka = env.start_kafka(topics=TOPICS)
    r.endpoint = start_mock(env, pki, server, client_ca)
    # file names are the PKI's, in the Env's directory
    r.tls = {k: env.path(v) for k, v in (tls or {}).items()}
    cfg = daemon_config(r.kafka.bootstrap, r.endpoint.url, r.endpoint.secret_file,
                        env.path("journal.db"), batch_size=1, timeout_ms=5000)
    cfg["bpjs"]["tls"] = r.tls
    r.cfg = cfg
    r.cfg_path = env.write_config(cfg)
    rng = random.Random(31)
    r.niks = []
    msgs = []
    for i in range(N):
        w = Worker(rng, "6471", 7000 + i)
        r.niks.append(w.nik)
        e = event(f"bpp-portal:tls:{i:04d}", "enrollment.submitted", BPP, w)
        msgs.append((w.nik, json.dumps(e), None))
    r.kafka.produce(EVENTS, msgs)
    r.daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", r.cfg_path])
    at = r"metrics at (http://127\.0\.0\.1:\d+)/metrics"
    env.wait_for_log("daemon", at, timeout=30)
    r.metrics = re.search(at, env.log("daemon")).group(1)
    return r


def start_mock(env, pki, server, client_ca, port=None, name="endpoint"):
    args = ["--tls-cert", pki[server][0], "--tls-key", pki[server][1]]
    if client_ca:
        args += ["--tls-client-ca", pki["ca"][0]]
    if port:
        args += ["--listen", f"127.0.0.1:{port}"]
    # the harness reads /_mock/... too; a certificate bad on purpose it
    # does not verify
    verify = pki["ca"][0] if server in ("server",) else False
    return env.start_endpoint(args=args, name=name, tls_ca=verify,
                              tls_client=pki["client"] if client_ca else None)


def get(url):
    try:
        with _NO_PROXY.open(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(r, name, **labels):
    _, text = get(r.metrics + "/metrics")
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
                   if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


def results(r, expect=None, timeout=60):
    return [json.loads(m["value"]) for m in
            r.kafka.consume(RESULTS, expect=expect, timeout=timeout)]


def assert_refused(env, r, cause, curl_text="SSL peer certificate or SSH remote key was not OK"):
    """Nothing reached the endpoint's API, one alert naming `cause`, not
    ready, the metric says so, and every event still has its first result."""
    env.wait_for_log("daemon", ALERT + ".*" + cause, timeout=60)
    # every worker's batch tried once and refused; the alert is still one line
    env.wait_for_log("daemon", r"\[batch \S+ attempt 1\] .*next attempt in", times=4,
                     timeout=60)
    env.wait_for(lambda: get(r.metrics + "/readyz") ==
                 (503, "not ready: TLS to the endpoint is refused: " + curl_text + "\n"),
                 timeout=30, what="/readyz: 503, naming TLS")
    env.wait_for(lambda: metric(r, "bpjs_sync_endpoint_tls_refused") == 1, timeout=30,
                 what="bpjs_sync_endpoint_tls_refused 1")
    assert metric(r, "bpjs_sync_requests_total", outcome="tls") >= 4
    assert metric(r, "bpjs_sync_requests_total", outcome="ok") == 0
    got = results(r, expect=N)
    assert sorted(x["status"] for x in got) == ["confirmed"] * N, got
    stats = r.endpoint.stats()
    assert stats["batches_processed"] == 0 and stats["registered"] == 0, stats
    assert r.endpoint.state()["active"] == []
    assert env.log_count("daemon", ALERT) == 1, env.log("daemon")
    # no full NIK in what the daemon said
    assert not any(nik in env.log("daemon") for nik in r.niks)


def assert_registered(env, r):
    """Every worker registered exactly once; ready; no TLS alert."""
    got = results(r, expect=2 * N, timeout=90)
    final = sorted(x["status"] for x in got if x["status"] != "confirmed")
    assert final == ["registered"] * N, got
    stats = r.endpoint.stats()
    assert stats["registered"] == N and stats["registered_twice"] == 0, stats
    active = sorted(a["nik"] for a in r.endpoint.state()["active"])
    assert active == sorted(r.niks), active
    env.wait_for(lambda: get(r.metrics + "/readyz")[0] == 200, timeout=30,
                 what="/readyz ready")
    assert metric(r, "bpjs_sync_endpoint_tls_refused") == 0


def stop(env, r):
    r.daemon.send_signal(signal.SIGTERM)
    assert r.daemon.wait(20) == 0


# ---------------------------------------------------------------------------
# The cases

def test_verification_is_on_by_default():
    """The system bundle does not know the test CA: refused, not sent."""
    with Env() as env:
        r = start(env)
        assert_refused(env, r, "unable to get local issuer certificate")
        stop(env, r)


def test_ca_file_verifies_the_endpoint():
    with Env() as env:
        r = start(env, tls={"ca_file": "ca.pem"})
        assert_registered(env, r)
        assert env.log_count("daemon", ALERT) == 0
        stop(env, r)


def test_wrong_host_name_is_refused():
    """A certificate of the right CA for bpjs.example.go.id, served at
    127.0.0.1."""
    with Env() as env:
        r = start(env, server="other-host", tls={"ca_file": "ca.pem"})
        assert_refused(env, r, "subject name")
        stop(env, r)


def test_expired_certificate_is_refused():
    with Env() as env:
        r = start(env, server="expired", tls={"ca_file": "ca.pem"})
        assert_refused(env, r, "certificate has expired")
        stop(env, r)


def test_mutual_tls_without_a_client_certificate_is_refused():
    with Env() as env:
        r = start(env, client_ca=True, tls={"ca_file": "ca.pem"})
        assert_refused(env, r, "alert certificate required",
                       "Failure when receiving data from the peer")
        stop(env, r)


def test_mutual_tls_with_a_foreign_client_certificate_is_refused():
    with Env() as env:
        r = start(env, client_ca=True, tls={"ca_file": "ca.pem",
                                            "client_cert": "rogue-client.pem",
                                            "client_key": "rogue-client.key"})
        assert_refused(env, r, "alert bad certificate",
                       "Failure when receiving data from the peer")
        stop(env, r)


def test_mutual_tls_with_the_client_certificate_registers():
    with Env() as env:
        r = start(env, client_ca=True, tls={"ca_file": "ca.pem",
                                            "client_cert": "client.pem",
                                            "client_key": "client.key"})
        assert_registered(env, r)
        assert env.log_count("daemon", ALERT) == 0
        stop(env, r)


def test_reload_with_the_right_ca_file_registers_the_waiting_batches_once():
    """Refused (no ca_file); a reload that changes nothing probes again at
    once and fails the same way, still one alert; a reload with the CA file
    registers every waiting batch exactly once, and the daemon is ready."""
    with Env() as env:
        r = start(env)
        assert_refused(env, r, "unable to get local issuer certificate")
        failed = r"\[batch \S+ attempt \d+\] .*next attempt in"
        before = env.log_count("daemon", failed)
        r.daemon.send_signal(signal.SIGHUP)
        # a turn of max_in_flight (4) probes at once, not 30 s later
        env.wait_for_log("daemon", failed, times=before + 4, timeout=15)
        assert env.log_count("daemon", ALERT) == 1
        assert r.endpoint.stats()["batches_processed"] == 0

        r.cfg["bpjs"]["tls"] = {"ca_file": r.pki["ca"][0]}
        env.write_config(r.cfg)
        r.daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("daemon", "configuration reloaded", times=2, timeout=30)
        assert_registered(env, r)
        assert env.log_count("daemon", "TLS to the endpoint works again") == 1
        assert env.log_count("daemon", ALERT) == 1
        stop(env, r)



def test_a_good_certificate_on_the_endpoint_is_picked_up_by_the_next_probe():
    """Refused (expired); the endpoint restarts on the same port with a good
    certificate; within the 30 s probe interval, with no reload, every
    waiting batch is registered exactly once."""
    with Env() as env:
        r = start(env, server="expired", tls={"ca_file": "ca.pem"})
        assert_refused(env, r, "certificate has expired")
        port = r.endpoint.url.rsplit(":", 1)[1]
        assert r.endpoint.stop() == 0
        r.endpoint = start_mock(env, r.pki, "server", False, port)
        assert r.endpoint.url.endswith(":" + port)
        assert_registered(env, r)
        assert env.log_count("daemon", "TLS to the endpoint works again") == 1
        assert env.log_count("daemon", ALERT) == 1
        assert env.log_count("daemon", "configuration reloaded") == 0
        stop(env, r)


def test_a_ca_file_fixed_in_place_takes_effect_with_a_reload():
    """bpjs.tls.ca_file names a file holding another CA: refused; the same
    file is overwritten with the right CA and the daemon reloaded (the
    configuration itself unchanged): the CA file is read again, not taken
    from a cache, and every waiting batch is registered once."""
    with Env() as env:
        def rogue_bundle(pki):
            with open(pki["rogue"][0]) as f:
                env.write_file("bundle.pem", f.read(), 0o644)

        r = start(env, tls={"ca_file": "bundle.pem"}, prepare=rogue_bundle)
        assert_refused(env, r, "unable to get local issuer certificate")
        with open(r.pki["ca"][0]) as f:
            env.write_file("bundle.pem", f.read(), 0o644)
        r.daemon.send_signal(signal.SIGHUP)
        assert_registered(env, r)
        assert env.log_count("daemon", ALERT) == 1
        stop(env, r)


def test_a_ca_file_that_is_not_pem_is_refused():
    with Env() as env:
        env.write_file("not-a-ca.pem", "this is not a certificate\n", 0o644)
        r = start(env, tls={"ca_file": "not-a-ca.pem"})
        assert_refused(env, r, "Problem with the SSL CA cert",
                       "Problem with the SSL CA cert (path? access rights?)")
        stop(env, r)


def test_the_mock_refuses_bad_tls_options():
    with Env() as env:
        pki = make_pki(env)
        secret = env.write_file("s.secret", "s3cret-for-tests", 0o600)
        base = [bin_path("bpjs-mock"), "--cons-id", "1001", "--secret-file", secret]
        cases = [
            (["--tls-cert", pki["server"][0]], 64, "--tls-cert and --tls-key go together"),
            (["--tls-client-ca", pki["ca"][0]], 64, "--tls-client-ca needs --tls-cert"),
            (["--tls-cert", secret, "--tls-key", pki["server"][1]], 66, "not a PEM file"),
            (["--tls-cert", env.path("missing.pem"), "--tls-key", pki["server"][1]], 66,
             "No such file or directory"),
        ]
        for args, status, message in cases:
            p = subprocess.run(base + args, capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            assert p.returncode == status, (args, p.returncode, p.stderr)
            assert message in p.stderr, (args, p.stderr)
            assert "s3cret" not in p.stderr

if __name__ == "__main__":
    run_tests(globals())
