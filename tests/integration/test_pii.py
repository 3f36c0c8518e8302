"""PII and secrets (issue 7): over a whole run of the data set at log level
debug, with endpoint faults so that the retry, refusal and alert paths log
too, and with NIKs planted where a portal should not put them (event_id,
portal, program, a bad event's fields), no full NIK appears in any line the
daemon writes, and the endpoint secret appears nowhere in the daemon's log,
in /proc/PID/cmdline or /proc/PID/environ of the running daemon, or in its
journal file.
"""

import json
import os
import random
import re
import secrets
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, bin_path, run_tests  # noqa: E402
from dataset import BPP, QUOTA_PROGRAM, Worker, daemon_config, event, generate, model  # noqa: E402

TOPICS = {"enrollment.events": 4, "enrollment.results": 4, "enrollment.events.dlq": 1}
EVENTS, RESULTS, DLQ = TOPICS
NIK_RE = re.compile(rb"(?<![0-9])[0-9]{16}(?![0-9])")


def planted(rng_seed=11):
    """Events that put a NIK where a NIK does not belong, and bad events
    that carry one: (key, value bytes) each, and the NIKs they contain."""
    rng = random.Random(rng_seed)
    out, niks = [], set()
    for i in range(6):
        w = Worker(rng, "6471", 7000 + i)
        niks.add(w.nik)
        e = event(f"pii:{w.nik}:{i}", "enrollment.submitted", BPP, w)
        if i == 1:
            e["portal"] = f"portal-{w.nik}"
        if i == 2:
            e["program"] = w.nik  # unknown_program, named by a NIK
        if i == 3:
            e["worker"]["birth_date"] = "1950-01-01"  # nik_birth_date_mismatch
        if i == 4:
            e["worker"]["nik"] = w.nik + "0"  # invalid_nik, 17 digits
        if i == 5:
            e["worker"]["name"] = f"name {w.nik}"
        out.append((w.nik.encode(), json.dumps(e).encode()))
    return out, niks


def test_no_nik_and_no_secret_in_logs_or_proc():
    ds = generate()
    expect, _ = model(ds)
    extra, extra_niks = planted()
    secret = "pii-secret-" + secrets.token_hex(16)

    niks = {e["worker"]["nik"] for e in ds.valid} | extra_niks
    for _, _, value in ds.invalid:
        niks |= {m.decode() for m in NIK_RE.findall(value)}
    assert len(niks) > 300, len(niks)

    firsts = len(expect) + len(ds.quota_ids) + len(ds.invalid) + len(extra)
    finals = sum(1 for e in expect.values() if e[2]) + QUOTA_PROGRAM["quota"] + 3

    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(secret=secret)
        config = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                               env.path("journal.db"))
        config["log"] = {"level": "debug"}
        cfg = env.write_config(config)
        # faults first, so that refusals, retries and the alert are logged too
        endpoint.faults(auth_fail=True, fail_5xx=20, fail_429=10, drop=5, retry_after=1)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages + extra])
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for_log("daemon", "assigned", timeout=30)

        # the running daemon: neither its command line nor its environment
        # holds the secret
        with open(f"/proc/{daemon.pid}/cmdline", "rb") as f:
            cmdline = f.read()
        with open(f"/proc/{daemon.pid}/environ", "rb") as f:
            environ = f.read()
        assert cmdline.split(b"\0")[0].endswith(b"bpjs-syncd"), cmdline
        assert secret.encode() not in cmdline, cmdline
        assert secret.encode() not in environ, "the secret is in the daemon's environment"

        # refused signatures until the alert is logged; then transient faults
        # for a while (pushing resumes at the next probe, 30 s on)
        env.wait_for_log("daemon", "ALERT", timeout=30)
        endpoint.faults(auth_fail=False)
        time.sleep(35.0)
        endpoint.faults(fail_5xx=0, fail_429=0, drop=0)
        try:
            kafka.consume(RESULTS, expect=firsts + finals, timeout=150)
        except WaitTimeout:
            pass  # the log checks matter more here; the count is asserted below
        got = len(kafka.consume(RESULTS))

        with open(f"/proc/{daemon.pid}/cmdline", "rb") as f:
            assert secret.encode() not in f.read()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, env.log("daemon")[-3000:]
        with open(env.path("daemon.log"), "rb") as f:
            log = f.read()
        with open(env.path("journal.db"), "rb") as f:
            journal = f.read()
        for suffix in ("-wal", "-shm"):
            if os.path.exists(env.path("journal.db" + suffix)):
                with open(env.path("journal.db" + suffix), "rb") as f:
                    journal += f.read()

    lines = log.splitlines()
    assert len(lines) > 100, f"only {len(lines)} log lines"
    assert any(b"[debug]" in line for line in lines), "no debug line: is the level set?"
    assert any(b"ALERT" in line for line in lines), "the 401 alert was not logged"

    leaks = [(n, line) for line in lines for n in NIK_RE.findall(line)]
    assert not leaks, f"{len(leaks)} full NIK(s) in the log, e.g. {leaks[:3]}"
    named = [line for line in lines if any(n.encode() in line for n in niks)]
    assert not named, f"a NIK of the data set in the log, e.g. {named[:3]}"
    assert secret.encode() not in log, "the secret is in the daemon's log"
    assert secret.encode() not in journal, "the secret is in the journal"
    # masked NIKs are how lines name workers
    assert any(re.search(rb"\b[0-9]{4}\*{8}[0-9]{4}\b", line) for line in lines)
    assert got >= firsts + finals, (got, firsts + finals)


if __name__ == "__main__":
    run_tests(globals())
