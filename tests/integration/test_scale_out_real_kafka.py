"""Several instances on the real Apache Kafka broker (issue 16): daemons in
one consumer group on one PostgreSQL journal, as test_scale_out.py runs
them on the mock cluster, against the single-node KRaft broker of
test_real_kafka.py (Env.start_real_kafka(), jars fetched by Maven; fails,
never skips, when the broker cannot be had). Two daemons, then a third,
consume while events arrive; one is killed with SIGKILL while it has
partitions and work, and started again (on a real broker the killed member
stays in the group until its session times out: the others wait for that
rebalance). The outcome must be exact, as one daemon's: every event its
first result and every confirmed one its final result (at least once),
each confirmed worker registered once, no 409, no registration_id under
two keys, the quota programme exactly at its quota; the journal has
nothing left to send, and the group's offsets are committed to the log
end."""

import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import generate, model  # noqa: E402
from test_pg_journal import pg_config  # noqa: E402
from test_pipeline import DLQ, EVENTS, TOPICS, check_outcome, expected_count  # noqa: E402
from test_real_kafka import assert_committed_to_end, wait_results  # noqa: E402

NAMES = ("d1", "d2", "d3")


def start(env, cfg, name):
    return env.spawn(name, [bin_path("bpjs-syncd"), "--config", cfg])


def test_several_instances_on_the_real_broker_sigkill_and_restart_exact():
    ds = generate(seed=29, scale=2)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    rng = random.Random(29)
    n = len(ds.messages)
    # contiguous, as portals produce them: one worker's events in order
    chunks = [ds.messages[i * n // 6:(i + 1) * n // 6] for i in range(6)]
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_real_kafka(topics=TOPICS)
        print(f"broker {kafka.version} on {kafka.bootstrap} after "
              f"{kafka.start_seconds:.1f} s", flush=True)
        endpoint = env.start_endpoint(args=["--slow", "30", "--slow-ms", "300",
                                            "--seed", "29"])
        cfg = pg_config(env, kafka, endpoint, pg, "real")
        running = {name: start(env, cfg, name) for name in NAMES[:2]}
        env.wait_for(lambda: env.log_contains("d1", r"assigned [1-9]")
                     or env.log_contains("d2", r"assigned [1-9]"), 90,
                     "a first assignment", interval=0.5)
        victim = None
        for i, chunk in enumerate(chunks):
            kafka.produce(EVENTS, [(k, v, None) for k, v in chunk])
            time.sleep(rng.uniform(0.5, 1.5))
            if i == 1:
                running["d3"] = start(env, cfg, "d3")
            if i == 3:
                # one that holds partitions and has decided something
                holders = [name for name in sorted(running)
                           if env.log_contains(name, r"assigned [1-9]")
                           and env.log_contains(name, r"consume: \[")]
                assert holders, "no instance had partitions and work"
                victim = rng.choice(holders)
                before = env.log_count(victim, r"assigned [1-9]")
                running[victim].stop(sig=signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 1.0))
                running[victim] = start(env, cfg, victim)
        assert victim is not None
        got = wait_results(kafka, total, timeout=180, crashes=True)
        dlq = kafka.consume(DLQ)
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq,
                              crashes=True)
        print(f"killed {victim}; results {len(got)} for {total} expected; "
              f"endpoint {stats}", flush=True)
        # more than one instance decided events, and the restarted one rejoined
        deciders = [name for name in NAMES if env.log_contains(name, r"consume: \[")]
        assert len(deciders) >= 2, deciders
        assert env.log_count(victim, r"assigned [1-9]") > before, \
            f"{victim}: no partitions after its restart"
        for name in NAMES:
            assert pg.password not in env.log(name), f"{name}: the journal's password"
            assert not env.log_contains(name, r"\b\d{16}\b"), f"{name}: a full NIK"
        left = pg.psql("SELECT (SELECT count(*) FROM ops WHERE status IS NULL)"
                       " || ' ' || (SELECT count(*) FROM batches WHERE state IN"
                       " (1, 2))", dbname="real").split()
        assert left == ["0", "0"], left
        assert_committed_to_end(kafka, "after the run")
        for name, proc in running.items():
            assert proc.running, f"{name} exited: {env.log(name)[-2000:]}"


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
