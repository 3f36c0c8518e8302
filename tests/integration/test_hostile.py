"""Hostile events (issue 7): each is produced to Kafka as a portal (or an
attacker) could, and each must get exactly one result, `rejected` with its
specific reason (and the field, where there is one), plus a dead letter
carrying the original key and value; nothing may crash or stall the
pipeline: valid events produced after them are confirmed and registered,
the daemon is still running at the end and exits 0 on SIGTERM.

The table is HOSTILE below, one row a case. A few accepted events at the
limits (exactly 64 KiB, 100 four-byte characters, a surrogate pair) check
that the rules do not reject too much. Every mismatch of the whole table is
reported at once, as (case, expected, got).
"""

import collections
import json
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, bin_path, run_tests  # noqa: E402
from dataset import BPP, Worker, daemon_config  # noqa: E402
from jsonschema_lite import errors, load_schema  # noqa: E402
from test_schemas import DLQ_SCHEMA, EVENT_SCHEMA, RESULT_SCHEMA, event_problems  # noqa: E402

# One partition each: a message's offset is its place in the produce order.
TOPICS = {"enrollment.events": 1, "enrollment.results": 1, "enrollment.events.dlq": 1}
EVENTS, RESULTS, DLQ = TOPICS
KEY = b"hostile-key"
LONG = 60000  # characters: an extremely long string, and still under 64 KiB

rng = random.Random(2025)
serial = [100]


def worker(region="6471"):
    serial[0] += 1
    return Worker(rng, region, serial[0])


def base(eid, w=None, etype="enrollment.submitted"):
    w = w or worker()
    e = {"schema": "enrollment/v1", "event_id": eid, "type": etype,
         "occurred_at": "2025-01-06T08:15:00+08:00", "portal": "hostile-portal",
         "program": BPP,
         "worker": {"nik": w.nik, "name": w.name, "birth_date": w.birth_date, "sex": w.sex,
                    "phone": "+6281234567890", "occupation": "penjahit",
                    "disability": True}}
    if etype == "enrollment.withdrawn":
        e["worker"] = {"nik": w.nik}
        e["reason"] = "moved away"
    return e


def dumps(e):
    return json.dumps(e, separators=(",", ":"), ensure_ascii=False).encode()


def changed(eid, path, value, etype="enrollment.submitted"):
    """A valid event with one member set (value ... deletes it); path is
    'name' or 'worker.name'."""
    e = base(eid, etype=etype)
    obj, name = (e["worker"], path[7:]) if path.startswith("worker.") else (e, path)
    if value is ...:
        del obj[name]
    else:
        obj[name] = value
    return dumps(e)


def padded(eid, size):
    """A valid event of exactly size bytes (an extra member pads it)."""
    e = base(eid)
    e["pad"] = ""
    raw = dumps(e)
    e["pad"] = "x" * (size - len(raw))
    raw = dumps(e)
    assert len(raw) == size, (len(raw), size)
    return raw


class Case:
    def __init__(self, name, value, reason, detail="", key=KEY, event_id=None):
        self.name = name
        self.value = value      # bytes, or None for a NULL value
        self.reason = reason
        self.detail = detail    # the field named; "" when none
        self.key = key
        self.event_id = event_id  # what the result must carry (None: no valid id)


