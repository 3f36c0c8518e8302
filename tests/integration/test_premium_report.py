"""bpjs-syncctl report (issue 14): the premium report of a journal the daemon
wrote on the mock cluster, with registrations answered registered and
already_registered, failed ones, and one still pending; checked against
premium_model.py (an independent model of the rules), the premium-report/v1
schema, the CSV for the spreadsheet and the table; options and exit codes;
a programme no longer configured; and no NIK anywhere."""

import csv
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SOURCE_DIR, Env, run_tests, wait_for  # noqa: E402
from dataset import BPP, KALTIM, PROGRAMS, daemon_config, event  # noqa: E402
from jsonschema_lite import check_schema, errors, load_schema  # noqa: E402
from test_pipeline import EVENTS, TOPICS, run_daemon  # noqa: E402
from test_syncctl import (EX_CONFIG, EX_DATAERR, EX_USAGE, SUBMITTED,  # noqa: E402
                          Ctl, final_results, messages, no_full_nik, results,
                          wait_settled, workers)
import premium_model  # noqa: E402

SCHEMA = os.path.join(SOURCE_DIR, "docs", "schemas", "premium-report.v1.schema.json")
MONTHLY = 16800


def report(ctl, *args, expect=0):
    r = ctl.run("report", *args, expect=expect)
    no_full_nik(r.out + r.err)
    return r


def test_report_of_a_daemon_journal():
    ws = workers(41, 6)                          # BPP, January: answered
    ks = workers(42, 2, first=300)               # KALTIM: the endpoint fails them
    late = workers(43, 1, first=500)             # BPP: never answered
    k_events = [event(f"kaltim-portal:2025-01-07:{i:06d}", SUBMITTED, KALTIM, w)
                for i, w in enumerate(ks)]
    b_events = [event(f"bpp-portal:2025-01-08:{i:06d}", SUBMITTED, BPP, w)
                for i, w in enumerate(ws)]
    p_events = [event("bpp-portal:2025-01-09:000001", SUBMITTED, BPP, late[0])]
    schema = load_schema(SCHEMA)
    check_schema(schema)
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--fail-400", "100"])
        cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                             endpoint.secret_file, env.path("journal.db"),
                                             programs=PROGRAMS, batch_size=8))
        ctl = Ctl(cfg)
        # a self-registered worker: the endpoint answers already_registered
        endpoint._json("POST", "/_mock/participants", {"add": [{"nik": ws[0].nik}]})

        # 1. The province's registrations fail for good (400).
        kafka.produce(EVENTS, messages(k_events))
        run_daemon(env, cfg)
        wait_settled(ctl, "the province's batches failed", timeout=120, failed_items=2)

        # 2. The city's are answered.
        endpoint.faults(fail_400=0)
        kafka.produce(EVENTS, messages(b_events))
        wait_for(lambda: len(final_results(kafka, "registered")) == 5 and
                 len(final_results(kafka, "already_registered")) == 1, 120,
                 "the city's six answered")
        wait_settled(ctl, "nothing in flight", timeout=120, failed_items=2)

        # 3. The endpoint goes down: one more stays pending.
        endpoint.faults(down=True)
        kafka.produce(EVENTS, messages(p_events))
        wait_for(lambda: any(r["event_id"] == p_events[0]["event_id"] and
                             r["status"] == "confirmed" for r in results(kafka)),
                 120, "the late one confirmed")

        answers = {e["event_id"]: "failed" for e in k_events}
        answers.update({e["event_id"]: "registered" for e in b_events})
        answers[b_events[0]["event_id"]] = "already_registered"
        want = premium_model.report(PROGRAMS, k_events + b_events + p_events, answers)

        # --json: the model's object exactly, valid by the schema
        got = ctl.one("report")
        assert not errors(got, schema), errors(got, schema)
        assert got == want, (got, want)
        city = {p["program"]: p for p in got["programs"]}[BPP]
        assert (city["used"], city["committed"], city["premium_total"]) == \
            (7, 7 * 12 * MONTHLY, 6 * 12 * MONTHLY), city
        assert {(m["workers"], m["pending"]) for m in city["months"]} == {(6, 1)}, city
        assert city["budget"] is None and city["remaining"] is None, city
        province = {p["program"]: p for p in got["programs"]}[KALTIM]
        assert (province["used"], province["committed"], province["premium_total"]) == \
            (0, 0, 0), province
        assert [p["program"] for p in got["programs"]] == [p["id"] for p in PROGRAMS], got
        assert "unconfigured" not in got, got

        # --csv: one row a programme and month, the same figures
        r = report(ctl, "--csv")
        assert r.out.startswith("program,month,workers,pending,premium\r\n"), r.out[:80]
        assert "\n" not in r.out.replace("\r\n", ""), "every line ends in CRLF"
        rows = list(csv.reader(io.StringIO(r.out, newline="")))
        assert rows[0] == ["program", "month", "workers", "pending", "premium"], rows[0]
        assert rows[1:] == [[p["program"], m["month"], str(m["workers"]), str(m["pending"]),
                             str(m["premium"])]
                            for p in want["programs"] for m in p["months"]], rows

        # the table: amounts for people
        r = report(ctl)
        assert "BPP-DIFABEL-2025 (city 6471)" in r.out, r.out
        assert "  committed        Rp1,411,200\n" in r.out, r.out
        assert "  2025-01        6        1       100,800\n" in r.out, r.out
        assert "  total                         1,209,600\n" in r.out, r.out

        # --program: that programme only; an unknown one is bad data
        only = ctl.one("report", "--program", BPP)
        assert only["programs"] == [city], only
        r = report(ctl, "--program", "NO-SUCH-PROGRAM", expect=EX_DATAERR)
        assert "no programme 'NO-SUCH-PROGRAM' in the configuration" in r.err, r.err
        assert BPP in r.err and r.out == "", (r.out, r.err)
        r = report(ctl, "--json", "--csv", expect=EX_USAGE)
        assert "--json and --csv are exclusive" in r.err, r.err
        r = report(ctl, "--program", expect=EX_USAGE)
        # the premiums, budgets and periods are the configuration's: --journal
        # alone is not enough
        r = ctl.run("--journal", env.path("journal.db"), "report", config=False,
                    expect=EX_CONFIG)
        assert "needs the programmes' configuration: give --config FILE" in r.err, r.err

        # a programme dropped from the configuration is counted, not priced,
        # and said so on stderr
        cfg2 = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                              endpoint.secret_file, env.path("journal.db"),
                                              programs=[p for p in PROGRAMS
                                                        if p["id"] != BPP]),
                                name="without-bpp.yaml")
        r = report(Ctl(cfg2), "--json")
        got2 = json.loads(r.out)
        assert not errors(got2, schema), errors(got2, schema)
        assert got2["unconfigured"] == [{"program": BPP, "used": 7, "workers": 6,
                                         "pending": 1}], got2
        assert [p["program"] for p in got2["programs"]] == \
            [p["id"] for p in PROGRAMS if p["id"] != BPP], got2
        assert f"programme {BPP} is in the journal but not in the configuration" in r.err, \
            r.err


if __name__ == "__main__":
    run_tests(globals())
