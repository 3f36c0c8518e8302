"""Several instances, two portals' topics (issue 16): two portals publish
to topics of their own (portal-a.events, portal-b.events, both in
kafka.topics, with different keys and partition counts), so one worker's
events arrive on both and are decided by two instances of one group on
one PostgreSQL journal. Two, then three, daemons consume while the topics
interleave; instances are killed with SIGKILL at random moments and
restarted.

The order between two topics is not fixed, so the outcome is not a fixed
model's: the test reads the journal's own decisions (each worker's ops in
seq order) and checks them against what the endpoint received, through a
recording proxy that keeps when each request came and when each answer
went back:

- each worker's operations reached the endpoint one at a time in the
  journal's order: an op is first sent only after an answer (200) to the
  worker's previous op went back (a deactivation never before its
  registration was answered);
- the endpoint's final state is the journal's last op of each worker;
- no worker registered twice, no 409, no 400, no registration_id under two
  keys; every event its first result, every confirmed one its final
  result, as the journal recorded them; the quota programme exactly at its
  quota, never over."""

import collections
import json
import os
import random
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, RecordingProxy, bin_path, run_tests  # noqa: E402
from dataset import BPP, KALTIM, QUOTA_PROGRAM, Worker, daemon_config, event  # noqa: E402

TOPIC_A, TOPIC_B = "portal-a.events", "portal-b.events"
RESULTS, DLQ = "enrollment.results", "enrollment.events.dlq"
# different partition counts and keys: a worker's two portals' events land
# on partitions that the group gives to different instances
TOPICS = {TOPIC_A: 4, TOPIC_B: 3, RESULTS: 4, DLQ: 1}
NAMES = ("d1", "d2", "d3")
SUB, WD = "enrollment.submitted", "enrollment.withdrawn"
STATUS = {1: "confirmed", 2: "duplicate", 3: "rejected", 4: "ignored",
          5: "registered", 6: "already_registered", 7: "failed", 8: "deactivated"}
REGISTER, DEACTIVATE = 1, 2


def items_sent(proxy):
    """Every item sent through the proxy: (kind, registration seq, nik,
    request row)."""
    out = []
    for row in proxy.rows():
        kind = REGISTER if row["path"] == "/v1/registrations" else DEACTIVATE
        body = json.loads(row["body"])
        for it in body["registrations" if kind == REGISTER else "deactivations"]:
            seq = int(it["registration_id"].rsplit("-", 1)[1])
            out.append((kind, seq, it["nik"], row))
    return out


def dataset(seed):
    """Workers whose events arrive on both portals' topics, as (topic, key,
    value) per topic in each portal's own order; and the quota programme's
    submissions, half on each. Returns (a, b, event ids, quota ids,
    workers with events on both topics)."""
    rng = random.Random(seed)
    a, b, ids, quota_ids, both = [], [], [], [], []
    n = [0]

    def add(lst, portal, etype, program, w):
        n[0] += 1
        e = event(f"{portal}:2025-02-01:{n[0]:06d}", etype, program, w)
        ids.append(e["event_id"])
        key = w.nik.encode() if lst is a else b"b-" + w.nik.encode()
        lst.append((key, json.dumps(e, separators=(",", ":")).encode()))
        return e["event_id"]

    for i in range(1, 181):
        w = Worker(rng, "6471", 300 + i)
        kind = i % 6
        if kind == 0:       # a submission on one, its withdrawal on the other
            add(a, "portal-a", SUB, BPP, w)
            add(b, "portal-b", WD, BPP, w)
        elif kind == 1:     # overlapping programmes: one covers, one is a duplicate
            add(a, "portal-a", SUB, BPP, w)
            add(b, "portal-b", SUB, KALTIM, w)
        elif kind == 2:     # withdrawn on one, re-enrolled by the province on the other
            add(a, "portal-a", SUB, BPP, w)
            add(a, "portal-a", WD, BPP, w)
            add(b, "portal-b", SUB, KALTIM, w)
        elif kind == 3:     # registered, withdrawn, registered again; and a withdrawal
            add(a, "portal-a", SUB, KALTIM, w)
            add(a, "portal-a", WD, KALTIM, w)
            add(a, "portal-a", SUB, KALTIM, w)
            add(b, "portal-b", WD, KALTIM, w)
        elif kind == 4:     # both portals submit and withdraw the same programme
            add(b, "portal-b", SUB, BPP, w)
            add(b, "portal-b", WD, BPP, w)
            add(a, "portal-a", SUB, BPP, w)
            add(a, "portal-a", WD, BPP, w)
        else:               # one portal only
            add(a if i % 12 == 5 else b, "portal-a" if i % 12 == 5 else "portal-b",
                SUB, BPP if i % 12 == 5 else KALTIM, w)
            continue
        both.append(w.nik)
    for i in range(1, QUOTA_PROGRAM["quota"] + 11):
        w = Worker(rng, "6471", 5000 + i)
        lst = a if i % 2 else b
        quota_ids.append(add(lst, "portal-a" if lst is a else "portal-b", SUB,
                             QUOTA_PROGRAM["id"], w))
    return a, b, ids, quota_ids, both


