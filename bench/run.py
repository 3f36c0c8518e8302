"""The benchmark (issue 9): mock Kafka and bpjs-mock on loopback, N events of
the demo's realistic mix produced with kcat, bpjs-syncd with batches of 500
until every event has its final result, and one table of figures. Never a
timed test: CI runs it on a small N as a smoke test only.

    bench/run.py [N] [--workers W]   (defaults 1,000,000 and 10,000,000)
    bench/run.py N --journal postgresql [--instances 1,2,3] [--pg-fsync-off]

The second part restarts the daemon on a journal of W workers made by
bpjs-journal-fill, with new events waiting, for the restart, memory and
pruning figures; the third, the same restart with a real Apache Kafka broker
(the tests' KRaft broker, whose group coordinator has no fixed join delay).

With --journal postgresql it is instead the bench of several instances on
one PostgreSQL journal (issue 16, bench/pg_scale.py): for each instance
count a fresh server, topic and endpoint, and that many daemons in one group.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import Env, bin_path  # noqa: E402
from dataset import PROGRAMS, QUOTA_PROGRAM, daemon_config, event, generate, model, Worker  # noqa: E402
from test_pipeline import expected_count  # noqa: E402

MIB = 1024 * 1024


def kcat_lines(bootstrap, topic, fmt):
    r = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", topic, "-e", "-q",
                        "-o", "beginning", "-f", fmt], capture_output=True, check=True)
    return r.stdout.decode("utf-8", "surrogateescape").split("\n")[:-1]


def proc_figures(pid):
    stat = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(int(l.split()[1]) for l in open(f"/proc/{pid}/status")
               if l.startswith("VmHWM"))
    return cpu, hwm / 1024


def written(pid):
    """Bytes the process has written with write(2)/pwrite(2) (/proc/PID/io
    wchar): journal pages into the WAL, checkpoints into the database file,
    and sockets."""
    return next(int(l.split()[1]) for l in open(f"/proc/{pid}/io") if l.startswith("wchar"))



def journal_bytes(path):
    return sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))


def mock_ceiling(env, items, n_total):
    """bpjs-mock alone: 4 keep-alive clients posting 500-item batches."""
    ep = env.start_endpoint(args=["--threads", "2"], name="ceiling")
    host, port = ep.url[len("http://"):].split(":")
    bodies = []
    for b in range(math.ceil(n_total / 500)):
        regs = [dict(items[(b * 500 + i) % len(items)],
                     registration_id=f"r-bench-{b}-{i}",
                     nik=f"64710{(b * 500 + i):011d}") for i in range(500)]
        bodies.append((f"b-bench-{b}", json.dumps({"batch_id": f"b-bench-{b}",
                                                    "registrations": regs}).encode()))

    def client(k):
        c = http.client.HTTPConnection(host, int(port))
        for name, body in bodies[k::4]:
            ts = str(int(time.time()))
            sig = base64.b64encode(hmac.new(ep.secret.encode(), f"{ep.cons_id}&{ts}".encode(),
                                            hashlib.sha256).digest()).decode()
            c.request("POST", "/v1/registrations", body,
                      {"Content-Type": "application/json", "X-Cons-Id": ep.cons_id,
                       "X-Timestamp": ts, "X-Signature": sig, "Idempotency-Key": name})
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
    t = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return len(bodies) * 500 / (time.monotonic() - t)


def metric(url, name):
    """A counter's value from the daemon's /metrics."""
    host, port = url[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=2)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    return sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(name))


def restart(env, name, path):
    """Starts the daemon on path; returns it, its metrics URL, and the
    seconds to the journal open (logged once every stage is up and the
    consumer has subscribed) and to the first event consumed."""
    t = time.monotonic()
    daemon = env.spawn(name, [bin_path("bpjs-syncd"), "--config", path])
    env.wait_for_log(name, "bpjs-syncd .*journal", timeout=120)
    t_open = time.monotonic() - t
    url = re.search(r"metrics at (http://[0-9.:]+)/metrics", env.log(name)).group(1)
    while metric(url, "bpjs_sync_events_consumed_total") == 0:
        if time.monotonic() - t > 120:
            sys.exit(f"bench: the daemon ({name}) did not consume")
        time.sleep(0.02)
    return daemon, url, t_open, time.monotonic() - t


def big_journal(env, kafka, workers, n_events):
    """The restart and memory figures with `workers` in the journal: a journal
    made by bpjs-journal-fill, a fresh endpoint and topics, new events produced
    before the daemon starts; then the time to the journal open (logged once
    every stage is up and the consumer has subscribed), to the first event
    consumed, and the figures for processing those events on top of it."""
    ds = generate(seed=99, scale=max(1, round(n_events / 540)))
    expect, _ = model(ds)
    total = expected_count(ds, expect)
    endpoint = env.start_endpoint(args=["--threads", "2"], name="big-endpoint")
    programs = [dict(p, quota=100_000_000) for p in PROGRAMS] + [QUOTA_PROGRAM]
    cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                        env.path("big.db"), programs=programs, batch_size=500,
                        batch_linger_ms=50, max_in_flight=4)
    cfg["kafka"].update(group_id="bench-big", topics=["bench.big.events"],
                        results_topic="bench.big.results", dlq_topic="bench.big.dlq")
    cfg["log"]["level"] = "notice"
    cfg["journal"]["max_pending"] = 10_000_000
    path = env.write_config(cfg, "big.yaml")
    t = time.monotonic()
    fill = subprocess.run([bin_path("bpjs-journal-fill"), path, str(workers)],
                          capture_output=True, text=True, check=True)
    fill_secs = time.monotonic() - t
    file_bytes = int(fill.stdout.split()[5])
    # the same journal, untouched, for the restart on the real broker
    for suffix in ("", "-wal"):
        if os.path.exists(env.path("big.db" + suffix)):
            shutil.copyfile(env.path("big.db" + suffix), env.path("real.db" + suffix))
    kafka.produce("bench.big.events", [(k, v, None) for k, v in ds.messages], timeout=600)

    daemon, url, t_open, t_consume = restart(env, "big", path)

    t0 = time.monotonic()
    # the counter counts dead letters too
    while metric(url, "bpjs_sync_results_published_total") < total + len(ds.invalid):
        if not daemon.running or time.monotonic() - t0 > 1800:
            sys.exit("bench: the big-journal run did not finish:\n" + env.log("big")[-2000:])
        time.sleep(0.5)
    cpu, rss = proc_figures(daemon.pid)
    for _ in range(20):  # delivered is on the topic; kcat may still be catching up
        ts = [int(x) for x in kcat_lines(kafka.bootstrap, "bench.big.results", "%T\\n")]
        got = len(ts)
        if got >= total:
            break
        time.sleep(0.5)
    if got != total:
        sys.exit(f"bench: {got} results on bench.big.results, expected {total}")
    rate = len(ds.messages) / ((max(ts) - min(ts)) / 1000.0)
    daemon.send_signal(15)
    daemon.wait(60)
    pruned = subprocess.run([bin_path("bpjs-journal-fill"), path, "0", "--prune"],
                            capture_output=True, text=True, check=True)

    return {"fill": fill_secs, "file": file_bytes, "open": t_open, "consume": t_consume,
            "join": t_consume - t_open, "n": len(ds.messages), "rate": rate, "rss": rss,
            "cpu": cpu, "pruned": int(pruned.stdout.split()[3])}


def real_restart(env):
    """The restart on a real Apache Kafka broker (the tests' KRaft broker,
    docs/testing.md): the big journal as bpjs-journal-fill left it,
    1,000 new events waiting; the time to the journal open and to the first
    event consumed. The mock's fixed 3 s group join is not in it: a real
    coordinator answers a lone member's join at once
    (group.initial.rebalance.delay.ms=0, as a one-instance site sets it)."""
    kafka = env.start_real_kafka(topics={"bench.real.events": 4, "bench.real.results": 4,
                                         "bench.real.dlq": 1}, name="real-kafka")
    ds = generate(seed=98, scale=2)
    endpoint = env.start_endpoint(args=["--threads", "2"], name="real-endpoint")
    programs = [dict(p, quota=100_000_000) for p in PROGRAMS] + [QUOTA_PROGRAM]
    cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                        env.path("real.db"), programs=programs)
    cfg["kafka"].update(group_id="bench-real", topics=["bench.real.events"],
                        results_topic="bench.real.results", dlq_topic="bench.real.dlq")
    cfg["log"]["level"] = "notice"
    path = env.write_config(cfg, "real.yaml")
    kafka.produce("bench.real.events", [(k, v, None) for k, v in ds.messages[:1000]])
    daemon, _, t_open, t_consume = restart(env, "real", path)
    daemon.send_signal(15)
    daemon.wait(60)
    kafka.stop()
    return {"open": t_open, "consume": t_consume, "version": kafka.version}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=10_000_000,
                    help="workers in the journal for the restart and memory figures")
    ap.add_argument("--journal", choices=("sqlite", "postgresql"), default="sqlite",
                    help="postgresql: the bench of several instances on one PostgreSQL "
                    "journal (bench/pg_scale.py) instead of the SQLite bench")
    ap.add_argument("--instances", default="1,2,3",
                    help="with --journal postgresql: the instance counts, each from nothing")
    ap.add_argument("--pg-fsync-off", action="store_true",
                    help="with --journal postgresql: the tests' server settings (fsync, "
                    "synchronous_commit and full_page_writes off) instead of the defaults")
    args = ap.parse_args()
    if args.journal == "postgresql":
        import pg_scale
        ds = generate(seed=2025, scale=max(1, round(args.n / 540)))
        expect, _ = model(ds)
        pg_scale.run(ds, expect, expected_count(ds, expect),
                     [int(c) for c in args.instances.split(",")], not args.pg_fsync_off,
                     kcat_lines, MIB)
        return
    scale = max(1, round(args.n / 540))
    ds = generate(seed=2025, scale=scale)
    expect, _ = model(ds)
    n = len(ds.messages)
    total = expected_count(ds, expect)
    size = sum(len(v) for _, v in ds.messages) / n
    p_events = max(4, math.ceil(n * size * 1.3 / (4 * MIB)))
    p_results = max(4, math.ceil(total * 500 * 1.3 / (4 * MIB)))
    print(f"bench: {n} events ({size:.0f} bytes on average), {total} results expected; "
          f"{p_events} event partitions, {p_results} result partitions", flush=True)

    with Env() as env:
        kafka = env.start_kafka(topics={"enrollment.events": p_events,
                                        "enrollment.results": p_results,
                                        "enrollment.events.dlq": 8,
                                        "bench.big.events": 12, "bench.big.results": 24,
                                        "bench.big.dlq": 4})
        kafka.produce("enrollment.events", [(k, v, None) for k, v in ds.messages],
                      timeout=600)
        t = time.monotonic()
        on_topic = len(kcat_lines(kafka.bootstrap, "enrollment.events", "%o\\n"))
        kcat_secs = time.monotonic() - t
        if on_topic != n:
            sys.exit(f"bench: {on_topic} of {n} events on the topic: the mock dropped some")

        endpoint = env.start_endpoint(args=["--threads", "2"])
        programs = [dict(p, quota=10_000_000) for p in PROGRAMS] + [QUOTA_PROGRAM]
        cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                            env.path("journal.db"), programs=programs, batch_size=500,
                            batch_linger_ms=50, max_in_flight=4)
        cfg["log"]["level"] = "warning"
        cfg["journal"]["max_pending"] = 10_000_000
        if os.environ.get("BENCH_KAFKA_PROPS"):
            cfg["kafka"]["properties"] = dict(kv.split("=", 1) for kv in
                                              os.environ["BENCH_KAFKA_PROPS"].split(","))
        path = env.write_config(cfg)
        # BENCH_PERF=FILE profiles the daemon with perf (CPU and RSS figures
        # are then perf's own, not the daemon's)
        wrap = ["perf", "record", "-g", "-o", os.environ["BENCH_PERF"], "--"] \
            if os.environ.get("BENCH_PERF") else []
        daemon = env.spawn("daemon", wrap + [bin_path("bpjs-syncd"), "--config", path])
        t0 = time.monotonic()
        while True:
            time.sleep(2)
            got = len(kcat_lines(kafka.bootstrap, "enrollment.results", "\\n"))
            print(f"  {time.monotonic() - t0:6.1f} s  {got}/{total} results", flush=True)
            if got >= total:
                break
            if not daemon.running:
                sys.exit("bench: the daemon stopped:\n" + env.log("daemon")[-2000:])
        cpu, rss = proc_figures(daemon.pid)
        wchar = written(daemon.pid)
        results_on_topic = got
        ts = [int(x) for x in kcat_lines(kafka.bootstrap, "enrollment.results", "%T\\n")]
        e2e = (max(ts) - min(ts)) / 1000.0

        # decision latency: a trickle of new events into the idle daemon
        import random
        rng = random.Random(4)
        probe = [event(f"probe:{i:05d}", "enrollment.submitted", PROGRAMS[0]["id"],
                       Worker(rng, "6471", 9000 + i % 999)) for i in range(2000)]
        for i in range(0, len(probe), 100):
            kafka.produce("enrollment.events",
                          [(e["worker"]["nik"], json.dumps(e), None) for e in probe[i:i + 100]])
            time.sleep(0.05)
        time.sleep(3)
        sent = {}
        for line in kcat_lines(kafka.bootstrap, "enrollment.events", "%T %s\\n")[-2000:]:
            stamp, value = line.split(" ", 1)
            eid = json.loads(value).get("event_id", "")
            if eid.startswith("probe:"):
                sent[eid] = int(stamp)
        lat = []
        for line in kcat_lines(kafka.bootstrap, "enrollment.results", "%T %s\\n")[-6000:]:
            stamp, value = line.split(" ", 1)
            r = json.loads(value)
            if r["event_id"] in sent and r["status"] in ("confirmed", "duplicate", "rejected"):
                lat.append(int(stamp) - sent[r["event_id"]])
        lat.sort()

        active = len(endpoint.state()["active"])
        jbytes = journal_bytes(env.path("journal.db"))
        daemon.send_signal(15)
        daemon.wait(60)



        items = [json.loads(v)["worker"] for _, v in ds.messages[:1000]
                 if v.startswith(b"{") and b"worker" in v][:100]
        regs = [{"nik": w.get("nik"), "name": w.get("name", "x"), "birth_date":
                 w.get("birth_date", "1990-01-01"), "sex": w.get("sex", "M"),
                 "program": PROGRAMS[0]["id"],
                 "payer": {"level": "city", "region": "6471"}, "benefits": ["JKK", "JKM"],
                 "period": {"start": "2025-01", "end": "2025-12"}, "monthly_premium": 16800}
                for w in items]
        mock_rate = mock_ceiling(env, regs, min(total, 200_000))
        big = big_journal(env, kafka, args.workers, min(50_000, args.n))
        real = real_restart(env)
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(env.path("real.db" + suffix)):
                os.remove(env.path("real.db" + suffix))


    rate = n / e2e if e2e else float("inf")
    kcat_rate = n / kcat_secs
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")  # noqa
    print()
    print(f"| figure | value |")
    print(f"|---|---|")
    print(f"| events | {n} ({len(ds.invalid)} invalid, {ds.redelivered} redelivered) |")
    print(f"| results published | {results_on_topic} (expected {total}) |")
    print(f"| end to end (first to last result) | {e2e:.1f} s, {rate:,.0f} events/s |")
    print(f"| kcat consuming the same topic alone | {kcat_secs:.1f} s, {kcat_rate:,.0f} events/s "
          f"(daemon at {rate / kcat_rate:.1%} of it) |")
    print(f"| bpjs-mock taking 500-item batches alone | {mock_rate:,.0f} registrations/s |")
    print(f"| decision latency p50 / p99 (Kafka timestamps, 2,000-event trickle) | "
          f"{pct(0.5)} ms / {pct(0.99)} ms |")
    print(f"| daemon CPU | {cpu:.1f} s, {cpu / n * 1e6:.1f} s per million events |")
    print(f"| daemon peak RSS | {rss:.1f} MiB |")
    print(f"| daemon writes (wchar: WAL, checkpoints, sockets) | {wchar / n / 1024:.1f} KiB "
          f"per event |")
    print(f"| journal | {jbytes / MIB:.1f} MiB, {jbytes / max(active, 1):.0f} bytes per "
          f"active worker ({active} active) |")
    w = f"{args.workers:,} workers"
    print(f"| journal of {w}: made by bpjs-journal-fill | {big['fill']:.0f} s, "
          f"{big['file'] / MIB:,.0f} MiB, {big['file'] / args.workers:.0f} bytes per worker |")
    print(f"| restart on it: journal open and subscribed / first event consumed | "
          f"{big['open']:.2f} s / {big['consume']:.2f} s (of which the mock's group join "
          f"{big['join']:.2f} s) |")
    print(f"| then {big['n']:,} more events | {big['rate']:,.0f} events/s, peak RSS "
          f"{big['rss']:.1f} MiB, CPU {big['cpu'] / big['n'] * 1e6:.1f} s per million |")
    print(f"| the same journal after pruning (24 h and retention passed) | "
          f"{big['pruned'] / args.workers:.0f} bytes per worker in use |")
    print(f"| the same restart with a real Apache Kafka {real['version']} broker (a copy of "
          f"the journal as made): journal open and subscribed / first event consumed | "
          f"{real['open']:.2f} s / {real['consume']:.2f} s |")


if __name__ == "__main__":
    main()
