"""premium_model: an independent model of the premium report
(docs/finance.md, and docs/events.md for the deciding rules).

Written from the rules' text, not from the daemon's code, so that a test
compares the daemon's `bpjs-syncctl report --json` with something that did
not come from it. Given the configuration's programmes (the dicts a daemon
configuration holds, with an optional "budget" and "eligibility"), the valid
events in the order they were consumed, and each registration's final
answer, it decides every event again and returns the expected report.

    report(programs, events, answers) -> the premium-report/v1 object

`answers` maps a submitted event's event_id to "registered",
"already_registered" or "failed"; a confirmed registration without an
answer is pending. Answers are taken to arrive after every event was
decided. When a failure came earlier (and freed its slot and premium for
later events), put ("answer", event_id, status) in `events` where it came.

Events that break a rule of the event format (bad JSON, a bad NIK, ...)
are rejected and change nothing: pass the valid ones (dataset.Dataset.valid).

Run it (python3 premium_model.py) to check it against the worked examples.
"""

import datetime

SUBMITTED, WITHDRAWN = "enrollment.submitted", "enrollment.withdrawn"
ANSWERED = ("registered", "already_registered")


def month_number(text):
    """'2025-01' (or the start of an RFC 3339 date-time, as written) to
    year * 12 + month - 1."""
    return int(text[0:4]) * 12 + int(text[5:7]) - 1


def month_text(n):
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def overlaps(a, b):
    return a["start"] <= b["end"] and b["start"] <= a["end"]


def age_on(birth, day):
    """Whole years on `day`; a 29 February birthday is 1 March in other years."""
    years = day.year - birth.year
    try:
        birthday = birth.replace(year=day.year)
    except ValueError:
        birthday = datetime.date(day.year, 3, 1)
    return years - (day < birthday)


def eligible(criteria, event):
    w = event["worker"]
    for name, want in (criteria or {}).items():
        if name in ("disability", "head_of_household"):
            ok = w.get(name) is True
        elif name == "sex":
            ok = w.get("sex") == want
        elif name in ("min_age", "max_age"):
            age = age_on(datetime.date.fromisoformat(w["birth_date"]),
                         datetime.date.fromisoformat(event["occurred_at"][:10]))
            ok = age >= want if name == "min_age" else age <= want
        elif name == "occupations":
            ok = w.get("occupation") in want
        else:
            raise ValueError(f"unknown eligibility criterion {name}")
        if not ok:
            return False
    return True


class Coverage:
    def __init__(self, program, nik, event_id, start, end):
        self.program, self.nik, self.event_id = program, nik, event_id
        self.start, self.end = start, end
        self.live = True       # holds a slot: pending or active
        self.answer = None     # registered, already_registered, failed, or None

    def months(self):
        return max(0, self.end - self.start + 1)

    def commits(self):
        return self.answer != "failed"


