"""dataset: realistic enrollment events and an independent model of what
must become of them (docs/events.md and docs/endpoint.md).

Used by the integration tests, the demo and the benchmark. The model is a
second, deliberately simple implementation of the deciding rules and of the
endpoint's participant state, so that a test compares the daemon with
something that did not come from its code.
"""

import json
import random

PROGRAMS = [
    {"id": "BPP-DIFABEL-2025",
     "name": "Bantuan iuran BPJS Ketenagakerjaan pekerja difabel Kota Balikpapan",
     "payer": {"level": "city", "region": "6471"}, "benefits": ["JKK", "JKM"],
     "monthly_premium": 16800, "quota": 10000,
     "period": {"start": "2025-01", "end": "2025-12"}},
    {"id": "KALTIM-RENTAN-2025",
     "name": "Bantuan iuran pekerja rentan Provinsi Kalimantan Timur",
     "payer": {"level": "province", "region": "64"}, "benefits": ["JKK", "JKM"],
     "monthly_premium": 16800, "quota": 10000,
     "period": {"start": "2025-01", "end": "2025-12"}},
    {"id": "SORONG-RENTAN-2024", "name": "Perlindungan pekerja rentan Kota Sorong",
     "payer": {"level": "city", "region": "9271"}, "benefits": ["JKK", "JKM"],
     "monthly_premium": 16800, "quota": 19336,
     "period": {"start": "2024-01", "end": "2024-12"}},
]

# A small programme that the data set overfills on purpose.
QUOTA_PROGRAM = {"id": "BPP-PERCONTOHAN-2025", "name": "Percontohan (quota test)",
                 "payer": {"level": "city", "region": "6471"}, "benefits": ["JKK"],
                 "monthly_premium": 16800, "quota": 15,
                 "period": {"start": "2025-01", "end": "2025-12"}}

BPP, KALTIM, SORONG = (p["id"] for p in PROGRAMS)
SORONG_AT = "2024-03-04T08:15:00+09:00"  # Sorong's events, in its period and offset
FIRST = ("confirmed", "duplicate", "rejected", "ignored")
NAMES = ["Siti Aminah", "Budi Santoso", "Dewi Lestari", "Agus Salim", "Rina Wati",
         "Yohanes Kambu", "Maria Worumi", "Ahmad Yani", "Nur Hasanah", "Petrus Mofu"]


def daemon_config(brokers, url, secret_file, journal, programs=None, **bpjs):
    """A daemon configuration (a dict; JSON is YAML) for these addresses."""
    b = {"base_url": url, "cons_id": "1001", "secret_file": secret_file,
         "batch_size": 50, "batch_linger_ms": 50, "max_in_flight": 4, "timeout_ms": 5000,
         "retry": {"initial_ms": 50, "max_ms": 1000, "max_attempts": 0}}
    b.update(bpjs)
    return {"kafka": {"brokers": brokers, "group_id": "bpjs-sync-test",
                      "topics": ["enrollment.events"],
                      "results_topic": "enrollment.results",
                      "dlq_topic": "enrollment.events.dlq",
                      "properties": {"auto.offset.reset": "earliest",
                                     # a restarted daemon rejoins quickly
                                     "session.timeout.ms": "6000",
                                     "heartbeat.interval.ms": "500",
                                     "max.poll.interval.ms": "7000"}},
            "bpjs": b,
            "journal": {"path": journal},
            "log": {"level": "info"},
            # a port of its own for each daemon: tests run in parallel
            "metrics": {"listen": "127.0.0.1:0"},
            "programs": programs if programs is not None else PROGRAMS + [QUOTA_PROGRAM]}


