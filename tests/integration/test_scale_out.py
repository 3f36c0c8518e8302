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
import re
import signal
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import BPP, Worker, event, generate, model  # noqa: E402
from test_pg_journal import pg_config  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results)
from test_pipeline import unique  # noqa: E402
from test_real_kafka import wait_results  # noqa: E402

NAMES = ("d1", "d2", "d3")
# the leases of a dead instance's batches and publishing (journal.lease_ms,
# 30 s by default): shorter, so that a takeover is not waited out for long
LEASE_MS = 5000


def start(env, cfg, name):
    return env.spawn(name, [bin_path("bpjs-syncd"), "--config", cfg])


def nothing_left(pg, dbname):
    """The journal agrees: every op answered, nothing left to send."""
    left = pg.psql("SELECT (SELECT count(*) FROM ops WHERE status IS NULL)"
                   " || ' ' || (SELECT count(*) FROM batches WHERE state IN"
                   " (1, 2))", dbname=dbname).split()
    assert left == ["0", "0"], left


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
        cfg = pg_config(env, kafka, endpoint, pg, "scale", lease_ms=LEASE_MS)
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
        nothing_left(pg, "scale")
        json.dumps(stats)


def publisher(pg, dbname):
    """The instance holding the publisher's lease: (pid, lease_until)."""
    row = pg.psql("SELECT coalesce(holder, '') || ' ' || coalesce(lease_until, 0)"
                  " FROM publisher", dbname=dbname).split()
    holder = row[0] if len(row) == 2 else ""
    return (int(holder.split(":")[1]) if holder else None), int(row[-1])


def test_one_instance_publishes_and_another_takes_over_when_it_dies():
    """Three instances share one outbox: one of them, the holder of the
    publisher's lease, publishes it, so with no instance killed every
    result goes out exactly once, each event's first result before its
    final one. Then the holder is killed with SIGKILL: once its lease ends
    another instance takes it over, and the events consumed after the kill
    get every result."""
    ds = generate(seed=29, scale=2)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    rng = random.Random(29)
    late = [event(f"bpp-portal:2025-01-07:{i:06d}", "enrollment.submitted", BPP,
                  Worker(rng, "6471", 9000 + i)) for i in range(1, 31)]
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = pg_config(env, kafka, endpoint, pg, "publisher", lease_ms=LEASE_MS)
        running = {name: start(env, cfg, name) for name in NAMES}
        # the group settled before anything is produced: no partition
        # moves while the events are decided
        env.wait_for(lambda: all(env.log_contains(name, r"assigned [1-9]")
                                 for name in NAMES), 90, "all three assigned")
        time.sleep(2.0)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        got = wait_results(kafka, total, timeout=150)
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint,
                              kafka.consume(DLQ))
        assert len(got) == total, (len(got), total)
        pid, _ = publisher(pg, "publisher")
        holder = [name for name, proc in running.items() if proc.pid == pid]
        assert holder, (pid, {name: proc.pid for name, proc in running.items()})

        running[holder[0]].stop(sig=signal.SIGKILL)
        killed = time.time()
        kafka.produce(EVENTS, [(e["worker"]["nik"].encode(),
                                json.dumps(e, separators=(",", ":")).encode(), None)
                               for e in late])
        want = {(e["event_id"], s) for e in late for s in ("confirmed", "registered")}

        def late_results():
            rs = [r for r in results(kafka) if (r["event_id"] or "").startswith(
                  "bpp-portal:2025-01-07")]
            return {(r["event_id"], r["status"]) for r in rs}
        env.wait_for(lambda: late_results() >= want, 120,
                     "every result of the events consumed after the holder died",
                     interval=1.0)
        took = time.time() - killed
        pid2, lease_until = publisher(pg, "publisher")
        assert pid2 and pid2 != pid, (pid, pid2)
        assert lease_until > killed * 1000, lease_until
        # the dead holder's lease was waited out, journal.lease_ms's and no more
        assert LEASE_MS / 1000 - 1 < took < 30, took
        assert late_results() == want, late_results() - want
        # the results of before: none lost by the takeover (some may come
        # again: the dead holder's undeleted ones)
        before = unique(results(kafka), lambda r: (r["event_id"], r["status"])
                        if r["event_id"] else json.dumps(r["source"]))
        assert len(before) == total + len(want), (len(before), total + len(want))
        print(f"{total} results once each, endpoint {stats}; after the holder "
              f"died the late results came in {took:.1f} s", flush=True)


