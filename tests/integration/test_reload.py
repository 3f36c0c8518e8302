"""SIGHUP reload (issue 6): a programme's quota raised in a running daemon
takes effect with no event lost; a change that needs a restart, and a file
that does not parse, are refused and the old configuration kept."""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, run_tests  # noqa: E402
from dataset import QUOTA_PROGRAM, Worker, daemon_config, event, generate, model  # noqa: E402
from test_pipeline import (EVENTS, TOPICS, check_outcome, expected_count,  # noqa: E402
                           results, run_daemon)


def test_sighup_raises_a_quota_without_losing_events():
    ds = generate(seed=21)
    expect, endpoint_expect = model(ds)
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                            env.path("journal.db"))
        path = env.write_config(cfg)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        daemon = run_daemon(env, path)
        total = expected_count(ds, expect)
        results(kafka, expect=total, timeout=120)
        got = results(kafka)
        check_outcome(ds, expect, endpoint_expect, got, endpoint, kafka.consume("enrollment.events.dlq"))

        # a file that does not parse, and a change that needs a restart: refused
        env.write_config("kafka: [\n")
        daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("daemon", "reload refused.*syntax error", timeout=30)
        moved = json.loads(json.dumps(cfg))
        moved["kafka"]["brokers"] = "127.0.0.1:1"
        env.write_config(moved)
        daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("daemon", "reload refused.*kafka.brokers: cannot change", timeout=30)

        # the pilot is full; raise its quota by 10 and reload
        raised = json.loads(json.dumps(cfg))
        for p in raised["programs"]:
            if p["id"] == QUOTA_PROGRAM["id"]:
                p["quota"] += 10
        env.write_config(raised)
        daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("daemon", "configuration reloaded", timeout=30)

        rng = random.Random(99)
        extra = [event(f"pilot-portal:late:{i:04d}", "enrollment.submitted",
                       QUOTA_PROGRAM["id"], Worker(rng, "6471", 8000 + i)) for i in range(12)]
        kafka.produce(EVENTS, [(e["worker"]["nik"], json.dumps(e), None) for e in extra])
        # 12 firsts; 10 confirmed get a final, 2 are refused: 22 more results
        results(kafka, expect=total + 22, timeout=60)
        time.sleep(1)
        late = [r for r in results(kafka)
                if (r["event_id"] or "").startswith("pilot-portal:late:")]
        status = sorted(r["status"] for r in late)
        assert status.count("confirmed") == 10 and status.count("registered") == 10, status
        assert [r["reason"] for r in late if r["status"] == "rejected"] == ["quota_exceeded"] * 2
        assert endpoint.stats()["registered_twice"] == 0
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0


if __name__ == "__main__":
    run_tests(globals())
