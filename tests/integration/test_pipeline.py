"""The pipeline end to end (issue 3): events produced with kcat as portals
would, the daemon against its own mock Kafka and mock endpoint, and the
outcome compared with an independent model of the rules."""

import collections
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, bin_path, run_tests  # noqa: E402
from dataset import QUOTA_PROGRAM, daemon_config, generate, model  # noqa: E402

TOPICS = {"enrollment.events": 4, "enrollment.results": 4, "enrollment.events.dlq": 1}
EVENTS, RESULTS, DLQ = TOPICS


def start(env):
    kafka = env.start_kafka(topics=TOPICS)
    endpoint = env.start_endpoint()
    cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                                         env.path("journal.db")))
    return kafka, endpoint, cfg


def run_daemon(env, cfg, name="daemon"):
    return env.spawn(name, [bin_path("bpjs-syncd"), "--config", cfg])


def results(kafka, expect=None, timeout=120):
    rows = kafka.consume(RESULTS, expect=expect, timeout=timeout)
    out = []
    for r in rows:
        v = json.loads(r["value"])
        assert v["schema"] == "enrollment-result/v1", v
        out.append(v)
    return out


def expected_count(ds, expect):
    firsts = len(expect) + len(ds.quota_ids) + len(ds.invalid)
    finals = sum(1 for e in expect.values() if e[2]) + QUOTA_PROGRAM["quota"]
    return firsts + finals


def unique(rows, key):
    """Results may be published twice after a crash (at-least-once): keep
    one of each identical (event, status) pair."""
    seen, out = set(), []
    for r in rows:
        k = key(r)
        if k not in seen:
            seen.add(k)
            out.append(r)
    return out


def check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq, crashes=False):
    if crashes:
        got = unique(got, lambda r: (r["event_id"], r["status"], r["reason"])
                     if r["event_id"] else json.dumps(r["source"], sort_keys=True))
        dlq = unique(dlq, lambda d: (d["value"], d["headers"].get("source_partition"),
                                     d["headers"].get("source_offset")))
    by_id = collections.defaultdict(list)
    for r in got:
        by_id[r["event_id"]].append(r)

    # Every valid event: its first result, and its final one after the push.
    for eid, (first, covered_by, final) in expect.items():
        rs = by_id.get(eid, [])
        want = 2 if final else 1
        assert len(rs) == want, f"{eid}: {len(rs)} results, want {want}: {rs}"
        firsts = [r for r in rs if r["status"] in ("confirmed", "duplicate", "ignored")]
        assert len(firsts) == 1 and firsts[0]["status"] == first, (eid, rs)
        if first == "duplicate":
            assert firsts[0]["covered_by"] == covered_by, (eid, rs)
        if final:
            fin = [r for r in rs if r is not firsts[0]][0]
            assert fin["status"] == final, (eid, rs)
            if final in ("registered", "already_registered"):
                assert re.fullmatch(r"\d{11}", fin["kpj"] or ""), fin
                assert fin["batch_id"], fin

    # The quota programme: exactly its quota confirmed, the rest refused.
    winners = {}
    statuses = collections.Counter()
    for eid in ds.quota_ids:
        rs = by_id[eid]
        first = rs[0]["status"] if rs[0]["status"] != "registered" else rs[1]["status"]
        statuses[first] += 1
        if first == "confirmed":
            assert sorted(r["status"] for r in rs) == ["confirmed", "registered"], rs
            winners[rs[0]["nik"]] = QUOTA_PROGRAM["id"]
        else:
            assert len(rs) == 1 and rs[0]["reason"] == "quota_exceeded", rs
    q = QUOTA_PROGRAM["quota"]
    assert statuses == {"confirmed": q, "rejected": len(ds.quota_ids) - q}, statuses

    # Bad input: rejected with its reason, and the original bytes dead-lettered.
    want_reasons = collections.Counter(reason for reason, _, _ in ds.invalid)
    got_reasons = collections.Counter(r["reason"] for r in got
                                      if r["status"] == "rejected"
                                      and r["reason"] != "quota_exceeded")
    assert got_reasons == want_reasons, (got_reasons, want_reasons)
    assert sorted(d["value"] or b"" for d in dlq) == sorted(v for _, _, v in ds.invalid)
    for d in dlq:
        h = d["headers"]
        assert h["source_topic"] == EVENTS.encode(), h
        assert h["reason"].decode() in want_reasons, h
        assert d["key"].startswith(b"portal-key-"), d

    # The endpoint holds exactly the expected participants, each once.
    active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
    want = dict(endpoint_expect)
    want.update(winners)
    assert active == want, (len(active), len(want),
                            set(active.items()) ^ set(want.items()))
    stats = endpoint.stats()
    assert stats["registered_twice"] == 0, stats
    assert stats["multi_key_registration_ids"] == 0, stats
    assert stats["conflicts_409"] == 0, stats
    return stats


def test_exact_outcome_restart_and_reproduce():
    ds = generate()
    expect, endpoint_expect = model(ds)
    with Env() as env:
        kafka, endpoint, cfg = start(env)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        produced = kafka.consume(EVENTS, expect=len(ds.messages))
        assert len(produced) == len(ds.messages), "the mock cluster dropped messages"

        daemon = run_daemon(env, cfg)
        total = expected_count(ds, expect)
        try:
            results(kafka, expect=total, timeout=90)
            time.sleep(1.0)  # nothing more may come
        except WaitTimeout:
            pass  # check_outcome says which event is missing its result
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"

        # SIGTERM: a clean exit, in bounded time.
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, env.log("daemon")

        # A restart after the work is done pushes nothing and answers nothing.
        run_daemon(env, cfg, "daemon2")
        env.wait_for_log("daemon2", "assigned", timeout=30)
        time.sleep(2.0)
        assert endpoint.stats()["batches_processed"] == stats["batches_processed"]
        assert len(results(kafka)) == total

        # Re-producing every event changes nothing at the endpoint; only the
        # messages with no valid event_id (nothing to recognise them by) are
        # answered again.
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        idless = sum(1 for r in got if r["event_id"] is None)
        assert idless >= 5
        again = results(kafka, expect=total + idless)
        time.sleep(2.0)
        again = results(kafka)
        assert len(again) == total + idless, (len(again), total + idless)
        assert all(r["event_id"] is None for r in again[total:] if r not in got)
        # the same messages at new offsets: the source tells them apart
        assert {json.dumps(r["source"]) for r in again if r["event_id"] is None} >= \
            {json.dumps(r["source"]) for r in got if r["event_id"] is None}
        after = endpoint.stats()
        assert after["batches_processed"] == stats["batches_processed"], after
        assert after["registered"] == stats["registered"], after


if __name__ == "__main__":
    run_tests(globals())