def hostile_cases():
    c = []

    def add(name, value, reason, detail="", key=KEY, keep_id=None):
        c.append(Case(name, value, reason, detail, key, keep_id))

    def field(name, path, value, reason, detail=None, etype="enrollment.submitted",
              keeps_id=True):
        eid = f"hostile:{len(c):03d}"
        add(name, changed(eid, path, value, etype), reason,
            path if detail is None else detail, keep_id=eid if keeps_id else None)

    good = dumps(base("hostile:template"))

    # Not UTF-8.
    add("invalid UTF-8 (0xff 0xfe)", good.replace(b'"hostile-portal"', b'"\xff\xfe"'),
        "invalid_utf8")
    add("invalid UTF-8 in a name", changed("hostile:u1", "worker.name", "X").replace(
        b'"X"', b'"Siti \xc3\x28"'), "invalid_utf8")
    add("overlong UTF-8 ('/' as c0 af)", changed("hostile:u2", "worker.name", "X").replace(
        b'"X"', b'"\xc0\xaf"'), "invalid_utf8")
    add("a surrogate encoded in UTF-8 (ed a0 80)", changed(
        "hostile:u3", "worker.name", "X").replace(b'"X"', b'"\xed\xa0\x80"'), "invalid_utf8")
    add("a code point above U+10FFFF (f4 90 80 80)", changed(
        "hostile:u4", "worker.name", "X").replace(b'"X"', b'"\xf4\x90\x80\x80"'),
        "invalid_utf8")
    add("UTF-8 cut in the middle of a character", good[:-3] + b"\xe2\x82", "invalid_utf8")
    add("UTF-16", json.dumps(base("hostile:u5")).encode("utf-16"), "invalid_utf8")

    # Deeply nested or huge JSON.
    add("100k '[' (too large before it is deep)", b"[" * 100000, "too_large")
    add("60k '['", b"[" * 60000, "malformed_json")
    add("60k '[' closed", b"[" * 30000 + b"]" * 30000, "malformed_json")
    add("10k nested objects", b'{"a":' * 10000 + b"1" + b"}" * 10000, "malformed_json")
    e = base("hostile:deep")
    e["extra"] = "@"
    add("a valid event nesting 1001 arrays in a member",
        dumps(e).replace(b'"@"', b"[" * 1001 + b"]" * 1001), "malformed_json")
    add("a valid event of 65537 bytes", padded("hostile:big1", 65537), "too_large")
    add("a valid event of about 900 KiB", padded("hostile:big2", 900 * 1024), "too_large")
    add("JSON of 300 KiB of whitespace", b" " * (300 * 1024) + good, "too_large")

    # Numbers (and other non-strings) where strings belong.
    field("schema as a number", "schema", 1, "unsupported_schema")
    field("event_id as a number", "event_id", 123, "invalid_event_id", keeps_id=False)
    field("event_id as an array", "event_id", ["a"], "invalid_event_id", keeps_id=False)
    field("type as a number", "type", 1, "invalid_type")
    field("occurred_at as epoch seconds", "occurred_at", 1736150100, "invalid_field")
    field("portal as a number", "portal", 7, "invalid_field")
    field("program as a number", "program", 2025, "invalid_field")
    field("program as an object", "program", {"id": BPP}, "invalid_field")
    field("worker as a string", "worker", "6471054506900002", "invalid_field")
    field("worker as an array", "worker", [], "invalid_field")
    field("a 16-digit NIK as a number", "worker.nik", 6471054506900002, "invalid_nik")
    field("a NIK as a float", "worker.nik", 6.471054506900002e15, "invalid_nik")
    field("a NIK in an array", "worker.nik", ["6471054506900002"], "invalid_nik")
    field("name as a number", "worker.name", 123, "invalid_field")
    field("birth_date as a number", "worker.birth_date", 19900605, "invalid_field")
    field("sex as a number", "worker.sex", 0, "invalid_field")
    field("sex as true", "worker.sex", True, "invalid_field")
    field("phone as a number", "worker.phone", 6281234567890, "invalid_field")
    field("occupation as a number", "worker.occupation", 1, "invalid_field")
    field("disability as a string", "worker.disability", "yes", "invalid_field")
    field("head_of_household as a string", "worker.head_of_household", "true",
          "invalid_field")
    field("head_of_household as a number", "worker.head_of_household", 1, "invalid_field")
    field("reason as a number", "reason", 1, "invalid_field", etype="enrollment.withdrawn")

    # Duplicate keys.
    add("event_id twice", good.replace(b'"schema":', b'"event_id":"hostile:d1","schema":', 1),
        "duplicate_key")
    add("worker.nik twice", good.replace(b'"nik":', b'"nik":"6471054506900002","nik":', 1),
        "duplicate_key")
    add("the same key spelled with an escape", good.replace(
        b'"nik":', b'"n\\u0069k":"6471054506900002","nik":', 1), "duplicate_key")
    add("a key repeated deep in an unknown member",
        good.replace(b'"schema":', b'"x":[{"y":{"a":1,"a":2}}],"schema":', 1),
        "duplicate_key")

    # NUL.
    add("a NUL byte in a string", good.replace(b'"hostile-portal"', b'"hostile\x00portal"'),
        "malformed_json", "")
    add("a NUL byte after the object", good + b"\x00", "malformed_json", "")
    add("\\u0000 in a name", changed("hostile:n1", "worker.name", "Siti\u0000Aminah"),
        "malformed_json", "")
    add("\\u0000 as a whole value", changed("hostile:n2", "worker.occupation", "\u0000"),
        "malformed_json", "")

    # Empty, NULL, and not an object.
    add("an empty value", b"", "malformed_json")
    add("a NULL value (tombstone)", None, "malformed_json")
    add("a NULL key and a value that is not JSON", b"not json", "malformed_json", key=None)
    add("only whitespace", b" \t\r\n", "malformed_json")
    add("null", b"null", "malformed_json")
    add("a number", b"6471054506900002", "malformed_json")
    add("a string", b'"enrollment/v1"', "malformed_json")
    add("an array of one valid event", b"[" + good + b"]", "malformed_json")
    add("truncated", good[: len(good) // 2], "malformed_json")
    add("a comment", good.replace(b'{"schema"', b'{/* hi */"schema"', 1), "malformed_json")
    add("a single-quoted string", good.replace(b'"hostile-portal"', b"'hostile-portal'"),
        "malformed_json")
    add("a bad escape", good.replace(b'"hostile-portal"', b'"hostile\\xportal"'),
        "malformed_json")

    # Lone surrogates.
    add("a lone high surrogate \\ud800", changed("hostile:s1", "worker.name", "X").replace(
        b'"X"', b'"Siti \\ud800 Aminah"'), "malformed_json")
    add("a lone low surrogate \\udc00", changed("hostile:s2", "worker.name", "X").replace(
        b'"X"', b'"\\udc00"'), "malformed_json")
    add("a high surrogate then a letter", changed("hostile:s3", "worker.name", "X").replace(
        b'"X"', b'"\\ud800\\u0041"'), "malformed_json")

    # Not one JSON text: the daemon must not take what a stricter reader
    # would refuse.
    add("a byte order mark before a valid event", b"\xef\xbb\xbf" + dumps(
        base("hostile:bom")), "malformed_json")
    add("a valid event, then garbage", dumps(base("hostile:trail")) + b" garbage",
        "malformed_json")
    add("two valid events in one message",
        dumps(base("hostile:two1")) + dumps(base("hostile:two2")), "malformed_json")
    add("a raw control character in a string", changed(
        "hostile:ctl", "worker.name", "X").replace(b'"X"', b'"Siti\x01Aminah"'),
        "malformed_json")

    # Extremely long strings in every field.
    long_text = "A" * LONG
    field("a long schema", "schema", long_text, "unsupported_schema")
    field("a long event_id", "event_id", "a" * LONG, "invalid_event_id", keeps_id=False)
    field("event_id of 129 characters", "event_id", "a" * 129, "invalid_event_id",
          keeps_id=False)
    field("a long type", "type", long_text, "invalid_type")
    field("a long occurred_at", "occurred_at", "2025-01-06T08:15:00." + "1" * LONG + "Z",
          "invalid_field")
    field("a long portal", "portal", long_text, "invalid_field")
    field("a long program", "program", long_text, "invalid_field")
    field("program of 65 characters", "program", "P" * 65, "invalid_field")
    field("a long NIK", "worker.nik", "6" * LONG, "invalid_nik")
    field("a long name", "worker.name", long_text, "invalid_field")
    field("name of 101 two-byte characters", "worker.name", "\u00e9" * 101, "invalid_field")
    field("a long birth_date", "worker.birth_date", long_text, "invalid_field")
    field("a long sex", "worker.sex", long_text, "invalid_field")
    field("a long phone", "worker.phone", "6" * LONG, "invalid_field")
    field("a long occupation", "worker.occupation", long_text, "invalid_field")
    field("a long reason", "reason", long_text, "invalid_field", etype="enrollment.withdrawn")
    field("a long name of four-byte characters", "worker.name", "\U0001F600" * 16000,
          "invalid_field")
    return c


def accepted_cases():
    """Valid events at the limits: each must be confirmed, then registered."""
    out = []
    out.append(("exactly 65536 bytes", padded("limit:64k", 65536)))
    e = base("limit:name100")
    e["worker"]["name"] = "\u00e9" * 100  # 200 bytes: bpjs-mock takes at most 256
    out.append(("a name of 100 two-byte characters", dumps(e)))
    e = base("limit:pair")
    e["worker"]["name"] = "Siti \U0001F600 Aminah"
    out.append(("a surrogate pair escaped", json.dumps(e).encode()))  # ensure_ascii
    e = base("limit:id128")
    e["event_id"] = "i" * 128
    out.append(("event_id of 128 characters", dumps(e)))
    e = base("limit:nullkey")
    out.append(("a NULL key", dumps(e)))
    return out


def normal_events(n, prefix):
    return [(f"{prefix}:{i}", dumps(base(f"{prefix}:{i}"))) for i in range(n)]


# ---------------------------------------------------------------------------

def _results_by_offset(kafka):
    by = collections.defaultdict(list)
    for row in kafka.consume(RESULTS):
        r = json.loads(row["value"])
        if r.get("source"):
            by[r["source"]["offset"]].append((row, r))
    return by


def _finals(kafka):
    out = collections.defaultdict(list)
    for row in kafka.consume(RESULTS):
        r = json.loads(row["value"])
        out[r["event_id"]].append(r["status"])
    return out


def _wait_count(kafka, topic, count, timeout):
    try:
        return kafka.consume(topic, expect=count, timeout=timeout)
    except WaitTimeout:
        return kafka.consume(topic)


def check_rejections(cases, first_offset, kafka, dlq_rows, result_schema, dlq_schema):
    """Returns the list of mismatches (case, expected, got)."""
    by_offset = _results_by_offset(kafka)
    dlq_by_offset = collections.defaultdict(list)
    for d in dlq_rows:
        dlq_by_offset[int(d["headers"].get("source_offset", b"-1"))].append(d)
    bad = []
    for i, case in enumerate(cases):
        off = first_offset + i
        want = f"rejected {case.reason}" + (f" ({case.detail})" if case.detail else "")
        rs = by_offset.get(off, [])
        if len(rs) != 1:
            bad.append((case.name, want, f"{len(rs)} results: {[r for _, r in rs]}"))
            continue
        row, r = rs[0]
        got = f"{r['status']} {r['reason'] or ''}".strip() + (
            f" ({r['detail']})" if r.get("detail") else "")
        if got != want:
            bad.append((case.name, want, got))
            continue
        problems = errors(r, result_schema)
        if problems:
            bad.append((case.name, "a result conforming to the schema", problems))
        if r["event_id"] != case.event_id:
            bad.append((case.name, f"event_id {case.event_id}", f"event_id {r['event_id']}"))
        if r["nik"] is None and row["key"] != case.key:
            bad.append((case.name, f"result key {case.key!r}", f"{row['key']!r}"))
        ds = dlq_by_offset.get(off, [])
        if len(ds) != 1:
            bad.append((case.name, "one dead letter", f"{len(ds)} dead letters"))
            continue
        d = ds[0]
        headers = {n: (v or b"").decode("utf-8") for n, v in d["headers_list"]}
        problems = errors(headers, dlq_schema)
        if problems or headers.get("reason") != case.reason or \
                headers.get("detail") != case.detail:
            bad.append((case.name, f"dead-letter headers {case.reason} {case.detail!r}",
                        f"{headers} {problems}"))
        if (d["value"] or b"") != (case.value or b""):
            got_v = d["value"] if d["value"] is None else d["value"][:60]
            bad.append((case.name, "the original value in the dead letter",
                        f"{got_v!r} ({len(d['value'] or b'')} bytes)"))
        if d["key"] != case.key:
            bad.append((case.name, f"dead-letter key {case.key!r}", f"{d['key']!r}"))
    return bad


def test_hostile_events_are_rejected_and_the_pipeline_goes_on():
    result_schema = load_schema(RESULT_SCHEMA)
    dlq_schema = load_schema(DLQ_SCHEMA)
    event_schema = load_schema(EVENT_SCHEMA)
    cases = hostile_cases()
    accepted = accepted_cases()
    after = normal_events(5, "after")
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"

    # What the schema sees of them: every hostile value is refused by the
    # event schema and the wire rules, every accepted one conforms.
    schema_misses = [c.name for c in cases
                     if c.value is not None and not event_problems(c.value, event_schema)]
    assert not schema_misses, f"the event schema accepts: {schema_misses}"
    for name, value in accepted:
        assert not event_problems(value, event_schema), (name, event_problems(
            value, event_schema))

    messages = [(c.key, c.value, 0) for c in cases]
    messages += [(None if "NULL key" in name else KEY, v, 0) for name, v in accepted]
    messages += [(KEY, v, 0) for _, v in after]
    total = sum(len(v or b"") for _, v, _ in messages)
    assert total < 5 * 1024 * 1024 - 65536, f"{total} bytes: over the mock's partition"

    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                             endpoint.secret_file, env.path("journal.db")))
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for_log("daemon", "assigned", timeout=30)
        kafka.produce(EVENTS, messages, timeout=60)

        want = len(cases) + 2 * (len(accepted) + len(after))
        _wait_count(kafka, RESULTS, want, timeout=120)
        time.sleep(1.0)  # nothing more may come
        dlq_rows = _wait_count(kafka, DLQ, len(cases), timeout=10)
        bad = check_rejections(cases, 0, kafka, dlq_rows, result_schema, dlq_schema)

        finals = _finals(kafka)
        for name, value in accepted:
            eid = json.loads(value)["event_id"]
            if sorted(finals.get(eid, [])) != ["confirmed", "registered"]:
                bad.append((name, "confirmed, registered", finals.get(eid)))
        for eid, _ in after:
            if sorted(finals.get(eid, [])) != ["confirmed", "registered"]:
                bad.append((f"valid event {eid} after the hostile ones",
                            "confirmed, registered", finals.get(eid)))
        extra = len(kafka.consume(RESULTS)) - want
        if extra:
            bad.append(("the whole table", f"{want} results", f"{want + extra}"))

        assert daemon.running, "the daemon died:\n" + env.log("daemon")[-4000:]
        assert not env.log_contains("daemon", r"runtime error|Sanitizer"), env.log("daemon")
        assert not bad, "hostile events handled wrongly (case, expected, got):\n" + \
            "\n".join(f"  {b}" for b in bad)

        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, env.log("daemon")[-4000:]


