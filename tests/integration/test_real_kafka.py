"""The daemon against a real Apache Kafka broker (issue 15): a single-node
KRaft broker started by the harness (Env.start_real_kafka(), jars fetched by
Maven and cached; docs/testing.md, "A real Kafka broker"). The same dataset
and exact outcome as test_pipeline.py and test_faults.py assert on the mock,
plus what only a real broker shows: the offsets the group committed, and a
broker that goes away and comes back mid-run.

If the broker cannot be had (no java, no Maven, Maven Central unreachable),
every test here fails and says why; none is skipped."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Env, WaitTimeout, run_tests  # noqa: E402
from dataset import BPP, Worker, daemon_config, event, generate, model  # noqa: E402
from test_pipeline import (DLQ, EVENTS, RESULTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results, run_daemon)
from test_faults import sigkill_rounds  # noqa: E402
from test_two_journals import second_journal_decides_nothing  # noqa: E402

GROUP = "bpjs-sync-test"  # dataset.daemon_config's group_id


def start(env, endpoint_args=(), **bpjs):
    kafka = env.start_real_kafka(topics=TOPICS)
    print(f"broker {kafka.version} on {kafka.bootstrap}: RUNNING and answering "
          f"after {kafka.start_seconds:.1f} s", flush=True)
    endpoint = env.start_endpoint(args=list(endpoint_args))
    cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                                         env.path("journal.db"), **bpjs))
    return kafka, endpoint, cfg


def produce_all(kafka, messages):
    kafka.produce(EVENTS, [(k, v, None) for k, v in messages])


def wait_results(kafka, total, timeout, crashes=False):
    """Waits until every expected result is there (after crashes: every
    distinct one), then a moment more for any that should not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = results(kafka)
        n = len({(r["event_id"], r["status"]) if r["event_id"] else json.dumps(r["source"])
                 for r in got}) if crashes else len(got)
        if n >= total:
            break
        time.sleep(1)
    time.sleep(1.5)
    return results(kafka)


def assert_committed_to_end(kafka, what):
    """Every partition of the events topic committed by the group, at its
    log end: nothing will be consumed again, nothing was skipped."""
    def settled():
        c = kafka.committed(GROUP)
        ev = {p: v for (t, p), v in c.items() if t == EVENTS}
        return len(ev) == TOPICS[EVENTS] and all(cur == end for cur, end in ev.values())
    try:
        kafka.env.wait_for(settled, 30, f"{what}: the group's offsets at the log end",
                           interval=1.0)
    except WaitTimeout:
        raise AssertionError(f"{what}: committed offsets (committed, log end): "
                             f"{kafka.committed(GROUP)}") from None


def test_pipeline_exact_outcome():
    """The pipeline test's dataset and outcome on a real broker: results and
    dead letters on their topics, the endpoint's participants exact; the
    group's offsets committed to the log end; a restart after the work is
    done consumes nothing again; and the restart time to consuming again."""
    ds = generate()
    expect, endpoint_expect = model(ds)
    with Env() as env:
        kafka, endpoint, cfg = start(env)
        produce_all(kafka, ds.messages)
        produced = kafka.consume(EVENTS, expect=len(ds.messages))
        assert len(produced) == len(ds.messages), (len(produced), len(ds.messages))

        t0 = time.monotonic()
        daemon = run_daemon(env, cfg)
        env.wait_for_log("daemon", "assigned", timeout=60)
        print(f"first start: partitions assigned after {time.monotonic() - t0:.1f} s",
              flush=True)
        total = expected_count(ds, expect)
        got = wait_results(kafka, total, timeout=180)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
        assert_committed_to_end(kafka, "after the run")

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, env.log("daemon")

        # The restart, with one new event waiting: the time to consuming
        # again (partitions assigned, then that event's first result). The
        # events already done are not consumed again (the offsets committed
        # on the broker hold): only the new one is answered, once confirmed
        # and once registered, and no batch is pushed but its own.
        w = Worker(random.Random(1), "6471", 9000)
        new = event("bpp-portal:2025-01-07:000001", "enrollment.submitted", BPP, w)
        kafka.produce(EVENTS, [(b"portal-key-new", json.dumps(new), None)])
        t0 = time.monotonic()
        run_daemon(env, cfg, "daemon2")
        env.wait_for_log("daemon2", "assigned", timeout=60)
        assigned = time.monotonic() - t0
        env.wait_for_log("daemon2", r"consume: \[.*" + new["event_id"] + ".*: confirmed",
                         timeout=60)
        first = time.monotonic() - t0
        print(f"restart on the real broker: partitions assigned after {assigned:.1f} s, "
              f"the new event decided after {first:.1f} s", flush=True)
        rows = wait_results(kafka, total + 2, timeout=60)
        mine = sorted(r["status"] for r in rows if r["event_id"] == new["event_id"])
        assert mine == ["confirmed", "registered"], mine
        assert len(rows) == total + 2, \
            f"{len(rows) - total} results after the restart, want the new event's 2"
        after = endpoint.stats()
        assert after["batches_processed"] == stats["batches_processed"] + 1, (after, stats)
        assert after["registered"] == stats["registered"] + 1, (after, stats)
        assert after["registered_twice"] == 0, after
        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        assert active.get(w.nik) == BPP, "the new worker is not registered"
        assert_committed_to_end(kafka, "after the restart")