class WorkerLocks:
    """Holds the journal's lock of each of some workers (the advisory lock
    consume takes at begin, journal_pg.c's Q_LOCK_WORKERS) in a psql session
    of its own, until release()."""

    def __init__(self, pg, dbname, niks):
        cmd, env = pg.psql_command(dbname)
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env=env, text=True)
        arr = ",".join(f"'{n}'" for n in niks)
        self.p.stdin.write(f"SELECT count(pg_advisory_lock(hashtextextended(n, 0)))"
                           f" FROM unnest(ARRAY[{arr}]) n;\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == str(len(niks))

    def release(self):
        if self.p.poll() is None:
            self.p.communicate("SELECT pg_advisory_unlock_all();\n\\q\n", timeout=30)


def owners(pg, dbname):
    """Each partition of the events topic: the pid of the instance that
    claimed it last."""
    rows = pg.psql(f"SELECT partition || ' ' || owner FROM owners"
                   f" WHERE topic = '{EVENTS}'", dbname=dbname).split("\n")
    return {int(r.split()[0]): int(r.split()[1].split(":")[1]) for r in rows if r}


def test_a_stalled_instance_commits_nothing_for_partitions_taken_from_it():
    """An instance stuck in its journal (its workers' locks held elsewhere)
    with fetched messages in hand, past the group's poll interval: the
    group gives its partitions to the other, which claims them. When the
    stuck one goes on, the journal refuses its commit for partitions that
    are no longer its own (the log says so) and drops those messages; the
    outcome is exact, as one daemon's."""
    ds = generate(seed=31, scale=3)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    parts = TOPICS[EVENTS]
    placed = [(k, v, zlib.crc32(k) % parts if k else 0) for k, v in ds.messages]
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = pg_config(env, kafka, endpoint, pg, "stall", lease_ms=LEASE_MS)
        running = {name: start(env, cfg, name) for name in NAMES[:2]}
        pids = {running[name].pid: name for name in running}
        env.wait_for(lambda: len(owners(pg, "stall")) == parts
                     and set(owners(pg, "stall").values()) == set(pids), 90,
                     "both instances holding partitions", interval=0.5)
        mine = {p for p, pid in owners(pg, "stall").items() if pids[pid] == "d1"}
        niks = sorted({k.decode() for k, _, p in placed
                       if p in mine and k and re.fullmatch(rb"\d{16}", k)})
        locks = WorkerLocks(pg, "stall", niks)
        try:
            kafka.produce(EVENTS, placed)
            # d1's begin waits for the locks; past max.poll.interval.ms (7 s,
            # dataset.daemon_config) the group takes its partitions away
            d2 = running["d2"].pid
            env.wait_for(lambda: set(owners(pg, "stall").values()) == {d2}, 60,
                         "d2 claiming every partition", interval=0.5)
        finally:
            locks.release()
        env.wait_for(lambda: env.log_contains("d1", r"no longer commits for it"), 30,
                     "d1's commit refused for partitions that are d2's")
        got = wait_results(kafka, total, timeout=150, crashes=True)
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint,
                              kafka.consume(DLQ), crashes=True)
        print(f"results {len(got)} for {total}; endpoint {stats}", flush=True)
        for name in NAMES[:2]:
            assert running[name].running, f"{name} died"
        nothing_left(pg, "stall")


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