class Model:
    def __init__(self, programs):
        self.programs = {}
        for p in programs:
            self.programs[p["id"]] = dict(
                p, start=month_number(p["period"]["start"]),
                end=month_number(p["period"]["end"]))
        self.order = [p["id"] for p in programs]
        self.coverages = []    # in the order they were confirmed
        self.by_event = {}
        self.by_nik = {}
        # kept as the rules change them, so that deciding stays linear
        self._committed = {pid: 0 for pid in self.programs}
        self._used = {pid: 0 for pid in self.programs}
        self.seen = set()
        self.decisions = {}    # event_id -> (status, reason or None)

    def committed(self, pid):
        return self._committed[pid]

    def used(self, pid):
        return self._used[pid]

    def premium(self, c):
        return c.months() * self.programs[c.program]["monthly_premium"]

    def decide(self, e):
        eid = e["event_id"]
        if eid in self.seen:
            return None                     # a redelivery changes nothing
        self.seen.add(eid)
        p = self.programs.get(e["program"])
        if p is None:
            return self.result(eid, "rejected", "unknown_program")
        nik, month = e["worker"]["nik"], month_number(e["occurred_at"])
        mine = [c for c in self.by_nik.get(nik, [])
                if overlaps(self.programs[c.program], p)]
        live = [c for c in mine if c.live]
        if e["type"] == WITHDRAWN:
            covering = [c for c in live if c.program == p["id"]]
            if not covering:
                return self.result(eid, "ignored")
            c = covering[0]
            before = self.premium(c)
            c.live = False
            c.end = min(c.end, month)
            self._used[c.program] -= 1
            if c.commits():
                self._committed[c.program] -= before - self.premium(c)
            return self.result(eid, "confirmed")
        if month > p["end"]:
            return self.result(eid, "rejected", "program_closed")
        if not eligible(p.get("eligibility"), e):
            return self.result(eid, "rejected", "not_eligible")
        if live:
            return self.result(eid, "duplicate")
        # no month of a worker is paid twice: after the previous coverage's
        # last month (one that ended before it started has none, and counts
        # for nothing)
        start = max([p["start"], month] +
                    [c.end + 1 for c in mine if c.commits() and c.months() > 0])
        if start > p["end"]:
            # docs/events.md, rule 8: no month of the period is left to pay
            return self.result(eid, "rejected", "program_closed")
        if self.used(p["id"]) + 1 > p["quota"]:
            return self.result(eid, "rejected", "quota_exceeded")
        c = Coverage(p["id"], nik, eid, start, p["end"])
        budget = p.get("budget")
        if budget is not None and \
                self.committed(p["id"]) + c.months() * p["monthly_premium"] > budget:
            return self.result(eid, "rejected", "budget_exceeded")
        self.coverages.append(c)
        self.by_event[eid] = c
        self.by_nik.setdefault(nik, []).append(c)
        self._used[c.program] += 1
        self._committed[c.program] += self.premium(c)
        return self.result(eid, "confirmed")

    def result(self, eid, status, reason=None):
        self.decisions[eid] = (status, reason)
        return status, reason

    def answer(self, eid, status):
        c = self.by_event.get(eid)
        if c is None or c.answer is not None:
            return
        assert status in ANSWERED + ("failed",), status
        if status == "failed":              # the slot and the premium are released
            self._committed[c.program] -= self.premium(c)
            if c.live:
                self._used[c.program] -= 1
            c.live = False
        c.answer = status

    def report(self):
        out = []
        for pid in self.order:
            p = self.programs[pid]
            months = []
            for m in range(p["start"], p["end"] + 1):
                held = [c for c in self.coverages
                        if c.program == pid and c.commits() and c.start <= m <= c.end]
                workers = sum(1 for c in held if c.answer in ANSWERED)
                pending = sum(1 for c in held if c.answer is None)
                months.append({"month": month_text(m), "workers": workers,
                               "pending": pending,
                               "premium": workers * p["monthly_premium"]})
            committed = self.committed(pid)
            budget = p.get("budget")
            out.append({
                "program": pid, "payer": {"level": p["payer"]["level"],
                                          "region": p["payer"]["region"]},
                "monthly_premium": p["monthly_premium"], "quota": p["quota"],
                "used": self.used(pid), "budget": budget, "committed": committed,
                "remaining": None if budget is None else budget - committed,
                "months": months,
                "premium_total": sum(m["premium"] for m in months)})
        # bpjs-syncctl adds "unconfigured" for programmes it cannot price;
        # the model's programmes are all configured
        return {"schema": "premium-report/v1", "programs": out}


def report(programs, events, answers=None):
    """The expected `bpjs-syncctl report --json` object (see the module's
    docstring)."""
    m = Model(programs)
    for e in events:
        if isinstance(e, tuple):
            m.answer(e[1], e[2])
        else:
            m.decide(e)
    for eid, status in (answers or {}).items():
        m.answer(eid, status)
    return m.report()


# ---- the worked examples (docs/finance.md, docs/events.md) ----

BPP = {"id": "BPP-DIFABEL-2025", "payer": {"level": "city", "region": "6471"},
       "monthly_premium": 16800, "quota": 10000, "budget": 1900000000,
       "period": {"start": "2025-01", "end": "2025-12"}}
KALTIM = {"id": "KALTIM-RENTAN-2025", "payer": {"level": "province", "region": "64"},
          "monthly_premium": 16800, "quota": 10000,
          "period": {"start": "2025-01", "end": "2025-12"}}


