"""bpjs-syncctl (issue 5): an endpoint that fails batches permanently (400)
makes them `failed`; after the endpoint is fixed, `replay` registers exactly
those workers, once; `status`, `batches` and `batch show` say so at each
step; a dry run changes nothing; every replay is audited. And the CLI run in
a tight loop beside a busy daemon never meets "database is locked" and does
not change the daemon's exact outcome."""

import json
import os
import pwd
import random
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SOURCE_DIR, Env, WaitTimeout, bin_path, run_tests,  # noqa: E402
                     wait_for)
from jsonschema_lite import errors, load_schema  # noqa: E402
from dataset import (BPP, KALTIM, PROGRAMS, QUOTA_PROGRAM, Worker,  # noqa: E402
                     daemon_config, event, generate, model)
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results, run_daemon, start)

# the audit names the real uid's user; $USER is a claim it ignores
OPERATOR = pwd.getpwuid(os.getuid()).pw_name
SUBMITTED = "enrollment.submitted"
MASKED_NIK = re.compile(r"^\d{4}\*{8}\d{4}$")
FULL_NIK = re.compile(r"(?<!\d)\d{16}(?!\d)")
EX_OK, EX_USAGE, EX_DATAERR, EX_UNAVAILABLE, EX_CONFIG = 0, 64, 65, 69, 78