def test_a_message_over_kafkas_default_limit_does_not_stall_the_pipeline():
    """A value of 1,040,000 bytes fits a default Kafka broker (message.max.bytes
    1048588) but not a default librdkafka producer (1000000), the daemon's
    own included. It is rejected as too_large like any other and
    dead-lettered, and the results of the events after it still arrive."""
    result_schema = load_schema(RESULT_SCHEMA)
    dlq_schema = load_schema(DLQ_SCHEMA)
    case = Case("a value of 1,040,000 bytes", padded("hostile:huge", 1040000), "too_large")
    after = normal_events(3, "after-huge")
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                             endpoint.secret_file, env.path("journal.db")))
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        kafka.produce(EVENTS, [(case.key, case.value, 0)] + [(KEY, v, 0) for _, v in after],
                      timeout=60)
        produced = kafka.consume(EVENTS, expect=1 + len(after))
        assert len(produced[0]["value"]) == len(case.value), "the mock cut the message"

        want = 1 + 2 * len(after)
        _wait_count(kafka, RESULTS, want, timeout=60)
        dlq_rows = _wait_count(kafka, DLQ, 1, timeout=10)
        bad = check_rejections([case], 0, kafka, dlq_rows, result_schema, dlq_schema)
        finals = _finals(kafka)
        for eid, _ in after:
            if sorted(finals.get(eid, [])) != ["confirmed", "registered"]:
                bad.append((f"valid event {eid} after it", "confirmed, registered",
                            finals.get(eid)))
        assert daemon.running, env.log("daemon")[-4000:]
        assert not bad, "(case, expected, got):\n" + "\n".join(f"  {b}" for b in bad) + \
            "\n--- daemon log ---\n" + "\n".join(env.log("daemon").splitlines()[-15:])
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(20) == 0, env.log("daemon")[-4000:]


if __name__ == "__main__":
    run_tests(globals())