def start(env, cfg, name):
    return env.spawn(name, [bin_path("bpjs-syncd"), "--config", cfg])


def journal(pg, db):
    """The journal's ops (each worker's in seq order) and events."""
    ops = collections.defaultdict(list)
    for line in pg.psql("SELECT seq, kind, nik, program, event_id, coalesce(reg_seq, 0),"
                        " coalesce(status, 0), coalesce(kpj, '') FROM ops ORDER BY seq",
                        db).split("\n"):
        if line:
            seq, kind, nik, prog, eid, reg, status, kpj = line.split("|")
            ops[nik].append({"seq": int(seq), "kind": int(kind), "program": prog,
                             "event_id": eid, "reg_seq": int(reg), "status": int(status),
                             "kpj": kpj})
    events = {}
    for line in pg.psql("SELECT event_id, nik, status, coalesce(covered_by, ''), topic"
                        " FROM events", db).split("\n"):
        if line:
            eid, nik, status, covered, topic = line.split("|")
            events[eid] = {"nik": nik, "status": int(status), "covered_by": covered,
                           "topic": topic}
    return ops, events


def check_order(ops, items):
    """Each worker's ops reached the endpoint one at a time, in the
    journal's order: the first request carrying an op came after an answer
    to the worker's previous op went back. Returns how many ops followed
    another op of their worker (the pairs checked)."""
    sent = collections.defaultdict(list)       # (kind, reg seq) -> request rows
    for kind, seq, nik, row in items:
        sent[(kind, seq)].append(row)
    pairs = 0
    for nik, mine in ops.items():
        last_reg = 0
        prev = None
        for op in mine:
            if op["kind"] == REGISTER:
                last_reg = op["seq"]
                key = (REGISTER, op["seq"])
            else:
                key = (DEACTIVATE, op["reg_seq"] or last_reg)
            rows = sent.get(key, [])
            assert rows, f"op {op['seq']} ({op['event_id']}) never reached the endpoint"
            if prev is not None:
                prev_rows = sent[prev[0]]
                answered = [r["answered"] for r in prev_rows
                            if r["status"] == 200 and r["answered"] is not None]
                assert answered, f"op {prev[1]['seq']}: no answer went back"
                first = min(r["came"] for r in rows)
                assert first > min(answered), (
                    f"op {op['seq']} ({op['event_id']}, kind {op['kind']}) sent "
                    f"{min(answered) - first:.3f} s before the worker's previous op "
                    f"{prev[1]['seq']} ({prev[1]['event_id']}) was answered")
                pairs += 1
            prev = (key, op)
    return pairs


def results(kafka):
    return [json.loads(r["value"]) for r in kafka.consume(RESULTS)]


