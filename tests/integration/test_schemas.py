"""What portals are promised, checked by schema (issue 7).

Every result the daemon publishes conforms to
docs/schemas/enrollment-result.v1.schema.json, and every dead letter's
headers to docs/schemas/dead-letter-headers.v1.schema.json, over a whole run
of the data set plus the statuses it does not produce by itself (failed,
deactivated not_found). The events of the data set conform to
docs/schemas/enrollment-event.v1.schema.json when they are valid and do not
when they are not, wherever a schema can express the rule; and the JSON
examples of docs/integration.md conform to their schemas.
"""

import collections
import json
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, Env, WaitTimeout, bin_path, run_tests  # noqa: E402
from dataset import (BPP, QUOTA_PROGRAM, Worker, daemon_config, event,  # noqa: E402
                     generate, model)
from jsonschema_lite import check_schema, errors, load_schema  # noqa: E402

SCHEMA_DIR = os.path.join(SOURCE_DIR, "docs", "schemas")
EVENT_SCHEMA = os.path.join(SCHEMA_DIR, "enrollment-event.v1.schema.json")
RESULT_SCHEMA = os.path.join(SCHEMA_DIR, "enrollment-result.v1.schema.json")
DLQ_SCHEMA = os.path.join(SCHEMA_DIR, "dead-letter-headers.v1.schema.json")
REPORT_SCHEMA = os.path.join(SCHEMA_DIR, "premium-report.v1.schema.json")
INTEGRATION_DOC = os.path.join(SOURCE_DIR, "docs", "integration.md")
FINANCE_DOC = os.path.join(SOURCE_DIR, "docs", "finance.md")

TOPICS = {"enrollment.events": 4, "enrollment.results": 4, "enrollment.events.dlq": 1}
EVENTS, RESULTS, DLQ = TOPICS
EVENT_MAX_BYTES = 64 * 1024

# Rejections that need more than the event to find: a cross-field rule on the
# NIK, or the daemon's configuration. An event that breaks only one of these
# conforms to the event schema.
BEYOND_SCHEMA = {"nik_birth_date_mismatch", "nik_sex_mismatch", "unknown_program",
                 "quota_exceeded"}
# Rejections decided on the programme's rules, of well-formed events: no
# dead letter, and no invalid event of the dataset stands for them.
DECIDED = {"program_closed", "not_eligible", "quota_exceeded", "budget_exceeded"}


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise _DuplicateKey("an object repeats a key")
    return dict(pairs)