class Worker:
    def __init__(self, rng, region, serial):
        self.female = rng.random() < 0.5
        y, m, d = rng.randint(1960, 2004), rng.randint(1, 12), rng.randint(1, 28)
        self.birth_date = f"{y:04d}-{m:02d}-{d:02d}"
        day = d + 40 if self.female else d
        # 16 digits at any scale: the serial's overflow goes into the district
        district = 1 + (serial // 10000) % 99
        self.nik = f"{region}{district:02d}{day:02d}{m:02d}{y % 100:02d}{serial % 10000:04d}"
        self.name = rng.choice(NAMES)
        self.sex = "F" if self.female else "M"


class Dataset:
    def __init__(self):
        self.messages = []    # (key bytes or None, value bytes), in produce order
        self.valid = []       # the valid events (dicts), in produce order
        self.invalid = []     # (reason, key, value bytes)
        self.redelivered = 0  # messages produced a second time, byte for byte
        self.quota_ids = []   # event ids of the quota programme's submissions

    def add(self, event, key=None):
        value = json.dumps(event, separators=(",", ":")).encode()
        self.messages.append((key if key is not None else event["worker"]["nik"].encode(),
                              value))
        self.valid.append(event)
        return value

    def add_invalid(self, reason, value, key=None):
        # distinct keys spread bad input over partitions (the mock cluster
        # drops the oldest messages of a partition past 5 MiB)
        key = key or b"portal-key-%d" % len(self.invalid)
        self.messages.append((key, value))
        self.invalid.append((reason, key, value))


def event(eid, etype, program, w, **extra):
    e = {"schema": "enrollment/v1", "event_id": eid, "type": etype,
         "occurred_at": "2025-01-06T08:15:00+08:00", "portal": eid.split(":")[0],
         "program": program,
         "worker": {"nik": w.nik, "name": w.name, "birth_date": w.birth_date, "sex": w.sex,
                    "phone": "+628123456789", "occupation": "penjahit"}}
    if etype == "enrollment.withdrawn":
        e["worker"] = {"nik": w.nik}
        e["reason"] = "moved away"
    e.update(extra)
    return e


def generate(seed=7, scale=1):
    """About 600 * scale events: overlaps of city and province, same-programme
    repeats, withdrawals and re-enrolments, a non-overlapping Sorong 2024
    programme, quota overflow, every kind of bad input, and redeliveries."""
    rng = random.Random(seed)
    ds = Dataset()
    n = [0]

    def eid(portal):
        n[0] += 1
        return f"{portal}:2025-01-06:{n[0]:06d}"

    sub, wd = "enrollment.submitted", "enrollment.withdrawn"
    bpp = [Worker(rng, "6471", i) for i in range(1, 200 * scale)]
    sorong = [Worker(rng, "9271", i) for i in range(1, 120 * scale)]
    for i, w in enumerate(bpp):
        kind = i % 10
        if kind in (0, 1, 2, 3):          # city only
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
        elif kind == 4:                   # city, then the province: duplicate of the city
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
            ds.add(event(eid("kaltim-portal"), sub, KALTIM, w))
        elif kind == 5:                   # province, then the city: duplicate of the province
            ds.add(event(eid("kaltim-portal"), sub, KALTIM, w))
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
        elif kind == 6:                   # the same programme twice
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
        elif kind == 7:                   # withdrawn, then enrolled by the province
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
            ds.add(event(eid("bpp-portal"), wd, BPP, w))
            ds.add(event(eid("kaltim-portal"), sub, KALTIM, w))
        elif kind == 8:                   # a withdrawal for the wrong programme
            ds.add(event(eid("kaltim-portal"), sub, KALTIM, w))
            ds.add(event(eid("bpp-portal"), wd, BPP, w))
        else:                             # withdrawn for good
            ds.add(event(eid("kaltim-portal"), sub, KALTIM, w))
            ds.add(event(eid("kaltim-portal"), wd, KALTIM, w))
    for i, w in enumerate(sorong):
        # in its own year: a 2024 programme is closed to 2025's events
        ds.add(event(eid("sorong-portal"), sub, SORONG, w, occurred_at=SORONG_AT))
        if i % 6 == 0:                    # 2024 and 2025 do not overlap
            ds.add(event(eid("bpp-portal"), sub, BPP, w))
    for i in range(1, QUOTA_PROGRAM["quota"] + 10 * scale + 1):
        w = Worker(rng, "6471", 5000 + i)
        ds.quota_ids.append(eid("pilot-portal"))
        ds.add(event(ds.quota_ids[-1], sub, QUOTA_PROGRAM["id"], w))

        # Bad input, one or more of every reason (scale times over).
    w = bpp[0]
    good = event("bad-portal:x", sub, BPP, w)
    def bad(reason, change=None, raw=None):
        for _ in range(scale):
            bad_once(reason, change, raw)

    def bad_once(reason, change=None, raw=None):
        if raw is None:
            e = json.loads(json.dumps(good))
            e["event_id"] = eid("bad-portal")
            change(e)
            raw = json.dumps(e).encode()
        ds.add_invalid(reason, raw)
    bad("malformed_json", raw=b'{"schema": "enrollment/v1", "event_id": ')
    bad("malformed_json", raw=b"")
    bad("malformed_json", raw=b"[1,2,3]")
    bad("invalid_utf8", raw=b'{"schema":"enrollment/v1","name":"\xff\xfe"}')
    bad("duplicate_key", raw=b'{"schema":"enrollment/v1","schema":"enrollment/v1"}')
    bad("too_large", raw=b'{"pad":"' + b"a" * (65 * 1024) + b'"}')
    bad("unsupported_schema", lambda e: e.update(schema="enrollment/v2"))
    bad("invalid_event_id", lambda e: e.update(event_id="has space"))
    bad("invalid_type", lambda e: e.update(type="enrollment.updated"))
    bad("missing_field", lambda e: e["worker"].pop("name"))
    bad("invalid_field", lambda e: e.update(occurred_at="yesterday"))
    bad("invalid_nik", lambda e: e["worker"].update(nik="1234"))
    bad("nik_birth_date_mismatch", lambda e: e["worker"].update(birth_date="1950-01-01"))
    bad("nik_sex_mismatch", lambda e: e["worker"].update(sex="M" if w.female else "F"))
    bad("unknown_program", lambda e: e.update(program="NO-SUCH-PROGRAM"))

    # Redeliveries: some messages again, byte for byte (the portal's retry).
    again = rng.sample(ds.messages[: len(ds.valid)], 25 * scale)
    for key, value in again:
        ds.messages.append((key, value))
    ds.redelivered = len(again)
    return ds


def overlaps(a, b):
    return a["period"]["start"] <= b["period"]["end"] and b["period"]["start"] <= a["period"]["end"]


def model(ds, programs=None):
    """What must become of every valid event, leaving out the quota programme
    (whose winners depend on how partitions interleave). Returns
    (expect, endpoint): expect maps event_id -> (first, covered_by, final);
    endpoint maps NIK -> the programme it was registered under."""
    progs = {p["id"]: p for p in (programs or PROGRAMS)}
    cover = {}      # nik -> set of programmes covering it
    endpoint = {}   # nik -> programme (the mock's participant state)
    expect = {}
    seen = set()
    for e in ds.valid:
        if e["event_id"] in seen or e["program"] not in progs:
            continue
        seen.add(e["event_id"])
        nik, p = e["worker"]["nik"], progs[e["program"]]
        mine = cover.setdefault(nik, set())
        if e["type"] == "enrollment.submitted" and e["occurred_at"][:7] > p["period"]["end"]:
            expect[e["event_id"]] = ("rejected", None, None)  # program_closed
            continue
        if e["type"] == "enrollment.withdrawn":
            if p["id"] in mine:
                mine.discard(p["id"])
                endpoint.pop(nik, None)
                expect[e["event_id"]] = ("confirmed", None, "deactivated")
            else:
                expect[e["event_id"]] = ("ignored", None, None)
            continue
        clash = [c for c in sorted(mine) if overlaps(progs[c], p)]
        if clash:
            expect[e["event_id"]] = ("duplicate", clash[0], None)
            continue
        mine.add(p["id"])
        final = "already_registered" if nik in endpoint else "registered"
        endpoint.setdefault(nik, p["id"])
        expect[e["event_id"]] = ("confirmed", p["id"], final)
    return expect, endpoint