def test_two_portals_topics_several_instances_order_per_worker():
    a, b, ids, quota_ids, both = dataset(31)
    rng = random.Random(31)
    rounds = 8
    chunks = [(a[i * len(a) // rounds:(i + 1) * len(a) // rounds],
               b[i * len(b) // rounds:(i + 1) * len(b) // rounds]) for i in range(rounds)]
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--slow", "40", "--slow-ms", "300",
                                            "--seed", "31"])
        with RecordingProxy(endpoint.url) as proxy:
            cfg = daemon_config(kafka.bootstrap, proxy.url, endpoint.secret_file, None,
                                batch_size=10)
            cfg["kafka"]["topics"] = [TOPIC_A, TOPIC_B]
            cfg["journal"] = {"url": pg.create_database("topics"),
                              "password_file": pg.password_file}
            cfg = env.write_config(cfg, "topics.yaml")
            running = {name: start(env, cfg, name) for name in NAMES[:2]}
            env.wait_for(lambda: env.log_contains("d1", r"assigned [1-9]")
                         or env.log_contains("d2", r"assigned [1-9]"), 60,
                         "a first assignment")
            kills = 0
            for i, (ca, cb) in enumerate(chunks):
                # the two portals at once, in either order
                for topic, msgs in sorted(((TOPIC_A, ca), (TOPIC_B, cb)),
                                          key=lambda _: rng.random()):
                    kafka.produce(topic, [(k, v, None) for k, v in msgs])
                time.sleep(rng.uniform(0.3, 1.2))
                if i == 2:
                    running["d3"] = start(env, cfg, "d3")
                if i in (1, 4, 6):
                    victim = rng.choice(sorted(running))
                    running[victim].stop(sig=signal.SIGKILL)
                    kills += 1
                    time.sleep(rng.uniform(0.0, 1.0))
                    running[victim] = start(env, cfg, victim)
            assert kills == 3

            # settled: every event journaled, every op answered, no batch open
            def settled():
                left = pg.psql("SELECT (SELECT count(*) FROM events) || ' ' ||"
                               " (SELECT count(*) FROM ops WHERE status IS NULL) || ' ' ||"
                               " (SELECT count(*) FROM batches WHERE state IN (1, 2)) || ' '"
                               " || (SELECT count(*) FROM outbox)", "topics").split()
                return left == [str(len(ids)), "0", "0", "0"]
            env.wait_for(settled, 180, "every event decided and every op answered",
                         interval=1.0)
            time.sleep(2.0)  # results being published
            ops, events = journal(pg, "topics")
            items = items_sent(proxy)
            rows = proxy.rows()

        # the portals' events were decided by more than one instance each
        decided_by = collections.defaultdict(set)
        for name in NAMES:
            for eid in re.findall(r"consume: \[[^\]]+\] (\S+) ", env.log(name)):
                decided_by[eid].add(name)
        split = sum(1 for nik in both
                    if len({n for eid, e in events.items() if e["nik"] == nik
                            for n in decided_by[eid]}) > 1)
        print(f"{split} of {len(both)} two-portal workers decided by two instances",
              flush=True)
        assert split >= len(both) // 4, f"only {split} of {len(both)} workers on two instances"

        # 1. every worker's ops, one at a time, in the journal's order
        pairs = check_order(ops, items)
        print(f"{sum(len(v) for v in ops.values())} ops, {pairs} after an earlier op "
              f"of their worker, {len(rows)} requests", flush=True)
        assert pairs >= 60, pairs

        # 2. the endpoint holds each worker's last op; nothing twice, no 400 or 409
        state = endpoint.state()
        active = {x["nik"]: x for x in state["active"]}
        for nik, mine in ops.items():
            last = mine[-1]
            assert last["status"] in (5, 6, 8), (nik[:6], last)
            if last["kind"] == REGISTER:
                assert nik in active, f"{last['event_id']}: not active at the endpoint"
                assert active[nik]["program"] == last["program"], (last, active[nik]["program"])
                assert active[nik]["kpj"] == last["kpj"], (last, active[nik]["kpj"])
            else:
                assert nik not in active, f"{last['event_id']}: still active at the endpoint"
        assert set(active) <= set(ops), "a participant the journal never registered"
        stats = state["stats"]
        assert stats["registered_twice"] == 0, stats
        assert stats["multi_key_registration_ids"] == 0, stats
        assert stats["conflicts_409"] == 0, stats
        assert "400" not in stats["requests"] and "409" not in stats["requests"], stats
        assert stats["rejected"] == 0 and stats["not_found"] == 0, stats
        keys = collections.defaultdict(set)
        for kind, seq, nik, row in items:
            if kind == REGISTER:
                keys[seq].add(row["key"])
        assert all(len(k) == 1 for k in keys.values()), "a registration under two keys"

        # 3. every event its first result, every confirmed one its final one,
        # as the journal decided them (at least once after the kills)
        got = collections.defaultdict(set)
        published = results(kafka)
        for r in published:
            got[r["event_id"]].add(r["status"])
        print(f"{len(published)} results published, "
              f"{sum(len(v) for v in got.values())} distinct", flush=True)
        final_of = {op["event_id"]: STATUS[op["status"]] for mine in ops.values()
                    for op in mine}
        assert set(events) == set(ids), set(ids) ^ set(events)
        for eid, e in events.items():
            want = {STATUS[e["status"]]}
            if eid in final_of:
                want.add(final_of[eid])
            assert got[eid] == want, (eid, got[eid], want)
            if e["status"] == 1:
                assert eid in final_of, f"{eid}: confirmed without an op"
        # overlapping programmes: one covers, the other is its duplicate
        for nik in both:
            mine = [e for e in events.values() if e["nik"] == nik]
            for e in mine:
                if e["status"] == 2:
                    assert e["covered_by"] in (BPP, KALTIM), e
        assert not kafka.consume(DLQ), "a valid event dead-lettered"

        # 4. the quota programme exactly at its quota
        q = QUOTA_PROGRAM["quota"]
        firsts = collections.Counter(STATUS[events[eid]["status"]] for eid in quota_ids)
        assert firsts == {"confirmed": q, "rejected": len(quota_ids) - q}, firsts
        assert pg.psql(f"SELECT used FROM quota WHERE program = '{QUOTA_PROGRAM['id']}'",
                       "topics").strip() == str(q)
        assert sum(1 for x in active.values() if x["program"] == QUOTA_PROGRAM["id"]) == q

        for name in NAMES:
            assert pg.password not in env.log(name), f"{name}: the journal's password"
            assert not env.log_contains(name, r"\b\d{16}\b"), f"{name}: a full NIK"


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