class Ctl:
    """Runs bpjs-syncctl against one configuration, as an operator would."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.env = dict(os.environ, USER="on-call-test")
        self.env.pop("SUDO_USER", None)
        self.env.pop("SUDO_UID", None)

    def run(self, *args, expect=EX_OK, config=True):
        argv = [bin_path("bpjs-syncctl")] + (["--config", self.cfg] if config else [])
        r = subprocess.run(argv + [str(a) for a in args], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.env, timeout=120)
        r.out = r.stdout.decode("utf-8", "replace")
        r.err = r.stderr.decode("utf-8", "replace")
        if expect is not None:
            assert r.returncode == expect, (args, r.returncode, r.out, r.err)
        return r

    def lines(self, *args, expect=EX_OK):
        r = self.run(*args, "--json", expect=expect)
        return [json.loads(line) for line in r.out.splitlines() if line.strip()]

    def one(self, *args):
        rows = self.lines(*args)
        assert len(rows) == 1, rows
        return rows[0]

    def status(self):
        return self.one("status")


def no_full_nik(text):
    assert not FULL_NIK.search(text), f"a full NIK in the output: {text[:500]}"


def quota_of(status, program):
    return {q["program"]: (q["used"], q["quota"]) for q in status["quota"]}[program]


def workers(seed, n, region="6471", first=100):
    rng = random.Random(seed)
    return [Worker(rng, region, first + i) for i in range(n)]


def messages(events):
    return [(e["worker"]["nik"].encode(), json.dumps(e).encode(), None) for e in events]


def final_results(kafka, status):
    return [r for r in results(kafka) if r["status"] == status]


def wait_settled(ctl, what, timeout=60, **want):
    """Waits until nothing is queued, pending or in flight, and the status
    has the wanted values (failed=N, failed_items=N)."""
    def settled():
        st = ctl.status()
        b = st["batches"]
        if st["unbatched"] or b["pending"] or b["inflight"]:
            return None
        for key, value in want.items():
            have = b[key] if key in b else st[key]
            if have != value:
                return None
        return st
    return wait_for(settled, timeout, what, interval=0.2)


def setup(env, fail_400, programs=None):
    kafka = env.start_kafka(topics=TOPICS)
    endpoint = env.start_endpoint(args=["--fail-400", str(fail_400)])
    cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                                         env.path("journal.db"), programs=programs,
                                         batch_size=8))
    return kafka, endpoint, cfg, Ctl(cfg)


def test_400_failed_then_replayed_once():
    ws = workers(21, 30)
    events = [event(f"bpp-portal:2025-02-01:{i:06d}", SUBMITTED, BPP, w)
              for i, w in enumerate(ws)]
    bad = event("bpp-portal:2025-02-01:900001", SUBMITTED, BPP, ws[0])
    bad["worker"]["nik"] = "1234"
    with Env() as env:
        kafka, endpoint, cfg, ctl = setup(env, 100)
        kafka.produce(EVENTS, messages(events) +
                      [(b"portal-key", json.dumps(bad).encode(), None),
                       (b"portal-key", b"{not json", None)])
        run_daemon(env, cfg)

        # 1. Every batch fails for good (400): the journal says so.
        st = wait_settled(ctl, "every batch failed", failed_items=30)
        n_batches = st["batches"]["failed"]
        assert n_batches >= 4 and st["batches"]["done"] == 0, st
        assert "400" in st["last_error"]["error"], st
        assert st["last_error"]["batch"].startswith("b-" + st["journal_id"] + "-"), st
        assert quota_of(st, BPP) == (0, 10000), st
        assert quota_of(st, QUOTA_PROGRAM["id"]) == (0, QUOTA_PROGRAM["quota"]), st
        assert st["oldest_unsent_at"] is None, st
        wait_for(lambda: len(final_results(kafka, "failed")) == 30, 30, "30 failed results")
        # 62 results and 2 dead letters
        st = wait_for(lambda: (lambda s: s["outbox"] == 0 and s["published"] == 64 and s)(
            ctl.status()), 30, "everything published")
        assert st["consumed"] == 32, st

        failed = ctl.lines("batches", "--state", "failed")
        assert len(failed) == n_batches, failed
        assert sum(b["items"] for b in failed) == 30, failed
        for b in failed:
            assert b["state"] == "failed" and b["kind"] == "registrations", b
            assert b["programs"] == BPP and "400" in b["last_error"], b
            assert re.fullmatch(r"b-[0-9a-f]{8}-\d{12}", b["batch"]), b
        assert ctl.lines("batches", "--state", "done") == []
        assert ctl.lines("batches", "--program", KALTIM) == []
        assert len(ctl.lines("batches", "--since", "1h", "--program", BPP)) == n_batches
        assert ctl.lines("batches", "--since", "2999-01-01") == []

        first = failed[0]
        shown = ctl.one("batch", "show", first["batch"])
        assert ctl.one("batch", "show", str(first["id"])) == shown
        assert shown["state"] == "failed" and len(shown["items"]) == first["items"], shown
        for it in shown["items"]:
            assert MASKED_NIK.match(it["nik"]), it
            assert it["status"] == "failed" and it["coverage"] == "failed", it
            assert it["registration_id"].startswith("r-" + st["journal_id"] + "-"), it

        w = ctl.one("worker", ws[0].nik)
        assert MASKED_NIK.match(w["nik"]), w
        assert [(e["status"], e["program"]) for e in w["events"]] == [("confirmed", BPP)], w
        assert [c["state"] for c in w["coverage"]] == ["failed"], w
        assert [(o["kind"], o["status"]) for o in w["operations"]] == \
            [("registration", "failed")], w

        # 2. A dry run says what would happen and changes nothing.
        before = (ctl.lines("batches"), ctl.lines("audit"), ctl.status())
        requests = endpoint.stats()["requests"]
        plan = ctl.lines("replay", "--failed", "--dry-run")
        assert len(plan) == n_batches, plan
        for p in plan:
            assert p["dry_run"] and p["action"] == "resend", p
            assert p["replayed"] == p["items"] and p["not_replayed"] == [], p
        human = ctl.run("replay", "--failed", "--dry-run").out
        assert "dry run, nothing changed" in human and "resend" in human, human
        time.sleep(1.0)
        after = (ctl.lines("batches"), ctl.lines("audit"), ctl.status())
        assert after == before, (before, after)
        assert endpoint.stats()["requests"] == requests

        # 3. The endpoint is fixed; replay: the same bodies under the same keys.
        endpoint.faults(fail_400=0)
        done = ctl.lines("replay", "--failed")
        assert sorted(d["batch"] for d in done) == sorted(b["batch"] for b in failed), done
        assert all(d["action"] == "resend" and not d["dry_run"] for d in done), done
        st = wait_settled(ctl, "every replayed batch done", failed=0, done=n_batches)
        assert st["failed_items"] == 0 and st["last_error"] is None, st
        assert quota_of(st, BPP) == (30, 10000), st
        wait_for(lambda: len(final_results(kafka, "registered")) == 30, 30,
                 "30 registered results")

        # exactly those workers, each registered once
        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        assert active == {w.nik: BPP for w in ws}, active
        stats = endpoint.stats()
        assert stats["registered"] == 30 and stats["registered_twice"] == 0, stats
        assert stats["multi_key_registration_ids"] == 0, stats
        assert stats["conflicts_409"] == 0, stats
        assert stats["requests"].get("400", 0) == requests.get("400", 0), stats

        # the replays are in the audit table, and in each batch's history
        audit = ctl.lines("audit")
        assert len(audit) == n_batches, audit
        for a in audit:
            assert a["who"] == OPERATOR and a["action"] == "replay", a
            assert "same body, same key" in a["detail"] and "400" in a["detail"], a
        shown = ctl.one("batch", "show", first["batch"])
        assert shown["state"] == "done" and shown["attempts"] == 1, shown
        assert [h["who"] for h in shown["history"]] == [OPERATOR], shown
        assert all(it["status"] == "registered" and it["coverage"] == "active" and
                   re.fullmatch(r"\d{11}", it["kpj"]) for it in shown["items"]), shown

        # nothing left: a second replay is a no-op; a done batch is refused
        assert ctl.lines("replay", "--failed") == []
        r = ctl.run("replay", first["batch"], expect=EX_DATAERR)
        assert "not failed" in r.out, r.out
        ctl.run("batch", "show", "999999", expect=EX_DATAERR)
        ctl.run("batch", "show", "b-00000000-000000000001", expect=EX_DATAERR)
        ctl.run("replay", "not-a-batch", expect=EX_DATAERR)
        assert len(ctl.lines("audit")) == n_batches

        # dead letters: the rejection with an event_id, masked
        dl = ctl.lines("dead-letters")
        assert [(d["event_id"], d["reason"], d["nik"]) for d in dl] == \
            [(bad["event_id"], "invalid_nik", "*" * 16)], dl
        assert ctl.lines("dead-letters", "--reason", "quota_exceeded") == []
        text = ctl.run("dead-letters").out
        assert "without a valid event_id" in text and "enrollment.events.dlq" in text, text

        # the worker, masked, then revealed (and the reveal audited)
        w = ctl.one("worker", ws[1].nik)
        assert [c["state"] for c in w["coverage"]] == ["active"], w
        assert re.fullmatch(r"\d{11}", w["kpj"] or ""), w
        assert w["operations"][0]["batch_state"] == "done", w
        w = ctl.one("worker", ws[1].nik, "--reveal")
        assert w["nik"] == ws[1].nik, w
        audit = ctl.lines("audit")
        assert audit[-1]["action"] == "reveal" and ws[1].nik not in audit[-1]["detail"], audit
        ctl.run("worker", "6471000000000000", expect=EX_DATAERR)
        ctl.run("worker", "12345", expect=EX_DATAERR)

        # human output: tables, masked
        for args in (["status"], ["batches"], ["batch", "show", first["batch"]],
                     ["worker", ws[2].nik], ["dead-letters"], ["audit"]):
            out = ctl.run(*args).out
            assert out.strip(), args
            no_full_nik(out)
        assert re.search(rf"{BPP}\s+30/10000", ctl.run("status").out)
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"


def test_replay_rebuilds_what_no_longer_qualifies():
    """Between the failure and the replay, two workers were covered by an
    overlapping programme and a small programme's quota was partly taken
    again: their items must not be sent, the others go in new batches."""
    pilot = dict(QUOTA_PROGRAM, id="PILOT-3", quota=3)
    programs = PROGRAMS + [pilot]
    ws = workers(33, 10)
    ps = workers(34, 4, first=300)
    first = [event(f"bpp-portal:2025-03-01:{i:06d}", SUBMITTED, BPP, w)
             for i, w in enumerate(ws)]
    first += [event(f"pilot-portal:2025-03-01:{i:06d}", SUBMITTED, pilot["id"], w)
              for i, w in enumerate(ps[:3])]
    with Env() as env:
        kafka, endpoint, cfg, ctl = setup(env, 100, programs)
        kafka.produce(EVENTS, messages(first))
        run_daemon(env, cfg)
        st = wait_settled(ctl, "every batch failed", failed_items=13)
        assert quota_of(st, pilot["id"]) == (0, 3), st

        # The endpoint works again. Meanwhile the province covers two of the
        # workers, and a fourth pilot worker takes a slot.
        endpoint.faults(fail_400=0)
        later = [event(f"kaltim-portal:2025-03-02:{i:06d}", SUBMITTED, KALTIM, w)
                 for i, w in enumerate(ws[:2])]
        later.append(event("pilot-portal:2025-03-02:000009", SUBMITTED, pilot["id"], ps[3]))
        kafka.produce(EVENTS, messages(later))
        wait_for(lambda: len(final_results(kafka, "registered")) == 3, 60, "3 registered")
        st = wait_settled(ctl, "the later events pushed", failed_items=13)
        assert quota_of(st, pilot["id"]) == (1, 3), st
        n_failed = st["batches"]["failed"]
        stats = endpoint.stats()

        plan = ctl.lines("replay", "--failed", "--dry-run")
        assert sum(p["replayed"] for p in plan) == 10, plan
        left = [i for p in plan for i in p["not_replayed"]]
        whys = sorted(i["why"] for i in left)
        assert whys == [f"covered by {KALTIM}"] * 2 + ["quota full (3/3)"], left
        assert all(MASKED_NIK.match(i["nik"]) for i in left), left
        time.sleep(0.5)
        assert endpoint.stats() == stats

        done = ctl.lines("replay", "--failed")
        assert [(d["batch"], d["action"], d["replayed"]) for d in done] == \
            [(p["batch"], p["action"], p["replayed"]) for p in plan], (plan, done)
        rebuilt = [d for d in done if d["action"] == "rebuild"]
        assert rebuilt and all(d["new_batch"] for d in rebuilt), done
        wait_for(lambda: len(final_results(kafka, "registered")) == 13, 60, "13 registered")
        st = wait_settled(ctl, "replayed batches done", failed_items=3)
        assert quota_of(st, pilot["id"]) == (3, 3), st
        assert quota_of(st, BPP) == (8, 10000) and quota_of(st, KALTIM) == (2, 10000), st

        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        want = {w.nik: BPP for w in ws[2:]}
        want.update({w.nik: KALTIM for w in ws[:2]})
        pilots = [n for n, p in active.items() if p == pilot["id"]]
        assert ps[3].nik in pilots and len(pilots) == 3, active
        assert {n: p for n, p in active.items() if p != pilot["id"]} == want, active
        stats = endpoint.stats()
        assert stats["registered"] == 13 and stats["registered_twice"] == 0, stats
        assert stats["multi_key_registration_ids"] == 0, stats

        # a rebuilt batch: new name, the moved items; the old one keeps the
        # items left behind, failed, each with why
        for d in rebuilt:
            new = ctl.one("batch", "show", d["new_batch"])
            assert new["state"] == "done" and len(new["items"]) == d["replayed"], new
            assert all(it["status"] == "registered" for it in new["items"]), new
            assert new["last_error"] is None, new
            old = ctl.one("batch", "show", d["batch"])
            assert old["state"] == "failed", old
            assert len(old["items"]) == d["items"] - d["replayed"], old
            assert all(it["reason"].startswith("not replayed: ") for it in old["items"]), old
            assert d["new_batch"] in old["history"][0]["detail"], old
        left_failed = [d for d in done if d["action"] in ("rebuild", "none")]
        assert ctl.status()["batches"]["failed"] == len(left_failed) <= n_failed

        w = ctl.one("worker", ws[0].nik)
        assert {c["program"]: c["state"] for c in w["coverage"]} == \
            {BPP: "failed", KALTIM: "active"}, w

        # replaying again changes nothing: no item qualifies any more
        again = ctl.lines("replay", "--failed")
        assert all(a["action"] == "none" and a["replayed"] == 0 for a in again), again
        time.sleep(1.0)
        assert endpoint.stats()["registered"] == 13
        assert ctl.status()["failed_items"] == 3


def test_replay_deactivations():
    """Withdrawals whose deactivation batch failed are sent again, except
    one whose worker enrolled again meanwhile: sending it now would end the
    newer registration at the endpoint."""
    ws = workers(45, 4, first=500)
    withdrawn = "enrollment.withdrawn"
    with Env() as env:
        kafka, endpoint, cfg, ctl = setup(env, 0)
        run_daemon(env, cfg)
        kafka.produce(EVENTS, messages([event(f"bpp-portal:2025-04-01:{i:06d}", SUBMITTED,
                                              BPP, w) for i, w in enumerate(ws)]))
        wait_for(lambda: len(final_results(kafka, "registered")) == 4, 60, "4 registered")

        endpoint.faults(fail_400=100)
        kafka.produce(EVENTS, messages([event(f"bpp-portal:2025-04-02:{i:06d}", withdrawn,
                                              BPP, w) for i, w in enumerate(ws)]))
        st = wait_settled(ctl, "the deactivations failed", failed_items=4)
        failed = ctl.lines("batches", "--state", "failed")
        assert {b["kind"] for b in failed} == {"deactivations"}, failed
        assert quota_of(st, BPP) == (0, 10000), st

        # the endpoint is fixed; one worker enrols again (still active there)
        endpoint.faults(fail_400=0)
        kafka.produce(EVENTS, messages([event("bpp-portal:2025-04-03:000001", SUBMITTED,
                                              BPP, ws[3])]))
        wait_for(lambda: final_results(kafka, "already_registered"), 60, "re-enrolment")
        wait_settled(ctl, "re-enrolment settled", failed_items=4)

        done = ctl.lines("replay", "--failed")
        assert sum(d["replayed"] for d in done) == 3, done
        sys.stdout.write(f"  deactivation replays: {[d['action'] for d in done]}\n")
        left = [i for d in done for i in d["not_replayed"]]
        assert len(left) == 1 and left[0]["why"].startswith("the worker has a later "
                                                            "operation"), left
        wait_for(lambda: len(final_results(kafka, "deactivated")) == 3, 60, "3 deactivated")
        st = wait_settled(ctl, "replayed deactivations done", failed_items=1)
        assert quota_of(st, BPP) == (1, 10000), st
        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        assert active == {ws[3].nik: BPP}, active
        stats = endpoint.stats()
        assert stats["deactivated"] == 3 and stats["not_found"] == 0, stats
        assert stats["registered"] == 4 and stats["registered_twice"] == 0, stats


def test_withdrawal_of_a_failed_registration_needs_no_request():
    """A worker withdrawn while their registration was still unanswered,
    whose registration then failed for good: the endpoint holds nothing to
    end, so the deactivation is final at once ("deactivated", reason
    not_registered, no batch) and no request is made for it (the contract
    has no deactivation without a kpj: one would fail its whole batch)."""
    ws = workers(47, 2, first=700)
    withdrawn = "enrollment.withdrawn"
    with Env() as env:
        kafka, endpoint, cfg, ctl = setup(env, 100)
        # submitted and withdrawn in one go: both decided before any answer
        kafka.produce(EVENTS, messages([
            event("bpp-portal:2025-05-01:000001", SUBMITTED, BPP, ws[0]),
            event("bpp-portal:2025-05-01:000002", withdrawn, BPP, ws[0])]))
        run_daemon(env, cfg)
        wait_for(lambda: final_results(kafka, "failed"), 60, "the registration failed")
        st = wait_settled(ctl, "the registration failed", failed_items=1)
        requests_400 = endpoint.stats()["requests"].get("400", 0)
        assert requests_400 >= 1, endpoint.stats()

        # the endpoint is fixed; another worker enrols and withdraws after
        # the answer, which takes a deactivation request as usual
        endpoint.faults(fail_400=0)
        kafka.produce(EVENTS, messages([
            event("bpp-portal:2025-05-02:000001", SUBMITTED, BPP, ws[1])]))
        wait_for(lambda: final_results(kafka, "registered"), 60, "registered")
        kafka.produce(EVENTS, messages([
            event("bpp-portal:2025-05-02:000002", withdrawn, BPP, ws[1])]))
        done = wait_for(lambda: (lambda d: len(d) == 2 and d)(
            final_results(kafka, "deactivated")), 60, "both deactivations final")
        by_nik = {d["nik"]: d for d in done}
        first, second = by_nik[ws[0].nik], by_nik[ws[1].nik]
        assert first["event_id"] == "bpp-portal:2025-05-01:000002", first
        assert first["reason"] == "not_registered" and first["batch_id"] is None, first
        assert first["kpj"] is None and first["covered_by"] is None, first
        assert second["reason"] is None and second["batch_id"], second
        schema = load_schema(os.path.join(SOURCE_DIR, "docs", "schemas",
                                          "enrollment-result.v1.schema.json"))
        assert not errors(first, schema) and not errors(second, schema), (
            errors(first, schema), errors(second, schema))

        st = wait_settled(ctl, "all settled", failed_items=1)
        assert st["unbatched"] == 0 and quota_of(st, BPP) == (0, 10000), st
        stats = endpoint.stats()
        assert stats["requests"].get("400", 0) == requests_400, stats
        assert stats["deactivated"] == 1 and stats["not_found"] == 0, stats
        assert endpoint.state()["active"] == [], endpoint.state()
        # what the operator reads of the first worker: the op is final
        w = ctl.run("worker", ws[0].nik, "--json").out
        no_full_nik(w)
        assert "not_registered" in w, w
        log = env.log("daemon")
        assert "1 deactivation(s) settled without a request" in log, log[-2000:]
        no_full_nik(log)


def test_cli_under_load_never_locked():
    """200 rounds of status and batches (and some audited reveals, which
    write) while the daemon works through a few thousand events."""
    ds = generate(seed=13, scale=5)
    expect, endpoint_expect = model(ds)
    nik = ds.valid[0]["worker"]["nik"]
    with Env() as env:
        kafka, endpoint, cfg = start(env)
        ctl = Ctl(cfg)
        run_daemon(env, cfg)
        env.wait_for_log("daemon", "assigned", timeout=30)
        problems, timings, busy = [], [], []

        def hammer():
            for i in range(200):
                if i % 4 == 0:  # writes: the reveal is audited first
                    args = ["worker", nik, "--reveal", "--json"]
                elif i % 2:
                    args = ["status", "--json"]
                else:
                    args = ["batches", "--json", "--state", "pending"]
                t0 = time.monotonic()
                r = ctl.run(*args, expect=None)
                timings.append(time.monotonic() - t0)
                # a worker not consumed yet is no record (65), not a problem
                ok = r.returncode == 0 or (args[0] == "worker" and r.returncode == 65 and
                                           "no record" in r.err)
                if not ok or "locked" in r.err or "busy" in r.err:
                    problems.append((args, r.returncode, r.err))
                if args[0] == "status" and r.returncode == 0:
                    st = json.loads(r.out)
                    if st["unbatched"] or st["batches"]["pending"] or st["batches"]["inflight"]:
                        busy.append(i)
                        if st["oldest_unsent_at"] is None or st["oldest_unsent_age_s"] < 0:
                            problems.append((args, "a backlog without its oldest age", st))

        t = threading.Thread(target=hammer)
        t.start()
        # contiguous chunks, as portals produce them, so that the daemon is
        # busy all along the CLI's loop
        n = len(ds.messages)
        for i in range(6):
            kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[i * n // 6:(i + 1) * n // 6]])
            time.sleep(0.5)
        total = expected_count(ds, expect)
        try:
            results(kafka, expect=total, timeout=180)
        except WaitTimeout:
            pass  # check_outcome says what is missing
        t.join(300)
        assert not t.is_alive(), "the CLI loop did not finish"
        assert not problems, problems[:5]
        assert busy, "the CLI never ran while the daemon had work"
        time.sleep(1.0)
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        # The daemon must not meet the CLI's writes either. (A daemon write made
        # inside one of its own read statements fails at once, SQLITE_BUSY_SNAPSHOT,
        # when another connection committed meanwhile: push_http.c's start() under
        # journal_batches_due() did, until the due batches were copied out first.)
        locked = [line for line in env.log("daemon").splitlines()
                  if re.search(r"locked|cannot journal|busy", line)]
        assert not locked, locked[:5]
        reveals = [a for a in ctl.lines("audit") if a["action"] == "reveal"]
        assert len(reveals) == 50, reveals
        st = ctl.status()
        assert st["batches"]["failed"] == 0 and st["consumed"] == len(ds.messages), st
        sys.stdout.write(f"  {len(timings)} CLI runs, slowest {max(timings):.2f}s, "
                         f"{len(busy)} status runs while the daemon had work\n")


def test_usage_and_exit_codes():
    with Env() as env:
        cfg = env.write_config(daemon_config("127.0.0.1:9", "http://127.0.0.1:9",
                                             env.path("secret"), env.path("journal.db")))
        ctl = Ctl(cfg)
        r = ctl.run("--help", config=False)
        assert "Usage: bpjs-syncctl" in r.out and "dead-letters" in r.out, r.out
        for verb in (["status"], ["batches"], ["batch"], ["replay"], ["worker"],
                     ["dead-letters"], ["audit"]):
            r = ctl.run(*verb, "--help")
            assert r.out.startswith("Usage: bpjs-syncctl " + verb[0]), (verb, r.out)
        ctl.run(expect=EX_USAGE)
        ctl.run("frobnicate", expect=EX_USAGE)
        ctl.run("batches", "--state", "lost", expect=EX_USAGE)
        ctl.run("batches", "--since", "yesterday", expect=EX_USAGE)
        ctl.run("replay", expect=EX_USAGE)
        ctl.run("replay", "--failed", "12", expect=EX_USAGE)
        ctl.run("dead-letters", "--reason", "no_such_reason", expect=EX_USAGE)
        # no journal yet (the daemon never ran): unavailable
        r = ctl.run("status", expect=EX_UNAVAILABLE)
        assert "journal.db" in r.err, r.err
        ctl.run("--journal", env.path("nothing.db"), "status", config=False,
                expect=EX_UNAVAILABLE)
        # not a journal: unreadable
        env.write_file("junk.db", b"this is not sqlite" * 100)
        ctl.run("--journal", env.path("junk.db"), "status", config=False, expect=74)
        # a bad configuration
        bad = env.write_config("kafka: [\n", "bad.yaml")
        r = ctl.run("--config", bad, "status", config=False, expect=EX_CONFIG)
        assert "bad.yaml" in r.err, r.err
        # replay needs the quotas: --journal alone is not enough
        ctl.run("--journal", env.path("journal.db"), "replay", "--failed", config=False,
                expect=EX_CONFIG)


if __name__ == "__main__":
    run_tests(globals())