def _lone_surrogate(v):
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(v, dict):
        return any(_lone_surrogate(k) or _lone_surrogate(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_lone_surrogate(x) for x in v)
    return False


def wire_problems(value):
    """What the daemon checks of a message's bytes before any schema applies
    (docs/integration.md, "The value"). Returns (object or None, problems)."""
    if value is None:
        return None, ["no value"]
    if len(value) > EVENT_MAX_BYTES:
        return None, [f"{len(value)} bytes, more than {EVENT_MAX_BYTES}"]
    try:
        text = value.decode("utf-8")  # strict; a BOM stays a character
    except UnicodeDecodeError as e:
        return None, [f"not UTF-8: {e}"]
    if "\0" in text:
        return None, ["a NUL byte"]
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        return None, [str(e)]
    except (ValueError, RecursionError) as e:  # includes a leading BOM
        return None, [f"not JSON: {e}"]
    if not isinstance(obj, dict):
        return None, ["not a JSON object"]
    if "\\u0000" in text or _lone_surrogate(obj):
        return None, ["\\u0000 or a lone surrogate"]
    return obj, []


def event_problems(value, schema):
    """Every reason the event schema (and the wire rules) refuse value."""
    obj, problems = wire_problems(value)
    return problems if obj is None else errors(obj, schema)


def doc_examples(path=INTEGRATION_DOC):
    """The ```json blocks of a document, parsed (a block may hold one value
    or one value per line)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            out.append(json.loads(block))
        except ValueError:
            out += [json.loads(line) for line in block.splitlines() if line.strip()]
    return out


# ---------------------------------------------------------------------------

def codes_of_reason_c():
    with open(os.path.join(SOURCE_DIR, "common", "reason.c"), encoding="utf-8") as f:
        return set(re.findall(r'\[REASON_[A-Z0-9_]+\] =\s*\{"([a-z0-9_]+)"', f.read()))


def test_schema_files_and_doc_examples():
    schemas = {p: load_schema(p) for p in (EVENT_SCHEMA, RESULT_SCHEMA, DLQ_SCHEMA)}
    for s in schemas.values():
        check_schema(s)
    # the reason codes of the schemas are those of common/reason.c
    with open(os.path.join(SOURCE_DIR, "common", "reason.c"), encoding="utf-8") as f:
        codes = set(re.findall(r'\[REASON_[A-Z0-9_]+\] =\s*\{"([a-z0-9_]+)"', f.read()))
    assert len(codes) == 17, codes
    result_codes = set(schemas[RESULT_SCHEMA]["$defs"]["reason_code"]["enum"])
    dlq_codes = set(schemas[DLQ_SCHEMA]["properties"]["reason"]["enum"])
    assert result_codes == codes, result_codes ^ codes
    assert dlq_codes == codes - DECIDED, dlq_codes ^ codes

    examples = doc_examples()
    kinds = collections.Counter()
    for ex in examples:
        kind = ex.get("schema") if isinstance(ex, dict) else None
        if kind == "enrollment/v1":
            value = json.dumps(ex).encode()
            assert not event_problems(value, schemas[EVENT_SCHEMA]), (ex, event_problems(
                value, schemas[EVENT_SCHEMA]))
        elif kind == "enrollment-result/v1":
            assert not errors(ex, schemas[RESULT_SCHEMA]), (ex, errors(ex, schemas[RESULT_SCHEMA]))
        elif isinstance(ex, dict) and "source_offset" in ex:
            assert not errors(ex, schemas[DLQ_SCHEMA]), (ex, errors(ex, schemas[DLQ_SCHEMA]))
        else:
            continue
        kinds[kind or "dead-letter headers"] += 1
    assert kinds["enrollment/v1"] >= 2 and kinds["enrollment-result/v1"] >= 4, kinds
    assert kinds["dead-letter headers"] >= 1, kinds


def test_premium_report_schema_and_doc_examples():
    """bpjs-syncctl report --json (docs/finance.md): the schema is one this
    validator fully checks, the page's example conforms and adds up, and
    what the report must never print does not conform."""
    schema = load_schema(REPORT_SCHEMA)
    check_schema(schema)
    examples = [ex for ex in doc_examples(FINANCE_DOC)
                if isinstance(ex, dict) and ex.get("schema") == "premium-report/v1"]
    assert len(examples) == 1, examples
    report = examples[0]
    assert not errors(report, schema), errors(report, schema)
    for p in report["programs"]:
        assert len(p["months"]) == 12, p
        assert all(m["premium"] == m["workers"] * p["monthly_premium"]
                   for m in p["months"]), p
        assert p["premium_total"] == sum(m["premium"] for m in p["months"]), p
        assert p["remaining"] == p["budget"] - p["committed"], p

    program = report["programs"][0]
    bad = {
        "an amount as a string": dict(program, committed="1403136000"),
        "an amount with a fraction": dict(program, premium_total=1.5),
        "no budget member": {k: v for k, v in program.items() if k != "budget"},
        "a month not YYYY-MM": dict(program, months=[dict(program["months"][0],
                                                          month="2025-13")]),
        "a member not documented": dict(program, nik="6471054506900002"),
        "a payer level not city or province": dict(program, payer={"level": "kabupaten",
                                                                   "region": "6471"}),
    }
    for what, p in bad.items():
        assert errors({"schema": "premium-report/v1", "programs": [p]}, schema), what
    assert errors({"schema": "premium-report/v2", "programs": []}, schema)
    assert not errors({"schema": "premium-report/v1", "programs": [],
                       "unconfigured": [{"program": "OLD-2024", "used": 0, "workers": 3,
                                         "pending": 0}]}, schema)


def test_dataset_events_against_the_event_schema():
    schema = load_schema(EVENT_SCHEMA)
    ds = generate()
    for e in ds.valid:
        value = json.dumps(e, separators=(",", ":")).encode()
        assert not event_problems(value, schema), (e, event_problems(value, schema))
    checked = collections.Counter()
    for reason, _, value in ds.invalid:
        problems = event_problems(value, schema)
        if reason in BEYOND_SCHEMA:
            # the schema cannot see these; the daemon's result says it
            assert not problems, (reason, value[:200], problems)
        else:
            assert problems, (reason, value[:200])
        checked[reason] += 1
    assert set(checked) == codes_of_reason_c() - DECIDED, checked  # every other reason


# ---------------------------------------------------------------------------

def _results(kafka):
    return [json.loads(r["value"]) for r in kafka.consume(RESULTS)]


def _wait_results(kafka, count, timeout=120):
    try:
        kafka.consume(RESULTS, expect=count, timeout=timeout)
    except WaitTimeout:
        pass  # the assertions below say what is missing
    return _results(kafka)


def _wait_status(kafka, event_id, status, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rs = [r for r in _results(kafka) if r["event_id"] == event_id]
        if any(r["status"] == status for r in rs):
            return rs
        time.sleep(0.3)
    raise WaitTimeout(f"no {status} result for {event_id}: "
                      f"{[r for r in _results(kafka) if r['event_id'] == event_id]}")


def test_every_result_and_dead_letter_conforms():
    result_schema = load_schema(RESULT_SCHEMA)
    dlq_schema = load_schema(DLQ_SCHEMA)
    ds = generate()
    expect, _ = model(ds)
    firsts = len(expect) + len(ds.quota_ids) + len(ds.invalid)
    finals = sum(1 for e in expect.values() if e[2]) + QUOTA_PROGRAM["quota"]
    rng = random.Random(77)

    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                             endpoint.secret_file, env.path("journal.db")))
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        got = _wait_results(kafka, firsts + finals)
        assert len(got) == firsts + finals, (len(got), firsts + finals)

        # The statuses the data set does not produce. A batch the endpoint
        # refuses for good (400): failed, with the daemon's reason.
        endpoint.faults(fail_400=100)
        w = Worker(rng, "6471", 9001)
        refused = event("schema-portal:failed:1", "enrollment.submitted", BPP, w)
        kafka.produce(EVENTS, [(w.nik, refused, None)])
        _wait_status(kafka, refused["event_id"], "failed")
        endpoint.faults(fail_400=0)

        # A withdrawal the endpoint cannot match (it lost the participant):
        # deactivated, reason not_found.
        active = endpoint.state()["active"]
        gone = next(a for a in active if a["program"] == BPP)
        status, body = endpoint.request("POST", "/_mock/participants",
                                        {"remove": [gone["nik"]]})
        assert status == 200, body
        lost = Worker(rng, "6471", 9002)
        lost.nik = gone["nik"]
        withdrawn = event("schema-portal:withdrawn:1", "enrollment.withdrawn", BPP, lost)
        kafka.produce(EVENTS, [(lost.nik, withdrawn, None)])
        rs = _wait_status(kafka, withdrawn["event_id"], "deactivated")
        assert any(r["reason"] == "not_found" for r in rs), rs

        rows = kafka.consume(RESULTS)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        assert daemon.running, env.log("daemon")

    # Every result conforms, and every status occurred.
    statuses = collections.Counter()
    bad = []
    for row in rows:
        r = json.loads(row["value"])
        problems = errors(r, result_schema)
        if problems:
            bad.append((r, problems))
        statuses[r["status"]] += 1
        # the key is the NIK whenever the result names one
        if r["nik"]:
            assert row["key"] == r["nik"].encode(), (row["key"], r)
    assert not bad, f"{len(bad)} result(s) do not conform, e.g. {bad[:3]}"
    assert set(statuses) == {"confirmed", "duplicate", "rejected", "ignored", "registered",
                             "already_registered", "failed", "deactivated"}, statuses
    assert len(rows) == firsts + finals + 4, (len(rows), firsts + finals + 4)

    # Every dead letter's headers conform, each header once, and each dead
    # letter matches the rejected result of the same message.
    originals = {(k, v) for _, k, v in ds.invalid}
    rejected = {(r["source"]["topic"], r["source"]["partition"], r["source"]["offset"]): r
                for r in map(lambda row: json.loads(row["value"]), rows)
                if r["status"] == "rejected"}
    assert len(dlq) == len(ds.invalid), (len(dlq), len(ds.invalid))
    for d in dlq:
        names = [n for n, _ in d["headers_list"]]
        assert len(names) == len(set(names)), names
        headers = {n: (v.decode("utf-8") if v is not None else None)
                   for n, v in d["headers_list"]}
        problems = errors(headers, dlq_schema)
        assert not problems, (headers, problems)
        # the original key and value (an empty value comes back null)
        assert (d["key"], d["value"] or b"") in originals, (d["key"], (d["value"] or b"")[:200])
        where = (headers["source_topic"], int(headers["source_partition"]),
                 int(headers["source_offset"]))
        r = rejected.get(where)
        assert r is not None, (where, "no rejected result for this dead letter")
        assert r["reason"] == headers["reason"], (r, headers)
        assert (r.get("detail") or "") == headers["detail"], (r, headers)


if __name__ == "__main__":
    run_tests(globals())