def test_sigkill_mid_run_exact_outcome():
    """Five daemons, each killed with SIGKILL at a random moment after it has
    its partitions, while events are still arriving and batches are in
    flight; a sixth finishes. On a real broker the killed member stays in
    the group until its session times out, so each start also waits for
    that rebalance. The outcome must be exact, and the offsets committed to
    the log end."""
    ds = generate(seed=5, scale=2)
    expect, endpoint_expect = model(ds)
    rng = random.Random(17)
    rounds = 5
    n = len(ds.messages)
    # contiguous, as a portal produces them: one worker's events stay in order
    chunks = [ds.messages[i * n // rounds:(i + 1) * n // rounds] for i in range(rounds)]
    with Env() as env:
        kafka, endpoint, cfg = start(env, ["--fail-5xx", "5", "--slow", "50",
                                           "--slow-ms", "300", "--seed", "5"],
                                     timeout_ms=2000, batch_size=8)
        work = sigkill_rounds(env, kafka, cfg, chunks, rng, join_timeout=90,
                              pause=(0.5, 2.0))
        produced = kafka.consume(EVENTS, expect=n)
        assert len(produced) == n, (len(produced), n)
        # the kills interrupted real work: consuming and pushing
        assert sum(c for c, _ in work) > 0 and sum(b for _, b in work) > 0, work
        assert sum(1 for c, b in work if c or b) >= rounds - 1, work

        t0 = time.monotonic()
        run_daemon(env, cfg, "last")
        env.wait_for_log("last", "assigned", timeout=90)
        print(f"last: partitions after {time.monotonic() - t0:.1f} s", flush=True)
        total = expected_count(ds, expect)
        got = wait_results(kafka, total, timeout=240, crashes=True)
        dlq = kafka.consume(DLQ)
        check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq, crashes=True)
        assert_committed_to_end(kafka, "after the last daemon")


def test_a_second_journal_in_the_group_decides_nothing():
    """Two daemons, each with a journal of its own, in one group, and a
    rebalance while events flow (test_two_journals.py has the whole check):
    the second refuses every partition last committed under the first
    journal and decides nothing; once it stops, the first takes them back
    and the outcome is exact."""
    with Env() as env:
        second_journal_decides_nothing(env, env.start_real_kafka(topics=TOPICS))


def test_broker_restart_mid_run_exact_outcome():
    """The broker goes away mid-run, twice: a controlled shutdown (SIGTERM)
    and a crash (SIGKILL), each while events are being decided and batches
    pushed, and comes back on the same port with its data. The daemon rides
    through both without a restart of its own; the outcome is exact (every
    result once, no event lost, the endpoint's participants exact) and the
    offsets committed to the log end."""
    ds = generate(seed=11, scale=2)
    expect, endpoint_expect = model(ds)
    n = len(ds.messages)
    thirds = [ds.messages[:n // 3], ds.messages[n // 3:2 * n // 3], ds.messages[2 * n // 3:]]
    with Env() as env:
        kafka, endpoint, cfg = start(env, ["--slow", "30", "--slow-ms", "300", "--seed", "3"],
                                     batch_size=8)
        produce_all(kafka, thirds[0])
        daemon = run_daemon(env, cfg)
        env.wait_for_log("daemon", "assigned", timeout=90)
        for i, (how, sig) in enumerate((("SIGTERM", signal.SIGTERM),
                                        ("SIGKILL", signal.SIGKILL))):
            env.wait_for_log("daemon", "results recorded", timeout=90, times=i * 3 + 1)
            down = time.monotonic()
            if sig == signal.SIGKILL:
                kafka.kill()
            else:
                assert kafka.stop(30.0) in (0, 143), kafka.process.log_tail()
            decided = env.log_count("daemon", r"consume: \[")
            time.sleep(2.0)  # the daemon finds the broker gone
            kafka.start()
            print(f"broker {how} and back after {time.monotonic() - down:.1f} s "
                  f"(start {kafka.start_seconds:.1f} s)", flush=True)
            assert daemon.running, env.log("daemon")
            produce_all(kafka, thirds[i + 1])
            assert decided > 0, "the broker went away before any event was decided"
        total = expected_count(ds, expect)
        got = wait_results(kafka, total, timeout=240)
        produced = kafka.consume(EVENTS, expect=n)
        assert len(produced) == n, (len(produced), n)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        assert len(dlq) == len(ds.invalid), (len(dlq), len(ds.invalid))
        assert daemon.running, env.log("daemon")
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
        assert_committed_to_end(kafka, "after both restarts")
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0, env.log("daemon")




def test_port_taken_meanwhile_other_ports():
    """A port picked free and taken by someone else before the broker binds
    it (tests run in parallel): the broker says RUNNING, then fails to bind;
    the harness sees it at once and starts it on other ports, rather than
    waiting out its whole start timeout on a port nobody answers on."""
    taker = socket.socket()
    taker.bind(("127.0.0.1", 0))
    taker.listen()
    taken = taker.getsockname()[1]
    picks = []
    real_free_ports = harness._free_ports

    def first_taken(n):
        picks.append(n)
        return [taken] + real_free_ports(n - 1) if len(picks) == 1 else real_free_ports(n)

    harness._free_ports = first_taken
    try:
        with Env() as env:
            t0 = time.monotonic()
            kafka = env.start_real_kafka(topics={"t": 2})
            took = time.monotonic() - t0
            assert len(picks) == 2, picks
            assert kafka.bootstrap != f"127.0.0.1:{taken}", kafka.bootstrap
            assert kafka.partition_count("t") == 2
            assert env.log_count("kafka", "Address already in use") > 0
            # well under start_real_kafka's 180 s start timeout
            assert took < 90, f"started after {took:.0f} s"
            kafka.produce("t", [(b"k", b"v", None)])
            assert [r["value"] for r in kafka.consume("t", expect=1)] == [b"v"]
    finally:
        harness._free_ports = real_free_ports
        taker.close()

_NEEDS_BROKER = """
import sys
sys.path.insert(0, %r)
import harness
if len(sys.argv) > 1:
    harness.KAFKA_POM = sys.argv.pop(1)
from harness import Env, run_tests

def test_needs_broker():
    with Env() as env:
        env.start_real_kafka()

run_tests(globals())
"""


def run_needing_broker(env, tools=None, pom=None):
    """Runs a test that needs the real broker in a child with an empty cache
    and, given `tools`, only those on its PATH; returns (exit status,
    output)."""
    path = os.environ.get("PATH", "")
    if tools is not None:
        path = env.path("bin")
        os.makedirs(path, exist_ok=True)
        for t in tools:
            os.symlink(shutil.which(t), os.path.join(path, t))
    script = env.write_file("needs_broker.py",
                            _NEEDS_BROKER % os.path.dirname(os.path.abspath(__file__)))
    r = subprocess.run([sys.executable, script] + ([pom] if pom else []),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300,
                       env=dict(os.environ, PATH=path, XDG_CACHE_HOME=env.path("cache")))
    return r.returncode, r.stdout.decode("utf-8", "replace")


def test_no_java_fails_and_says_why():
    """Without java the tier fails, naming the package to install: it is
    never skipped."""
    with Env() as env:
        rc, out = run_needing_broker(env, ["kcat"])
        assert rc == 1, out
        assert "FAIL test_needs_broker" in out and "SKIP" not in out, out
        assert "BrokerUnavailable: the real Kafka broker needs java" in out, out
        assert "openjdk-17-jre-headless" in out, out
        assert "0 passed, 1 failed" in out, out


def test_maven_failure_fails_and_says_why():
    """A Kafka version Maven cannot resolve: the tier fails with Maven's own
    words, and leaves no partial copy in the cache for the next run."""
    with Env() as env:
        with open(harness.KAFKA_POM) as f:
            pom = re.sub(r"<kafka\.version>[^<]*<", "<kafka.version>3.9.999-none<", f.read())
        path = env.write_file("pom.xml", pom)
        rc, out = run_needing_broker(env, pom=path)
        assert rc == 1, out
        assert "FAIL test_needs_broker" in out and "SKIP" not in out, out
        assert "BrokerUnavailable: Maven could not fetch Kafka 3.9.999-none" in out, out
        # Maven's own error (a 404 for the artifact; without Maven Central,
        # the reason it could not reach it)
        assert "[ERROR]" in out, out
        cache = env.path("cache", "bpjs-sync", "kafka-3.9.999-none")
        assert sorted(os.listdir(cache)) == [".lock", "fetch.log"], os.listdir(cache)


if __name__ == "__main__":
    run_tests(globals())
