"""Budgets end to end (issue 14): a generated data set of submissions over
the whole year, eligibility, withdrawals, the province taking over in the
month after a city withdrawal, duplicates, redeliveries and submissions
after the period, for a city programme whose budget binds; decided by
daemons killed with SIGKILL again and again, then pushed to an endpoint
that fails some batches for good and others for a while, with more kills.
The premium report must be exactly what premium_model.py (an independent
model of the rules) says, every first result what it decided, the
committed premium never over the budget; then a budget lowered below what
is committed refuses new enrolments, undoes nothing, and says so in the log
and in status."""

import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, run_tests, wait_for  # noqa: E402
from dataset import BPP, KALTIM, PROGRAMS, Worker, daemon_config, event  # noqa: E402
from test_faults import sigkill_rounds  # noqa: E402
from test_pipeline import EVENTS, RESULTS, run_daemon  # noqa: E402
from test_syncctl import Ctl, no_full_nik  # noqa: E402
import premium_model  # noqa: E402

SUBMITTED, WITHDRAWN = "enrollment.submitted", "enrollment.withdrawn"
# one partition: the budget binds in consumed order, and the model must know it
TOPICS = {EVENTS: 1, RESULTS: 4, "enrollment.events.dlq": 1}
FIRST = ("confirmed", "duplicate", "rejected", "ignored")
FINAL = ("registered", "already_registered", "failed")


def at(month, day=10):
    """An occurred_at in 2025 (month 13 is January 2026), as a portal writes it."""
    y, m = (2025, month) if month <= 12 else (2026, month - 12)
    return f"{y:04d}-{m:02d}-{day:02d}T09:30:00+08:00"


def generate(seed, n_workers):
    """The events in the order they are produced, and the messages (a
    redelivered event is produced twice)."""
    rng = random.Random(seed)
    lanes = []
    for i in range(n_workers):
        w = Worker(rng, "6471", 7000 + i)
        disabled = rng.random() < 0.85
        m1 = rng.randint(1, 13) if rng.random() < 0.05 else rng.randint(1, 12)
        lane = [event(f"bpp-portal:budget:{i:05d}:s", SUBMITTED, BPP, w,
                      occurred_at=at(m1))]
        lane[0]["worker"]["disability"] = disabled
        if rng.random() < 0.06:      # the province's, while the city covers: duplicate
            lane.append(event(f"kaltim-portal:budget:{i:05d}:d", SUBMITTED, KALTIM, w,
                              occurred_at=at(min(m1 + 1, 12))))
        if rng.random() < 0.35:      # withdrawn, some before their coverage starts
            m2 = max(1, min(12, m1 + rng.randint(-1, 6)))
            lane.append(event(f"bpp-portal:budget:{i:05d}:w", WITHDRAWN, BPP, w,
                              occurred_at=at(m2)))
            if rng.random() < 0.6:   # the province takes them over that month
                lane.append(event(f"kaltim-portal:budget:{i:05d}:k", SUBMITTED, KALTIM,
                                  w, occurred_at=at(m2)))
        lanes.append(lane)
    events, messages = [], []
    while lanes:                     # interleaved, each worker's in order
        lane = rng.choice(lanes)
        e = lane.pop(0)
        if not lane:
            lanes.remove(lane)
        events.append(e)
        msg = (e["worker"]["nik"].encode(), json.dumps(e).encode())
        messages.append(msg)
        if rng.random() < 0.05:
            messages.append(msg)     # redelivered
    return events, messages


def first_results(kafka):
    out = {}
    for r in kafka.consume(RESULTS):
        v = json.loads(r["value"])
        if v["status"] in FIRST:
            out[v["event_id"]] = (v["status"], v["reason"])
    return out


def final_answers(kafka):
    return {json.loads(r["value"])["event_id"]: json.loads(r["value"])["status"]
            for r in kafka.consume(RESULTS)
            if json.loads(r["value"])["status"] in FINAL}


