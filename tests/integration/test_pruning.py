"""Journal pruning (issue 9), end to end: the daemon, started on a journal
whose enrolments happened days ago, empties the request bodies of batches
that ended more than 24 hours ago and forgets event ids older than
journal.retention_days, in the background; coverage, quota, operations and
their outcomes stay, and a new event is still decided and pushed."""

import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import PROGRAMS, Worker, daemon_config, event  # noqa: E402
from test_pipeline import EVENTS, TOPICS, results, run_daemon  # noqa: E402

WORKERS = 1200  # three batches of 500, 500 and 200
FIRST_NIK = "6409010101600001"  # bpjs-journal-fill's first worker


def ctl(env, journal, *args):
    r = subprocess.run([bin_path("bpjs-syncctl"), "--journal", journal, "--json", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines()]


def aged_journal(env, kafka, endpoint, days, retention_days=30):
    cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                        env.path(f"aged-{days}.db"), batch_size=500)
    cfg["journal"]["retention_days"] = retention_days
    path = env.write_config(cfg, f"aged-{days}.yaml")
    subprocess.run([bin_path("bpjs-journal-fill"), path, str(WORKERS), "--age-days",
                    str(days)], check=True, capture_output=True, timeout=120)
    return path, cfg["journal"]["path"]


def bodies(env, journal):
    return [ctl(env, journal, "batch", "show", str(i))[0]["body_bytes"] for i in (1, 2, 3)]


def wait_for(what, check, timeout=30):
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_old_bodies_and_event_ids_go_and_what_was_decided_stays():
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        path, journal = aged_journal(env, kafka, endpoint, days=40)
        before = bodies(env, journal)
        assert all(b > 100_000 for b in before[:2]), before
        assert ctl(env, journal, "worker", FIRST_NIK)[0]["events"], "the fill wrote events"

        daemon = run_daemon(env, path)
        wait_for("the bodies to be pruned", lambda: bodies(env, journal) == [0, 0, 0])
        wait_for("the event ids to be pruned",
                 lambda: not ctl(env, journal, "worker", FIRST_NIK)[0]["events"])

        # what the finance office and the operators look back on stays
        w = ctl(env, journal, "worker", FIRST_NIK)[0]
        assert [c["state"] for c in w["coverage"]] == ["active"], w
        assert [(o["status"], o["batch_state"]) for o in w["operations"]] == \
            [("registered", "done")], w
        status = ctl(env, journal, "status")[0]
        assert status["batches"]["done"] == 3, status
        used = {q["program"]: q["used"] for q in status["quota"]}
        assert used[PROGRAMS[0]["id"]] == WORKERS, status
        items = ctl(env, journal, "batch", "show", "1")[0]["items"]
        assert len(items) == 500 and all(i["status"] == "registered" for i in items)

        # the pipeline goes on: the first worker is still covered, a new one
        # is registered
        rng = random.Random(5)
        again = event("p:again", "enrollment.submitted", PROGRAMS[0]["id"],
                      Worker(rng, "6471", 1))
        again["worker"].update(nik=FIRST_NIK, birth_date="1960-01-01", sex="M")
        fresh = event("p:fresh", "enrollment.submitted", PROGRAMS[0]["id"],
                      Worker(rng, "6471", 2))
        kafka.produce(EVENTS, [(e["worker"]["nik"], json.dumps(e), None)
                               for e in (again, fresh)])
        got = results(kafka, expect=3, timeout=60)
        by = {}
        for r in got:
            by.setdefault(r["event_id"], []).append(r["status"])
        assert by == {"p:again": ["duplicate"], "p:fresh": ["confirmed", "registered"]}, by
        active = {a["nik"]: a["program"] for a in endpoint.state()["active"]}
        assert active == {fresh["worker"]["nik"]: PROGRAMS[0]["id"]}, active
        daemon.send_signal(15)
        assert daemon.wait(30) == 0


def test_inside_the_windows_nothing_goes():
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        # two days old: past the endpoint's 24 h, inside a 30-day retention
        path, journal = aged_journal(env, kafka, endpoint, days=2)
        daemon = run_daemon(env, path)
        wait_for("the bodies to be pruned", lambda: bodies(env, journal) == [0, 0, 0])
        time.sleep(1)  # a few more turns of the loop
        assert ctl(env, journal, "worker", FIRST_NIK)[0]["events"], "event ids kept"
        daemon.send_signal(15)
        assert daemon.wait(30) == 0

        # today: nothing is pruned at all
        path, journal = aged_journal(env, kafka, endpoint, days=0)
        daemon = run_daemon(env, path, name="today")
        time.sleep(2)
        assert all(b > 0 for b in bodies(env, journal))
        assert ctl(env, journal, "worker", FIRST_NIK)[0]["events"]
        daemon.send_signal(15)
        assert daemon.wait(30) == 0


if __name__ == "__main__":
    run_tests(globals())