def _event(n, etype, program, nik, day):
    return {"schema": "enrollment/v1", "event_id": f"t:{n:06d}", "type": etype,
            "occurred_at": f"{day}T08:15:00+08:00", "program": program,
            "worker": {"nik": nik, "name": "Siti Aminah", "birth_date": "1990-06-05",
                       "sex": "F"}}


def _nik(i):
    return f"647105450690{i:04d}"


def _check(got, want, what):
    assert got == want, f"{what}: {got!r}, expected {want!r}"


def self_test():
    # One January submission commits 12 months, one in October 3.
    r = report([BPP], [_event(1, SUBMITTED, BPP["id"], _nik(1), "2025-01-06"),
                       _event(2, SUBMITTED, BPP["id"], _nik(2), "2025-10-02")],
               {"t:000001": "registered"})["programs"][0]
    _check(r["committed"], 201600 + 50400, "January + October committed")
    _check(r["remaining"], 1900000000 - 252000, "remaining")
    _check([m["workers"] for m in r["months"]], [1] * 12, "workers a month")
    _check([m["pending"] for m in r["months"]], [0] * 9 + [1] * 3, "pending a month")
    _check(r["premium_total"], 201600, "premium_total counts answered months only")
    _check(r["used"], 2, "used")

    # Withdrawn in March: Rp50,400; the province takes over with a March
    # event: its coverage starts in April, Rp151,200 to December.
    evs = [_event(1, SUBMITTED, BPP["id"], _nik(1), "2025-01-06"),
           _event(2, WITHDRAWN, BPP["id"], _nik(1), "2025-03-10"),
           _event(3, SUBMITTED, KALTIM["id"], _nik(1), "2025-03-11")]
    rep = report([BPP, KALTIM], evs, {"t:000001": "registered", "t:000003": "registered"})
    city, province = rep["programs"]
    _check(city["committed"], 50400, "withdrawn in March")
    _check(city["used"], 0, "a withdrawal frees the slot")
    _check(province["committed"], 151200, "taken over from April")
    _check(province["budget"], None, "no budget")
    _check(province["remaining"], None, "no budget, nothing remaining")
    _check([m["workers"] for m in province["months"]], [0] * 3 + [1] * 9,
           "the province's months")
    for p in rep["programs"]:
        _check(p["premium_total"], p["committed"], "all answered: premium_total")

    # Ten thousand January submissions to Balikpapan's Rp1.9 billion: the
    # 9,425th is the first budget_exceeded.
    m = Model([BPP])
    for i in range(10000):
        m.decide(_event(i, SUBMITTED, BPP["id"], f"64710545{i:08d}", "2025-01-06"))
    statuses = [m.decisions[f"t:{i:06d}"] for i in range(10000)]
    _check(statuses[9423], ("confirmed", None), "the 9,424th")
    _check(statuses[9424], ("rejected", "budget_exceeded"), "the 9,425th")
    _check(sum(1 for s in statuses if s[0] == "confirmed"), 9424, "confirmed")
    r = m.report()["programs"][0]
    _check(r["committed"], 9424 * 201600, "committed at the budget's edge")
    _check(r["remaining"], 1900000000 - 9424 * 201600, "remaining at the edge")

    # A failed registration commits nothing; an earlier failure frees its
    # slot and its premium for later events.
    small = dict(BPP, quota=1, budget=None)
    evs = [_event(1, SUBMITTED, BPP["id"], _nik(1), "2025-01-06"),
           ("answer", "t:000001", "failed"),
           _event(2, SUBMITTED, BPP["id"], _nik(2), "2025-02-06")]
    r = report([small], evs, {"t:000002": "already_registered"})["programs"][0]
    _check(r["committed"], 11 * 16800, "the failure released, the second took")
    _check(r["months"][0]["workers"], 0, "January: nobody")
    _check(r["months"][1]["workers"], 1, "February on")

    # After the period end, program_closed; an empty journal: zeros.
    m = Model([BPP])
    _check(m.decide(_event(1, SUBMITTED, BPP["id"], _nik(1), "2026-01-02")),
           ("rejected", "program_closed"), "after the period")
    r = m.report()["programs"][0]
    _check(len(r["months"]), 12, "every month")
    _check({(x["workers"], x["pending"], x["premium"]) for x in r["months"]}, {(0, 0, 0)},
           "zeros")


if __name__ == "__main__":
    self_test()
    print("premium_model: the worked examples hold")
