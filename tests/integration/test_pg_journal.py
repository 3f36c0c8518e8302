"""The daemon on a PostgreSQL journal (issue 16, part 1): journal.url and
journal.password_file, against a private PostgreSQL 15 server of the test
(harness.Postgres). The pipeline's exact outcome is the same as on SQLite;
the journal's rows are read back with psql and with `bpjs-syncctl status`;
a password is never written to a log or an error; TLS is verified."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, WaitTimeout, bin_path, run_tests  # noqa: E402
from dataset import (PROGRAMS, QUOTA_PROGRAM, daemon_config, generate,  # noqa: E402
                     model)
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results)
from test_tls import make_pki  # noqa: E402


def pg_config(env, kafka, endpoint, pg, dbname, password_file=None, url=None,
              lease_ms=None):
    cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file, None)
    cfg["journal"] = {"url": url or pg.create_database(dbname),
                      "password_file": password_file or pg.password_file}
    if lease_ms:
        cfg["journal"]["lease_ms"] = lease_ms
    return env.write_config(cfg, f"{dbname}.yaml")


def test_the_pipeline_on_a_postgresql_journal():
    ds = generate()
    expect, endpoint_expect = model(ds)
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = pg_config(env, kafka, endpoint, pg, "pipeline")
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages])
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for(lambda: not daemon.running or "assigned" in env.log("daemon"),
                     timeout=60, what="the daemon's assignment")
        assert daemon.running, env.log("daemon")
        total = expected_count(ds, expect)
        try:
            results(kafka, expect=total, timeout=180)
            time.sleep(1.0)  # nothing more may come
        except WaitTimeout:
            pass  # check_outcome says which event is missing its result
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        log = env.log("daemon")
        assert pg.password not in log, "the journal's password in the log"
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
        assert "journal postgresql://bpjs@127.0.0.1:" in log, log[-2000:]

        # the journal holds what SQLite would: every valid event once, every
        # registration answered, nothing left to publish or send
        def one(q):
            return pg.psql(q, "pipeline").strip()
        assert one("SELECT value FROM meta WHERE key = 'schema_version'") == "5"
        assert int(one("SELECT count(*) FROM events")) == \
            len({r["event_id"] for r in got if r["event_id"]})
        assert one("SELECT count(*) FROM outbox") == "0"
        assert one("SELECT count(*) FROM ops WHERE status IS NULL") == "0"
        assert one("SELECT count(*) FROM batches WHERE state IN (1, 2)") == "0"
        assert int(one("SELECT count(*) FROM ops WHERE kind = 1 AND status IN (5, 6)")) \
            == sum(1 for r in got if r["status"] in ("registered", "already_registered"))
        assert int(one("SELECT value FROM counters WHERE name = 'published'")) == \
            total + len(dlq)

        # the operator's status reads the same journal (bpjs-syncctl, same config)
        r = subprocess.run([bin_path("bpjs-syncctl"), "--config", cfg, "status", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 0, (r.returncode, r.stderr)
        st = json.loads(r.stdout)
        assert st["unbatched"] == 0 and st["outbox"] == 0, st
        assert st["batches"]["pending"] == 0 and st["batches"]["inflight"] == 0, st
        assert st["batches"]["done"] == int(one(
            "SELECT count(*) FROM batches WHERE state = 3")) > 0, st
        assert st["consumed"] == int(one(
            "SELECT value FROM counters WHERE name = 'consumed'")) >= len(ds.messages), st
        assert st["published"] == total + len(dlq), st
        used = {q["program"]: q["used"] for q in st["quota"]}
        assert used[QUOTA_PROGRAM["id"]] == QUOTA_PROGRAM["quota"], used
        assert pg.password not in r.stdout.decode() + r.stderr.decode()

        # committed months: each programme's, as its coverages' months add up
        # (pending, active and ended; failed ones none), in status and in the
        # premium report alike
        months = dict(line.split("|") for line in one(
            "SELECT program, months FROM quota ORDER BY program").splitlines())
        summed = dict(line.split("|") for line in one(
            "SELECT q.program, coalesce(sum(greatest(c.last_month - c.first_month + 1, 0))"
            " FILTER (WHERE c.state <> 4), 0) FROM quota q LEFT JOIN coverages c"
            " ON c.program = q.program GROUP BY q.program ORDER BY q.program").splitlines())
        assert months == summed and int(months[QUOTA_PROGRAM["id"]]) > 0, (months, summed)
        premium = {p["id"]: p["monthly_premium"] for p in PROGRAMS + [QUOTA_PROGRAM]}
        committed = {q["program"]: q["committed"] for q in st["quota"]}
        assert committed == {p: int(m) * premium[p] for p, m in months.items()}, committed
        r = subprocess.run([bin_path("bpjs-syncctl"), "--config", cfg, "report", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        assert r.returncode == 0, (r.returncode, r.stderr)
        assert not re.search(rb"\d{16}", r.stdout + r.stderr), "a full NIK in the report"
        rep = {p["program"]: p for p in json.loads(r.stdout)["programs"]}
        for p, m in months.items():
            assert (rep[p]["used"], rep[p]["committed"]) == (used[p], committed[p]), rep[p]
        # every registration answered: the premium is the committed one
        assert sum(p["premium_total"] for p in rep.values()) == sum(committed.values())

        # a restart finds its journal: nothing pushed again, nothing answered
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0, env.log("daemon")
        env.spawn("daemon2", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for_log("daemon2", "assigned", timeout=30)
        time.sleep(2.0)
        assert endpoint.stats()["batches_processed"] == stats["batches_processed"]
        assert len(results(kafka)) == total


def test_a_url_with_a_password_is_refused_without_echoing_it():
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        for url in ("postgresql://bpjs:hunter2-secret@127.0.0.1:1/bpjs",
                    "postgres://bpjs@127.0.0.1:1/bpjs?password=hunter2-secret"):
            cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file, None)
            cfg["journal"] = {"url": url}
            path = env.write_config(cfg)
            d = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", path])
            assert d.wait(15) == 78, env.log("daemon")
            log = env.log("daemon")
            assert "journal.url: must not carry a password" in log, log
            assert "hunter2" not in log, log


def test_a_wrong_password_is_reported_and_never_written():
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        wrong = env.write_file("wrong-password", "not-the-password-0123456789\n")
        cfg = pg_config(env, kafka, endpoint, pg, "wrong", password_file=wrong)
        d = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        rc = d.wait(30)
        log = env.log("daemon")
        assert rc == 73, (rc, log)  # EX_CANTCREAT: no journal
        assert "password authentication failed" in log, log
        assert "cannot connect" in log and pg.url("wrong") in log, log
        assert "not-the-password" not in log and pg.password not in log, log


def test_tls_to_the_journal_is_verified():
    with Env() as env:
        pki = make_pki(env)
        pg = env.start_postgres(tls=pki["server"])
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()

        # verify-full with the server's CA: the daemon runs, over TLS
        url = pg.create_database("tls") + f"?sslmode=verify-full&sslrootcert={pki['ca'][0]}"
        cfg = pg_config(env, kafka, endpoint, pg, "tls", url=url)
        d = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for(lambda: not d.running or "assigned" in env.log("daemon"),
                     timeout=60, what="the daemon's assignment")
        assert d.running, env.log("daemon")
        assert pg.psql("SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a"
                       " USING (pid) WHERE a.application_name = 'bpjs-sync'"
                       " AND s.ssl").strip() == "1"
        d.send_signal(signal.SIGTERM)
        assert d.wait(15) == 0, env.log("daemon")

        # another CA's word is not taken: no journal, said
        url = pg.url("tls") + f"?sslmode=verify-full&sslrootcert={pki['rogue'][0]}"
        cfg = pg_config(env, kafka, endpoint, pg, "rogue", url=url)
        d = env.spawn("rogue", [bin_path("bpjs-syncd"), "--config", cfg])
        assert d.wait(30) == 73, env.log("rogue")
        assert "certificate verify failed" in env.log("rogue"), env.log("rogue")


if __name__ == "__main__":
    run_tests(globals())
