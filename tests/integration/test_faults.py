"""Delivery that survives faults (issue 4, in part): an endpoint that
fails, throttles, drops connections and loses answers, and a daemon killed
with SIGKILL again and again; the outcome must stay exact."""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, run_tests  # noqa: E402
from dataset import daemon_config, generate, model  # noqa: E402
from test_pipeline import (DLQ, EVENTS, RESULTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results, run_daemon)

FAULTS = ["--fail-5xx", "15", "--fail-429", "5", "--retry-after", "1", "--drop", "3",
          "--drop-after", "3", "--slow", "5", "--slow-ms", "300", "--seed", "11"]


def setup(env, ds, endpoint_args, batch_size=50):
    kafka = env.start_kafka(topics=TOPICS)
    endpoint = env.start_endpoint(args=endpoint_args)
    cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                                         env.path("journal.db"), timeout_ms=1000,
                                         batch_size=batch_size))
    kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
    assert len(kafka.consume(EVENTS, expect=len(ds.messages))) == len(ds.messages)
    return kafka, endpoint, cfg


def test_endpoint_faults_exact_outcome():
    ds = generate(seed=3, scale=4)
    expect, endpoint_expect = model(ds)
    with Env() as env:
        kafka, endpoint, cfg = setup(env, ds, FAULTS, batch_size=8)
        run_daemon(env, cfg)
        total = expected_count(ds, expect)
        try:
            results(kafka, expect=total, timeout=240)
        except WaitTimeout:
            pass  # check_outcome names what is missing
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        # the faults really happened, and lost answers were replayed by key
        assert stats["requests"].get("503", 0) > 0, stats
        assert stats["requests"].get("429", 0) > 0, stats
        assert stats["dropped"] > 0 and stats["dropped_after"] > 0, stats
        assert stats["idempotent_replays"] > 0, stats
        assert env.log_contains("daemon", r"next attempt in")


def sigkill_rounds(env, kafka, cfg, chunks, rng, join_timeout, pause):
    """A daemon per chunk: the chunk produced, the daemon started, and once it
    has its partitions, SIGKILLed after a random pause (seconds, a range).
    Returns, per daemon, how many events it logged as decided and how many
    answers it recorded (the kills must interrupt real work)."""
    work = []
    for round, chunk in enumerate(chunks):
        kafka.produce(EVENTS, [(k, v, None) for k, v in chunk])
        name = f"daemon{round}"
        daemon = run_daemon(env, cfg, name)
        t0 = time.monotonic()
        env.wait_for_log(name, "assigned", timeout=join_timeout)
        print(f"{name}: partitions after {time.monotonic() - t0:.1f} s", flush=True)
        time.sleep(rng.uniform(*pause))
        assert daemon.running, env.log(name)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        work.append((env.log_count(name, r"consume: \["),
                     env.log_count(name, "results recorded")))
    return work


def test_sigkill_ten_times_exact_outcome():
    """Each of ten daemons is killed with SIGKILL at a random moment after it
    has its partitions, while events are still arriving and batches are in
    flight; an eleventh finishes. The outcome must be exact."""
    ds = generate(seed=5, scale=4)
    expect, endpoint_expect = model(ds)
    rng = random.Random(17)
    n = len(ds.messages)
    # contiguous, as a portal produces them: one worker's events stay in order
    chunks = [ds.messages[i * n // 10:(i + 1) * n // 10] for i in range(10)]
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--fail-5xx", "5", "--slow", "50",
                                            "--slow-ms", "300", "--seed", "5"])
        cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                             endpoint.secret_file, env.path("journal.db"),
                                             timeout_ms=2000, batch_size=8))
        work = sigkill_rounds(env, kafka, cfg, chunks, rng, join_timeout=60,
                              pause=(0.2, 1.5))
        produced = kafka.consume(EVENTS, expect=len(ds.messages))
        assert len(produced) == len(ds.messages), "the mock cluster dropped messages"
        # the kills interrupted real work: consuming and pushing
        assert sum(c for c, _ in work) > 0 and sum(b for _, b in work) > 0, work
        assert sum(1 for c, b in work if c or b) >= 8, work

        run_daemon(env, cfg, "last")
        total = expected_count(ds, expect)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            got = results(kafka)
            firsts = {(r["event_id"], r["status"]) if r["event_id"]
                      else json.dumps(r["source"]) for r in got}
            if len(firsts) >= total:
                break
            time.sleep(2)
        time.sleep(1)
        got = results(kafka)
        dlq = kafka.consume(DLQ)
        check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq, crashes=True)


if __name__ == "__main__":
    run_tests(globals())
