"""Several instances (issue 16): daemons in one consumer group on one
PostgreSQL journal, on the mock cluster. Two, then three, consume while
events arrive; instances are killed with SIGKILL at random moments and
restarted, and the database is stopped once and started again. The
outcome must be exact, as one daemon's: every event its first result and
every confirmed one its final result (at least once), each confirmed
worker registered once at the endpoint, no 409, no registration_id under
two keys, the quota programme exactly at its quota."""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import generate, model  # noqa: E402
from test_pg_journal import pg_config  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results)
from test_real_kafka import wait_results  # noqa: E402

NAMES = ("d1", "d2", "d3")


def start(env, cfg, name):
    return env.spawn(name, [bin_path("bpjs-syncd"), "--config", cfg])


def test_several_instances_killed_and_restarted_keep_the_outcome_exact():
    ds = generate(seed=23, scale=3)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    rng = random.Random(23)
    n = len(ds.messages)
    # contiguous, as portals produce them: one worker's events in order
    chunks = [ds.messages[i * n // 8:(i + 1) * n // 8] for i in range(8)]
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--slow", "30", "--slow-ms", "300",
                                            "--seed", "23"])
        cfg = pg_config(env, kafka, endpoint, pg, "scale")
        running = {name: start(env, cfg, name) for name in NAMES[:2]}
        env.wait_for(lambda: env.log_contains("d1", r"assigned [1-9]")
                     or env.log_contains("d2", r"assigned [1-9]"), 60,
                     "a first assignment")
        kills = 0
        for i, chunk in enumerate(chunks):
            kafka.produce(EVENTS, [(k, v, None) for k, v in chunk])
            time.sleep(rng.uniform(0.3, 1.5))
            if i == 2:
                running["d3"] = start(env, cfg, "d3")
            if i in (1, 4, 6):
                victim = rng.choice(sorted(running))
                running[victim].stop(sig=signal.SIGKILL)
                kills += 1
                time.sleep(rng.uniform(0.0, 1.0))
                running[victim] = start(env, cfg, victim)
            if i == 5:
                pg.stop()
                time.sleep(rng.uniform(2.0, 4.0))
                pg.start()
        assert kills == 3
        got = wait_results(kafka, total, timeout=150, crashes=True)
        dlq = kafka.consume(DLQ)
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq,
                              crashes=True)
        print(f"results {len(got)} for {total} expected; endpoint {stats}",
              flush=True)
        for name in NAMES:
            log = env.log(name)
            assert pg.password not in log, f"{name}: the journal's password"
            assert not env.log_contains(name, r"\b\d{16}\b"), f"{name}: a full NIK"
        # the journal agrees: every op answered, nothing left to send
        left = pg.psql("SELECT (SELECT count(*) FROM ops WHERE status IS NULL)"
                       " || ' ' || (SELECT count(*) FROM batches WHERE state IN"
                       " (1, 2))", dbname="scale").split()
        assert left == ["0", "0"], left
        json.dumps(stats)


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
