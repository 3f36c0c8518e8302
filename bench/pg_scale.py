"""The bench of several instances on one PostgreSQL journal (issue 16):
`bench/run.py N --journal postgresql --instances 1,2,3`.

For each instance count, from nothing: a private PostgreSQL 15 server
(harness.Postgres, the tests' own: initdb in the Env's folder, a free port,
as nobody when run as root) but with the server's durable defaults (fsync,
synchronous_commit and full_page_writes on: the tests turn them off), the
mock Kafka cluster with a fresh topic holding the same events, bpjs-mock, and
that many bpjs-syncd in one consumer group on one database. The figures are
taken as the SQLite bench takes them (bench/run.py): end to end from the
first to the last result's Kafka timestamp, every result counted on the
results topic with kcat against the expected count (the run fails if it
differs); CPU and wchar from /proc, of the daemons together and of the
server (the postmaster and its children, the reaped ones included through
the postmaster's own counters); each instance's share of the consumed
events from its /metrics; and what the server was doing: pg_stat_activity's
wait events and pg_locks sampled three times every 2 s, pg_stat_database,
pg_stat_wal, and the costliest statements from pg_stat_statements.
"""

import math
import os
import re
import sys
import time

from harness import (PG_BIN, Env, HarnessError, Postgres, _free_ports, bin_path,  # noqa: E402
                     wait_for)
from dataset import PROGRAMS, QUOTA_PROGRAM, daemon_config  # noqa: E402

DB = "bench"


class DurablePostgres(Postgres):
    """harness.Postgres with the server's own durable settings: what a site
    runs, so that commits pay their fsync as they would there."""

    def start(self, timeout=60.0):
        self.process = self.env.spawn(self.name, self._as_server(
            [os.path.join(PG_BIN, "postgres"), "-D", self.data,
             "-k", self.dir, "-h", "127.0.0.1", "-p", str(self.port),
             "-c", "max_connections=50", "-c", "track_wal_io_timing=on",
             "-c", "track_io_timing=on",
             "-c", "shared_preload_libraries=pg_stat_statements"]), cwd=self.dir)
        wait_for(lambda: not self.process.running
                 or "ready to accept connections" in self.process.log(),
                 timeout=timeout, what=f"{self.name} ready")
        if not self.process.running:
            raise HarnessError(f"{self.name} exited: {self.process.log_tail()}")


def start_postgres(env, durable):
    if not durable:
        return env.start_postgres()
    for attempt in range(3):
        pg = DurablePostgres(env, f"postgres-{attempt}", _free_ports(1)[0])
        pg.init()
        try:
            pg.start()
            return pg
        except HarnessError:
            if attempt == 2 or "already in use" not in pg.process.log():
                raise
    raise HarnessError("unreachable")


