"""Programmes as the payers define them (issue 14): the daemon on the mock
cluster with a programme that takes only workers with a disability in 2025
and one for women heads of household of 18 or more in 2026. Every event
gets the first result docs/events.md gives it (`not_eligible` naming the
first failed criterion, `program_closed` for a month after the period, a
month before the period taken), none of these rejections is dead-lettered,
the endpoint receives exactly the eligible workers, and no full NIK is in
the daemon's log. A reload (SIGHUP) changes the criteria for the events
consumed after it."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, run_tests  # noqa: E402
from dataset import daemon_config, event  # noqa: E402
from test_pipeline import EVENTS, TOPICS, results, run_daemon  # noqa: E402

DIFABEL = {"id": "BPP-DIFABEL-2025",
           "name": "Bantuan iuran BPJS Ketenagakerjaan pekerja difabel Kota Balikpapan",
           "payer": {"level": "city", "region": "6471"}, "benefits": ["JKK", "JKM"],
           "monthly_premium": 16800, "quota": 10000, "budget": 1900000000,
           "eligibility": {"disability": True},
           "period": {"start": "2025-01", "end": "2025-12"}}
KK = {"id": "BPP-PEREMPUAN-KK-2026",
      "name": "Bantuan iuran pekerja perempuan kepala keluarga Kota Balikpapan",
      "payer": {"level": "city", "region": "6471"}, "benefits": ["JKK", "JKM"],
      "monthly_premium": 16800, "quota": 5000,
      "eligibility": {"sex": "F", "head_of_household": True, "min_age": 18,
                      "occupations": ["penjahit", "pedagang"]},
      "period": {"start": "2026-01", "end": "2026-12"}}


class Person:
    """A worker whose NIK agrees with the birth date and sex given."""

    def __init__(self, serial, birth_date, sex):
        y, m, d = birth_date.split("-")
        day = int(d) + (40 if sex == "F" else 0)
        self.nik = f"647101{day:02d}{m}{y[2:]}{serial:04d}"
        self.name = "Siti Aminah" if sex == "F" else "Budi Santoso"
        self.birth_date = birth_date
        self.sex = sex


# (what, programme, occurred_at, person, worker members, status, reason, detail)
CASES = [
    ("a worker with a disability", DIFABEL, "2025-01-06T08:15:00+08:00",
     Person(1, "1990-06-05", "F"), {"disability": True}, "confirmed", None, None),
    ("disability false", DIFABEL, "2025-01-06T08:15:00+08:00",
     Person(2, "1985-02-11", "M"), {"disability": False}, "rejected", "not_eligible",
     "disability"),
    ("disability not given", DIFABEL, "2025-01-06T08:15:00+08:00",
     Person(3, "1985-02-12", "M"), {}, "rejected", "not_eligible", "disability"),
    ("00:30 on 1 January 2026 at +08:00: after the period as written", DIFABEL,
     "2026-01-01T00:30:00+08:00", Person(4, "1991-07-01", "M"), {"disability": True},
     "rejected", "program_closed", "occurred_at"),
    ("a month before the period: taken", DIFABEL, "2024-12-20T10:00:00+08:00",
     Person(5, "1992-08-02", "F"), {"disability": True}, "confirmed", None, None),
    ("a woman head of household, a tailor", KK, "2026-02-02T09:00:00+08:00",
     Person(6, "1995-04-20", "F"), {"head_of_household": True, "occupation": "penjahit"},
     "confirmed", None, None),
    ("a man", KK, "2026-02-02T09:00:00+08:00", Person(7, "1995-04-21", "M"),
     {"head_of_household": True, "occupation": "penjahit"}, "rejected", "not_eligible",
     "sex"),
    ("head_of_household not given", KK, "2026-02-02T09:00:00+08:00",
     Person(8, "1995-04-22", "F"), {"occupation": "penjahit"}, "rejected", "not_eligible",
     "head_of_household"),
    ("the day before her 18th birthday", KK, "2026-03-14T23:00:00+08:00",
     Person(9, "2008-03-15", "F"), {"head_of_household": True, "occupation": "pedagang"},
     "rejected", "not_eligible", "min_age"),
    ("on her 18th birthday", KK, "2026-03-15T07:00:00+08:00",
     Person(10, "2008-03-15", "F"), {"head_of_household": True, "occupation": "pedagang"},
     "confirmed", None, None),
    ("an occupation not listed", KK, "2026-02-02T09:00:00+08:00",
     Person(11, "1980-01-05", "F"), {"head_of_household": True, "occupation": "petani"},
     "rejected", "not_eligible", "occupations"),
    ("17, not head of household, a farmer: the first criterion in order", KK,
     "2026-02-02T09:00:00+08:00", Person(12, "2009-01-05", "F"),
     {"head_of_household": False, "occupation": "petani"}, "rejected", "not_eligible",
     "head_of_household"),
]


def test_eligibility_and_periods_end_to_end():
    events = []
    for i, (what, prog, at, person, members, *_r) in enumerate(CASES):
        e = event(f"programs:{i:03d}", "enrollment.submitted", prog["id"], person,
                  occurred_at=at)
        e["worker"].update(members)
        events.append(e)
    confirmed = [c for c in CASES if c[5] == "confirmed"]
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg_dict = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                                 env.path("journal.db"), programs=[DIFABEL, KK])
        cfg = env.write_config(cfg_dict)
        kafka.produce(EVENTS, [(e["worker"]["nik"], json.dumps(e), None) for e in events])
        daemon = run_daemon(env, cfg)
        # a first result for every event, a final one for every confirmed one
        results(kafka, expect=len(CASES) + len(confirmed), timeout=180)
        env.wait_for(lambda: endpoint.stats()["registered"] >= len(confirmed), timeout=120,
                     what="the confirmed workers registered")
        got = results(kafka)

        first = {r["event_id"]: r for r in got
                 if r["status"] in ("confirmed", "duplicate", "rejected", "ignored")}
        final = {r["event_id"]: r for r in got if r["status"] == "registered"}
        wrong = []
        for e, (what, prog, _, person, _m, status, reason, detail) in zip(events, CASES):
            r = first.get(e["event_id"])
            have = (r["status"], r["reason"], r.get("detail")) if r else None
            if have != (status, reason, detail) or (r and r["nik"] != person.nik):
                wrong.append((what, have, (status, reason, detail)))
            if status == "confirmed" and e["event_id"] not in final:
                wrong.append((what, "no registered result", None))
        assert not wrong, wrong
        assert len(got) == len(CASES) + len(confirmed), [(r["event_id"], r["status"])
                                                          for r in got]

        # none of these rejections is a dead letter: the events were well formed
        assert kafka.consume("enrollment.events.dlq") == []

        # the endpoint received exactly the eligible workers, each once
        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        assert active == {c[3].nik: c[1]["id"] for c in confirmed}, active
        stats = endpoint.stats()
        assert stats["registered"] == len(confirmed), stats
        assert stats["registered_twice"] == 0, stats

        # the decisions are logged with masked NIKs only
        log = env.log("daemon")
        assert "not_eligible" in log and "program_closed" in log, log[-2000:]
        leaked = [c[3].nik for c in CASES if c[3].nik in log]
        assert not leaked, leaked

        # eligibility is reloadable: without the disability criterion, a
        # worker without one is taken; the women's programme now wants 19
        reloaded = json.loads(json.dumps(cfg_dict))
        del reloaded["programs"][0]["eligibility"]
        reloaded["programs"][1]["eligibility"]["min_age"] = 19
        env.write_config(reloaded)
        daemon.send_signal(signal.SIGHUP)
        env.wait_for_log("daemon", "configuration reloaded", timeout=60)
        late = [event("programs:late:0", "enrollment.submitted", DIFABEL["id"],
                      Person(20, "1985-02-13", "M")),
                event("programs:late:1", "enrollment.submitted", KK["id"],
                      Person(21, "2008-01-10", "F"), occurred_at="2026-02-02T09:00:00+08:00")]
        late[0]["worker"]["disability"] = False
        late[1]["worker"].update(head_of_household=True, occupation="penjahit")
        kafka.produce(EVENTS, [(e["worker"]["nik"], json.dumps(e), None) for e in late])
        total = len(CASES) + len(confirmed) + 3  # two firsts, one final
        results(kafka, expect=total, timeout=180)
        after = {r["event_id"]: r for r in results(kafka)
                 if r["event_id"].startswith("programs:late:")
                 and r["status"] in ("confirmed", "rejected")}
        assert after["programs:late:0"]["status"] == "confirmed", after
        assert (after["programs:late:1"]["reason"],
                after["programs:late:1"].get("detail")) == ("not_eligible", "min_age"), after
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0


if __name__ == "__main__":
    run_tests(globals())