def test_budget_that_binds_after_faults_and_kills():
    events, msgs = generate(seed=14, n_workers=160)
    submitted = [e for e in events if e["type"] == SUBMITTED]
    # the city's budget: two thirds of what its submissions would commit
    free = premium_model.report([dict(p) for p in PROGRAMS[:2]], events)
    budget = free["programs"][0]["committed"] * 2 // 3
    programs = [dict(PROGRAMS[0], budget=budget, eligibility={"disability": True}),
                dict(PROGRAMS[1])]
    model = premium_model.Model(programs)
    for e in events:
        model.decide(e)
    decided = {eid: d for eid, d in model.decisions.items()}
    reasons = [d[1] for d in decided.values()]
    # the data set has every case the test is about
    for reason in ("budget_exceeded", "not_eligible", "program_closed"):
        assert reason in reasons, (reason, sorted(set(reasons), key=str))
    assert ("duplicate", None) in decided.values()
    rng = random.Random(41)
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--seed", "14"])
        endpoint.faults(down=True)
        conf = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                             env.path("journal.db"), programs=programs, timeout_ms=1000,
                             batch_size=8)
        cfg = env.write_config(conf)
        ctl = Ctl(cfg)

        # 1. Decided by daemons killed mid-work, the endpoint down: every
        #    answer comes after every decision (the model's order).
        n = len(msgs)
        chunks = [msgs[i * n // 3:(i + 1) * n // 3] for i in range(3)]
        sigkill_rounds(env, kafka, cfg, chunks, rng, join_timeout=60, pause=(0.2, 1.0))
        daemon = run_daemon(env, cfg, "decider")
        wait_for(lambda: len(first_results(kafka)) == len(decided), 180,
                 "every event's first result")
        got = first_results(kafka)
        wrong = {eid: (got.get(eid), want) for eid, want in decided.items()
                 if got.get(eid) != want}
        assert not wrong, list(wrong.items())[:10]
        st = ctl.status()
        city = next(q for q in st["quota"] if q["program"] == BPP)
        assert city["committed"] <= budget, city

        # 2. Pushed to an endpoint that fails some batches for good, others
        #    for a while, with two more kills while batches are in flight.
        endpoint.faults(down=False, fail_400=12, fail_5xx=10, drop=3)
        for round in range(2):
            time.sleep(rng.uniform(0.5, 1.5))
            assert daemon.running
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(10)
            daemon = run_daemon(env, cfg, f"pusher{round}")
        confirmed = [e["event_id"] for e in submitted
                     if decided.get(e["event_id"]) == ("confirmed", None)]
        wait_for(lambda: all(eid in final_answers(kafka) for eid in confirmed), 240,
                 "every registration answered")
        answers = {eid: a for eid, a in final_answers(kafka).items()
                   if eid in set(confirmed)}
        assert "failed" in answers.values() and "registered" in answers.values()

        # 3. The report is the model's, exactly.
        want = premium_model.report(programs, events, answers)
        r = ctl.run("report", "--json")
        no_full_nik(r.out + r.err)
        report = json.loads(r.out)
        for got_p, want_p in zip(report["programs"], want["programs"]):
            if got_p != want_p:
                diff = {k: (got_p.get(k), v) for k, v in want_p.items()
                        if got_p.get(k) != v and k != "months"}
                months = [(g, w) for g, w in zip(got_p["months"], want_p["months"])
                          if g != w]
                raise AssertionError(f"{want_p['program']}: {diff} months {months[:4]}")
        assert report == want
        city_report = report["programs"][0]
        assert city_report["committed"] <= budget, city_report
        assert env.log_count("pusher1", "above its budget") == 0

        # 4. The budget lowered below what is committed: new enrolments are
        #    refused, nothing is undone, the log and status say so.
        conf["programs"][0]["budget"] = city_report["committed"] - 16800
        env.write_config(conf)
        daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("pusher1", "above its budget", timeout=30)
        line = next(l for l in env.log("pusher1").splitlines() if "above its budget" in l)
        assert f"Rp{city_report['committed']}" in line and BPP in line, line
        st = ctl.status()
        city = next(q for q in st["quota"] if q["program"] == BPP)
        assert city["over_budget"] is True and city["remaining"] == -16800, city
        human = ctl.run("status").out
        assert "OVER BUDGET" in human, human
        w = Worker(random.Random(99), "6471", 9990)
        late = event("bpp-portal:budget:late", SUBMITTED, BPP, w, occurred_at=at(12))
        late["worker"]["disability"] = True
        kafka.produce(EVENTS, [(w.nik.encode(), json.dumps(late).encode(), None)])
        wait_for(lambda: first_results(kafka).get(late["event_id"]), 60, "the late one")
        assert first_results(kafka)[late["event_id"]] == ("rejected", "budget_exceeded")
        after = json.loads(ctl.run("report", "--json").out)["programs"][0]
        assert after["committed"] == city_report["committed"], after
        assert after["months"] == city_report["months"]
        no_full_nik(env.log("pusher1"))


if __name__ == "__main__":
    run_tests(globals())