def _stat(pid):
    """utime+stime+cutime+cstime in seconds, and wchar and write_bytes; of a
    process that has gone, zeros."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        io = dict(l.split(": ") for l in open(f"/proc/{pid}/io").read().splitlines())
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0, 0
    cpu = sum(int(x) for x in f[11:15]) / os.sysconf("SC_CLK_TCK")
    return cpu, int(io["wchar"]), int(io["write_bytes"])


def _children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d))
    return out


def server_figures(pg):
    """CPU seconds, wchar and write_bytes of the server: the postmaster (its
    cutime/cstime and io counters hold its reaped children's) and the
    children still running."""
    root = pg.process.pid
    figs = [_stat(p) for p in [root] + _children(root)]
    return tuple(sum(f[i] for f in figs) for i in range(3))


def daemon_figures(pid):
    cpu, wchar, wbytes = _stat(pid)
    return cpu, wchar, wbytes


def metric(url, name):
    import http.client
    host, port = url[len("http://"):].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    return sum(float(l.split()[-1]) for l in body.splitlines() if l.startswith(name))


WAITS = ("SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, 'running')"
         " FROM pg_stat_activity WHERE datname = 'bench' AND state = 'active'"
         " AND pid <> pg_backend_pid()")
LOCKS = "SELECT count(*) FROM pg_locks WHERE NOT granted"
DONE = ("SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM ops WHERE status IS NULL),"
        " (SELECT count(*) FROM batches WHERE state IN (1, 2))")


STATEMENTS = ("SELECT round(100 * total_exec_time / sum(total_exec_time) OVER ())"
              " || '|' || calls || '|' || round(total_exec_time) || '|' || rows || '|'"
              " || left(regexp_replace(query, '\\s+', ' ', 'g'), 110)"
              " FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 8")


def pg_counters(pg):
    row = pg.psql("SELECT d.xact_commit, d.xact_rollback, d.deadlocks, d.blks_read,"
                  " d.blks_hit, w.wal_records, w.wal_bytes, w.wal_write, w.wal_sync,"
                  " w.wal_sync_time FROM pg_stat_database d, pg_stat_wal w"
                  " WHERE d.datname = 'bench'").strip().split("|")
    keys = ("commits", "rollbacks", "deadlocks", "blks_read", "blks_hit", "wal_records",
            "wal_bytes", "wal_write", "wal_sync", "wal_sync_ms")
    return {k: float(v) for k, v in zip(keys, row)}


def distinct_results(kcat_lines, kafka):
    """Each distinct result on the topic with its first Kafka timestamp, and
    how many results the topic holds (copies included)."""
    first, got = {}, 0
    for line in kcat_lines(kafka.bootstrap, "enrollment.results", "%T %s\\n"):
        stamp, value = line.split(" ", 1)
        got += 1
        first[value] = min(int(stamp), first.get(value, 1 << 62))
    return first, got


def one_count(ds, total, n_instances, p_events, p_results, durable, kcat_lines, log):
    """One instance count from nothing; returns its figures (or, for a run
    that did not finish, what was seen, with "failed" set)."""
    n = len(ds.messages)
    with Env() as env:
        pg = start_postgres(env, durable)
        url = pg.create_database(DB)
        kafka = env.start_kafka(topics={"enrollment.events": p_events,
                                        "enrollment.results": p_results,
                                        "enrollment.events.dlq": 8})
        kafka.produce("enrollment.events", [(k, v, None) for k, v in ds.messages],
                      timeout=600)
        on_topic = len(kcat_lines(kafka.bootstrap, "enrollment.events", "%o\\n"))
        if on_topic != n:
            sys.exit(f"bench: {on_topic} of {n} events on the topic: the mock dropped some")
        endpoint = env.start_endpoint(args=["--threads", "2"])
        programs = [dict(p, quota=10_000_000) for p in PROGRAMS] + [QUOTA_PROGRAM]
        cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file, None,
                            programs=programs, batch_size=500, batch_linger_ms=50,
                            max_in_flight=4)
        cfg["journal"] = {"url": url, "password_file": pg.password_file,
                          "max_pending": 10_000_000}
        cfg["log"]["level"] = "notice"  # the metrics address is a notice
        cfg["kafka"]["group_id"] = "bench-pg"
        path = env.write_config(cfg, "pg.yaml")

        if durable:
            pg.psql("CREATE EXTENSION pg_stat_statements", DB)
            pg.psql("SELECT pg_stat_statements_reset()", DB)
        base = server_figures(pg)
        c0 = pg_counters(pg)
        names = [f"d{i + 1}" for i in range(n_instances)]
        daemons = {name: env.spawn(name, [bin_path("bpjs-syncd"), "--config", path])
                   for name in names}
        urls = {}
        for name in names:
            env.wait_for_log(name, r"metrics at http://", timeout=120)
            urls[name] = re.search(r"metrics at (http://[0-9.:]+)/metrics",
                                   env.log(name)).group(1)
        waits, lock_waits, samples = {}, 0, 0
        t0 = time.monotonic()
        last_change = t0
        got = last = 0
        failed = None
        while True:
            time.sleep(2)
            try:
                # what the server's active backends wait for, and locks not granted
                for _ in range(3):
                    for w in pg.psql(WAITS, DB).split():
                        waits[w] = waits.get(w, 0) + 1
                    lock_waits += int(pg.psql(LOCKS, DB).strip())
                    samples += 1
                    time.sleep(0.2)
                left = pg.psql(DONE, DB).strip().split("|")
            except HarnessError:
                left = ["?"]
            stopped = [nm for nm, d in daemons.items() if not d.running]
            if stopped:
                failed = f"{', '.join(stopped)} stopped"
                first, got = distinct_results(kcat_lines, kafka)
                break
            got = len(kcat_lines(kafka.bootstrap, "enrollment.results", "%o\\n"))
            now = time.monotonic()
            log(f"    {now - t0:6.1f} s  {got}/{total} results on the topic; journal: "
                f"{' '.join(left)} (outbox, unanswered ops, open batches)")
            if got != last:
                last, last_change = got, now
            if got >= total and left == ["0", "0", "0"]:
                time.sleep(2)  # another instance's copies of the last results
                first, got = distinct_results(kcat_lines, kafka)
                if len(first) >= total:
                    break  # else: copies of some results, others not yet consumed
            if now - last_change > 180:
                failed = f"no result published for 180 s at {got}"
                first, got = distinct_results(kcat_lines, kafka)
                break
        distinct = len(first)
        ts = list(first.values())
        statements = pg.psql(STATEMENTS, DB).strip().splitlines() if durable else []
        srv = server_figures(pg)
        c1 = pg_counters(pg)
        dfig = {nm: daemon_figures(d.pid) for nm, d in daemons.items()}
        consumed = {}
        for nm in names:
            try:
                consumed[nm] = metric(urls[nm], "bpjs_sync_events_consumed_total")
            except OSError:
                consumed[nm] = float("nan")
        published = {nm: metric(urls[nm], "bpjs_sync_results_published_total")
                     for nm in names}
        if failed is None and distinct != total:
            failed = f"{distinct} distinct results on the topic, expected {total}"
        if failed:
            for nm in names:
                log(f"--- {nm}, last lines:\n{env.log(nm)[-1500:]}")
        for d in daemons.values():
            d.send_signal(15)
        for d in daemons.values():
            d.wait(60)
        e2e = (max(ts) - min(ts)) / 1000.0 if len(ts) > 1 else float("nan")
        d_cpu = sum(f[0] for f in dfig.values())
        d_wchar = sum(f[1] for f in dfig.values())
        return {"instances": n_instances, "failed": failed, "results": got,
                "distinct": distinct, "published": published,
                "expected": total, "e2e": e2e, "rate": n / e2e if e2e else float("nan"),
                "daemon_cpu": d_cpu, "server_cpu": srv[0] - base[0],
                "daemon_wchar": d_wchar, "server_wchar": srv[1] - base[1],
                "server_write_bytes": srv[2] - base[2],
                "consumed": consumed, "waits": waits, "lock_waits": lock_waits,
                "samples": samples, "statements": statements, "pg": {k: c1[k] - c0[k] for k in c0}}


def run(ds, expect, total, counts, durable, kcat_lines, mib):
    n = len(ds.messages)
    size = sum(len(v) for _, v in ds.messages) / n
    # a multiple of 6 partitions, so that 1, 2 and 3 instances get equal shares
    p_events = 6 * math.ceil(max(6, math.ceil(n * size * 1.3 / (4 * mib))) / 6)
    # each instance publishes the outbox: up to one copy of every result per
    # instance (docs/operations.md, "Several instances"), all of which
    # must fit in the mock's 5 MiB a partition or the oldest are dropped
    p_results = max(4, math.ceil(max(counts) * total * 500 * 1.3 / (4 * mib)))
    settings = ("the server's defaults: fsync, synchronous_commit, full_page_writes on"
                if durable else "the tests' settings: fsync off")
    print(f"bench: {n} events ({size:.0f} bytes on average), {total} results expected; "
          f"{p_events} event partitions, {p_results} result partitions; a PostgreSQL "
          f"journal ({settings}), instances {counts}", flush=True)
    rows = []
    for c in counts:
        print(f"  {c} instance(s):", flush=True)
        rows.append(one_count(ds, total, c, p_events, p_results, durable, kcat_lines,
                              lambda s: print(s, flush=True)))
        r = rows[-1]
        print(f"  {c}: {r['rate']:,.0f} events/s, {r['distinct']}/{total} distinct results, "
              f"{r['results']} on the topic (published per instance: "
              + ", ".join(f"{k} {v:,.0f}" for k, v in r["published"].items()) + ")"
              + (f", FAILED: {r['failed']}" if r["failed"] else ""), flush=True)

    print()
    print("| instances | end to end (first to last result) | distinct results (expected); "
          "all results on the topic | "
          "daemons' CPU s per million events | server's CPU s per million | "
          "daemons' wchar per event (their journal traffic is send(2), not counted) | server's wchar (write_bytes) per event | "
          "share of consumed events |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        tot = sum(r["consumed"].values())
        share = " / ".join(f"{v / tot:.0%}" if tot else "?" for v in r["consumed"].values())
        print(f"| {r['instances']} | {r['e2e']:.1f} s, **{r['rate']:,.0f} events/s** | "
              f"{r['distinct']:,} ({r['expected']:,}); {r['results']:,}"
              f"{' FAILED: ' + r['failed'] if r['failed'] else ''} | "
              f"{r['daemon_cpu'] / n * 1e6:.1f} | {r['server_cpu'] / n * 1e6:.1f} | "
              f"{r['daemon_wchar'] / n:,.0f} bytes | {r['server_wchar'] / n / 1024:.1f} KiB "
              f"({r['server_write_bytes'] / n / 1024:.1f} KiB) | {share} of {tot:,.0f} |")
    print()
    print("| instances | commits per 1,000 events | rollbacks | WAL bytes per event | "
          "WAL fsyncs (ms in them) | lock waits seen (pg_locks, per sample) | "
          "what active backends were doing (pg_stat_activity, share of samples) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        p = r["pg"]
        seen = sum(r["waits"].values())
        top = ", ".join(f"{k} {v / seen:.0%}" for k, v in
                        sorted(r["waits"].items(), key=lambda kv: -kv[1])[:5]) if seen else "-"
        print(f"| {r['instances']} | {p['commits'] / n * 1000:.1f} | {p['rollbacks']:.0f} | "
              f"{p['wal_bytes'] / n:,.0f} | {p['wal_sync']:,.0f} ({p['wal_sync_ms']:,.0f}) | "
              f"{r['lock_waits'] / max(r['samples'], 1):.2f} | "
              f"{top}; {seen / max(r['samples'], 1):.2f} active a sample |")
    for r in rows:
        if r["statements"]:
            print()
            print(f"{r['instances']} instance(s), the statements that took the server's time "
                  "(pg_stat_statements):")
            print()
            print("| share of execution time | calls | ms | rows | statement |")
            print("|---|---|---|---|---|")
            for line in r["statements"]:
                share, calls, ms, nrows, q = line.split("|", 4)
                print(f"| {share}% | {int(calls):,} | {int(ms):,} | {int(nrows):,} | "
                      f"`{q.replace('|', '/')}` |")
    if any(r["failed"] for r in rows):
        sys.exit("bench: " + "; ".join(f"{r['instances']} instance(s): {r['failed']}"
                                       for r in rows if r["failed"]))
