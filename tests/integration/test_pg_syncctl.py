"""bpjs-syncctl on a PostgreSQL journal (issue 16): a daemon journals in a
private PostgreSQL server (harness.Postgres) while the endpoint fails every
batch for good (400); the operator's verbs (status, batches, batch show,
worker, dead-letters, audit, replay --dry-run, replay, report) read and
change that journal as they do a SQLite one, masking every NIK unless
--reveal; and a replay sends each failed batch again under its own
Idempotency-Key with a byte-identical body, which the endpoint registers
once. A recording proxy between the daemon and the mock endpoint keeps
every request's key and body."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, RecordingProxy, bin_path, run_tests, wait_for  # noqa: E402
from dataset import BPP, KALTIM, QUOTA_PROGRAM, daemon_config, event  # noqa: E402
from test_pipeline import TOPICS, EVENTS, run_daemon  # noqa: E402
from test_syncctl import (EX_DATAERR, MASKED_NIK, OPERATOR, SUBMITTED, Ctl,  # noqa: E402
                          final_results, messages, no_full_nik, quota_of, wait_settled,
                          workers)



def batches(proxy):
    """The batch requests so far: (Idempotency-Key, body), in order."""
    return [(r["key"], r["body"]) for r in proxy.rows()
            if r["method"] == "POST" and r["key"]]


def test_every_verb_on_a_postgresql_journal():
    ws = workers(61, 12)
    events = [event(f"bpp-portal:2025-05-01:{i:06d}", SUBMITTED, BPP, w)
              for i, w in enumerate(ws)]
    bad = event("bpp-portal:2025-05-01:900001", SUBMITTED, BPP, ws[0])
    bad["worker"]["nik"] = "1234"
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--fail-400", "100"])
        with RecordingProxy(endpoint.url) as proxy:
            cfg = daemon_config(kafka.bootstrap, proxy.url, endpoint.secret_file, None,
                                batch_size=5)
            cfg["journal"] = {"url": pg.create_database("ctl"),
                              "password_file": pg.password_file}
            cfg = env.write_config(cfg, "ctl.yaml")
            ctl = Ctl(cfg)
            kafka.produce(EVENTS, messages(events + [bad]))
            run_daemon(env, cfg)

            # 1. Every batch fails for good: status and batches say so.
            st = wait_settled(ctl, "every batch failed", timeout=120, failed_items=12)
            n = st["batches"]["failed"]
            assert n == 3 and st["batches"]["done"] == 0, st
            assert "400" in st["last_error"]["error"], st
            assert st["last_error"]["batch"].startswith("b-" + st["journal_id"] + "-"), st
            assert quota_of(st, BPP) == (0, 10000), st
            failed = ctl.lines("batches", "--state", "failed")
            assert [b["items"] for b in failed] == [5, 5, 2], failed
            assert all(b["programs"] == BPP and b["kind"] == "registrations"
                       for b in failed), failed
            assert all(re.fullmatch(rf"b-{st['journal_id']}-\d{{12}}", b["batch"])
                       for b in failed), failed
            assert ctl.lines("batches", "--state", "done") == []
            assert ctl.lines("batches", "--program", KALTIM) == []
            assert len(ctl.lines("batches", "--since", "1h", "--program", BPP)) == n
            assert ctl.lines("batches", "--since", "2999-01-01") == []
            sent = batches(proxy)
            assert len(sent) >= n, sent
            first_body = {}
            for key, body in sent:
                first_body.setdefault(key, body)
            assert sorted(first_body) == sorted(b["batch"] for b in failed), first_body

            shown = ctl.one("batch", "show", failed[0]["batch"])
            assert ctl.one("batch", "show", str(failed[0]["id"])) == shown
            assert shown["state"] == "failed" and len(shown["items"]) == 5, shown
            assert shown["body_bytes"] == len(first_body[failed[0]["batch"]]), shown
            for it in shown["items"]:
                assert MASKED_NIK.match(it["nik"]), it
                assert it["status"] == "failed" and it["coverage"] == "failed", it
                assert it["registration_id"].startswith("r-" + st["journal_id"] + "-"), it
            ctl.run("batch", "show", "999999", expect=EX_DATAERR)

            w = ctl.one("worker", ws[0].nik)
            assert MASKED_NIK.match(w["nik"]), w
            assert [(e["status"], e["program"]) for e in w["events"]] == \
                [("confirmed", BPP)], w
            assert [c["state"] for c in w["coverage"]] == ["failed"], w
            assert [(o["kind"], o["status"]) for o in w["operations"]] == \
                [("registration", "failed")], w
            dl = ctl.lines("dead-letters")
            assert [(d["event_id"], d["reason"], d["nik"]) for d in dl] == \
                [(bad["event_id"], "invalid_nik", "*" * 16)], dl
            assert ctl.lines("dead-letters", "--reason", "quota_exceeded") == []
            assert ctl.lines("audit") == []

            # 2. A dry run says what would happen and changes nothing. (The
            # daemon publishes the results meanwhile: every batch has failed,
            # so every result is queued; compare once the outbox is empty.)
            wait_for(lambda: ctl.status()["outbox"] == 0, 60, "every result published",
                     interval=0.2)
            before = (ctl.lines("batches"), ctl.lines("audit"), ctl.status())
            n_sent = len(batches(proxy))
            plan = ctl.lines("replay", "--failed", "--dry-run")
            assert [(p["batch"], p["action"], p["replayed"], p["dry_run"])
                    for p in plan] == [(b["batch"], "resend", b["items"], True)
                                       for b in failed], plan
            human = ctl.run("replay", "--failed", "--dry-run").out
            assert "dry run, nothing changed" in human and "resend" in human, human
            time.sleep(1.0)
            assert (ctl.lines("batches"), ctl.lines("audit"), ctl.status()) == before
            assert len(batches(proxy)) == n_sent

            # 3. The endpoint is fixed; replay: each body again, under its key.
            endpoint.faults(fail_400=0)
            done = ctl.lines("replay", "--failed")
            assert [(d["batch"], d["action"]) for d in done] == \
                [(b["batch"], "resend") for b in failed], done
            st = wait_settled(ctl, "every replayed batch done", timeout=120, failed=0,
                              done=n)
            assert st["failed_items"] == 0 and st["last_error"] is None, st
            assert quota_of(st, BPP) == (12, 10000), st
            wait_for(lambda: len(final_results(kafka, "registered")) == 12, 60,
                     "12 registered results")
            resent = batches(proxy)[n_sent:]
            assert sorted(k for k, _ in resent) == sorted(first_body), resent
            for key, body in resent:
                assert body == first_body[key], (key, body, first_body[key])
            active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
            assert active == {w.nik: BPP for w in ws}, active
            stats = endpoint.stats()
            assert stats["registered"] == 12 and stats["registered_twice"] == 0, stats
            assert stats["multi_key_registration_ids"] == 0, stats

            # the replays are audited, and in each batch's history
            audit = ctl.lines("audit")
            assert [(a["who"], a["action"]) for a in audit] == [(OPERATOR, "replay")] * n
            assert all("same body, same key" in a["detail"] and "400" in a["detail"]
                       for a in audit), audit
            shown = ctl.one("batch", "show", failed[0]["batch"])
            assert shown["state"] == "done" and shown["attempts"] == 1, shown
            assert [h["who"] for h in shown["history"]] == [OPERATOR], shown
            assert all(it["status"] == "registered" and it["coverage"] == "active"
                       and re.fullmatch(r"\d{11}", it["kpj"]) for it in shown["items"])
            assert ctl.lines("replay", "--failed") == []
            r = ctl.run("replay", failed[0]["batch"], expect=EX_DATAERR)
            assert "not failed" in r.out, r.out

            # the worker, masked; revealed only on asking, and that audited
            w = ctl.one("worker", ws[1].nik)
            assert MASKED_NIK.match(w["nik"]) and ws[1].nik not in str(w), w
            assert [c["state"] for c in w["coverage"]] == ["active"], w
            assert w["operations"][0]["batch_state"] == "done", w
            w = ctl.one("worker", ws[1].nik, "--reveal")
            assert w["nik"] == ws[1].nik, w
            audit = ctl.lines("audit")
            assert audit[-1]["action"] == "reveal", audit
            assert ws[1].nik not in audit[-1]["detail"], audit
            ctl.run("worker", "6471000000000000", expect=EX_DATAERR)

            # the premium report: the 12 registered workers' months
            rep = ctl.one("report")
            bpp = {p["program"]: p for p in rep["programs"]}[BPP]
            assert bpp["used"] == 12, bpp
            assert bpp["committed"] == st["quota"][[q["program"] for q in
                                                    st["quota"]].index(BPP)]["committed"]
            assert quota_of(ctl.status(), QUOTA_PROGRAM["id"]) == \
                (0, QUOTA_PROGRAM["quota"])

            # what a person reads: tables, every NIK masked
            for args in (["status"], ["batches"], ["batch", "show", failed[0]["batch"]],
                         ["worker", ws[2].nik], ["dead-letters"], ["audit"], ["report"],
                         ["replay", "--failed", "--dry-run"]):
                out = ctl.run(*args).out
                assert out.strip() or args[0] == "replay", args
                no_full_nik(out)
            for args in (["batches"], ["batch", "show", failed[1]["batch"]],
                         ["worker", ws[3].nik], ["dead-letters"], ["audit"], ["report"]):
                no_full_nik(ctl.run(*args, "--json").out)
            assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
            assert pg.password not in env.log("daemon")


if __name__ == "__main__":
    run_tests(globals())
