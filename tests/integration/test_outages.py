"""Outages (issue 4): a stricter endpoint (413), an endpoint down for longer
than many backoff rounds, a refused signature (401), Kafka brokers going
down and requests failing; each run must still end exactly right."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, run_tests  # noqa: E402
from dataset import daemon_config, generate, model  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome, expected_count,  # noqa: E402
                           results, run_daemon)


def prepare(env, endpoint_args=(), produce=True, **bpjs):
    journal = bpjs.pop("journal", {})
    ds = generate(seed=9)
    kafka = env.start_kafka(topics=TOPICS)
    endpoint = env.start_endpoint(args=list(endpoint_args))
    cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                        env.path("journal.db"), timeout_ms=1000, **bpjs)
    cfg["journal"].update(journal)
    path = env.write_config(cfg)
    if produce:
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        assert len(kafka.consume(EVENTS, expect=len(ds.messages))) == len(ds.messages)
    return ds, kafka, endpoint, path


def finish(env, ds, kafka, endpoint, timeout=120):
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    try:
        results(kafka, expect=total, timeout=timeout)
        time.sleep(1)
    except WaitTimeout:
        pass  # check_outcome names what is missing
    got = results(kafka)
    stats = check_outcome(ds, expect, endpoint_expect, got, endpoint,
                          kafka.consume(DLQ, expect=len(ds.invalid)))
    assert len(got) == total, (len(got), total)
    return stats


def test_413_splits_into_new_batches():
    with Env() as env:
        ds, kafka, endpoint, cfg = prepare(env, ["--max-items", "7"], batch_size=30)
        run_daemon(env, cfg)
        stats = finish(env, ds, kafka, endpoint)
        assert stats["requests"].get("413", 0) > 0, stats
        assert env.log_contains("daemon", r"HTTP 413\): split into batches")


def test_endpoint_down_then_back():
    with Env() as env:
        ds, kafka, endpoint, cfg = prepare(env, ["--down"], produce=False,
                                           journal={"max_pending": 60})
        half = len(ds.messages) // 2
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[:half]])
        run_daemon(env, cfg)
        env.wait_for_log("daemon", "circuit open", timeout=60)
        env.wait_for_log("daemon", "consuming pauses", timeout=60)
        # while paused, what arrives is not consumed
        before = env.log_count("daemon", r"consume: \[")
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[half:]])
        assert len(kafka.consume(EVENTS, expect=len(ds.messages))) == len(ds.messages)
        # down for longer than many backoff rounds (retry.max_ms is 1 s)
        time.sleep(6)
        assert env.log_count("daemon", r"consume: \[") == before
        assert endpoint.stats()["batches_processed"] == 0
        endpoint.faults(down=False)
        env.wait_for_log("daemon", "circuit closed", timeout=60)
        finish(env, ds, kafka, endpoint)
        assert env.log_contains("daemon", "consuming resumes")


def test_refused_signature_alerts_then_recovers():
    with Env() as env:
        ds, kafka, endpoint, cfg = prepare(env, ["--auth-fail"])
        run_daemon(env, cfg)
        env.wait_for_log("daemon", "ALERT: the endpoint refuses our signature", timeout=60)
        time.sleep(3)
        # stopped, not hammering: a handful of requests, one alert
        assert endpoint.stats()["requests"].get("401", 0) <= 8, endpoint.stats()
        assert env.log_count("daemon", "ALERT") == 1
        endpoint.faults(auth_fail=False)
        finish(env, ds, kafka, endpoint, timeout=120)


def test_max_attempts_gives_up_with_failed_results():
    with Env() as env:
        ds, kafka, endpoint, cfg = prepare(env, ["--fail-5xx", "100"],
                                           retry={"initial_ms": 10, "max_ms": 100,
                                                  "max_attempts": 3})
        run_daemon(env, cfg)
        expect, _ = model(ds)
        pushed = {eid for eid, (_, _, final) in expect.items() if final}
        # A registration that gives up releases its worker, so a later
        # submission for that worker may be confirmed where the model (which
        # assumes success) says duplicate: compare with what was confirmed.
        # A withdrawal whose registration then gave up needs no request:
        # "deactivated", reason not_registered, no batch.
        def confirmed_and_final():
            rows = results(kafka)
            return ({r["event_id"] for r in rows if r["status"] == "confirmed"},
                    [r for r in rows if r["status"] in ("failed", "deactivated")], rows)
        env.wait_for(lambda: len(confirmed_and_final()[1]) >= len(pushed), timeout=180,
                     what="final results")
        time.sleep(2)
        confirmed, final, rows = confirmed_and_final()
        assert sorted(r["event_id"] for r in final) == sorted(confirmed), \
            "every confirmed event has exactly one final result"
        assert confirmed >= pushed
        failed = [r for r in final if r["status"] == "failed"]
        settled = [r for r in final if r["status"] == "deactivated"]
        assert failed and settled, (len(failed), len(settled))
        assert all(r["reason"].startswith("gave up after 3 attempts") for r in failed), failed[0]
        assert all(r["reason"] == "not_registered" and r["batch_id"] is None
                   for r in settled), settled[0]
        assert not [r for r in rows if r["status"] in ("registered", "already_registered")]
        stats = endpoint.stats()
        assert stats["batches_processed"] == 0 and stats["registered"] == 0, stats


def test_kafka_faults():
    with Env() as env:
        ds, kafka, endpoint, cfg = prepare(env, produce=False)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        assert len(kafka.consume(EVENTS, expect=len(ds.messages))) == len(ds.messages)
        run_daemon(env, cfg)
        env.wait_for_log("daemon", "assigned", timeout=60)
        # requests fail: Fetch (1), OffsetCommit (8), Produce (0)
        kafka.push_errors(1, 5, "NOT_LEADER_FOR_PARTITION")
        kafka.push_errors(8, 5, "COORDINATOR_NOT_AVAILABLE")
        kafka.push_errors(0, 5, "NOT_ENOUGH_REPLICAS")
        time.sleep(1)
        kafka.broker_down(1)
        time.sleep(4)
        kafka.broker_up(1)
        finish(env, ds, kafka, endpoint)


if __name__ == "__main__":
    run_tests(globals())
