"""The demo: mock Kafka and mock BPJS endpoint on loopback, a realistic
sample produced with kcat as the portals would, bpjs-syncd until every event
has its results, a summary table, the pilot's budget binding and the
premium report the finance office reads, and everything stopped."""

import collections
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import Env, bin_path  # noqa: E402
from dataset import QUOTA_PROGRAM, generate, model  # noqa: E402

TOPICS = {"enrollment.events": 8, "enrollment.results": 8, "enrollment.events.dlq": 1}
# config/demo.yaml gives the pilot a budget for eleven whole-year coverages:
# it binds before the pilot's quota does
PILOT_FUNDED = 11


def main():
    ds = generate(seed=2025)
    expect, _ = model(ds)
    total = (len(expect) + len(ds.quota_ids) + len(ds.invalid) +
             sum(1 for e in expect.values() if e[2]) + PILOT_FUNDED)
    with Env() as env:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint(args=["--fail-5xx", "5", "--slow", "5",
                                            "--slow-ms", "100"])
        with open(os.path.join(HERE, "..", "config", "demo.yaml")) as f:
            text = f.read()
        for k, v in {"@BROKERS@": kafka.bootstrap, "@ENDPOINT@": endpoint.url,
                     "@SECRET_FILE@": endpoint.secret_file,
                     "@JOURNAL@": env.path("journal.db")}.items():
            text = text.replace(k, v)
        cfg = env.write_config(text)
        print(f"mock Kafka     {kafka.bootstrap}")
        print(f"mock endpoint  {endpoint.url}  (5% injected 503s, 5% slow answers)")
        kafka.produce("enrollment.events", [(k, v, None) for k, v in ds.messages])
        n = len(kafka.consume("enrollment.events", expect=len(ds.messages)))
        print(f"produced       {len(ds.messages)} events with kcat ({ds.redelivered} "
              f"redelivered, {len(ds.invalid)} malformed or invalid); {n} on the topic")
        start = time.monotonic()
        env.spawn("bpjs-syncd", [bin_path("bpjs-syncd"), "--config", cfg])
        rows = kafka.consume("enrollment.results", expect=total, timeout=180)
        took = time.monotonic() - start
        time.sleep(0.5)
        env.kill("bpjs-syncd")
        rc = env.wait("bpjs-syncd", 15)
        results = [json.loads(r["value"]) for r in rows]
        dlq = kafka.consume("enrollment.events.dlq", expect=len(ds.invalid))
        summary(results, dlq, endpoint, took, rc)
        report(cfg)


def summary(results, dlq, endpoint, took, rc):
    status = collections.Counter(r["status"] for r in results)
    dup = collections.Counter((r["program"], r["covered_by"]) for r in results
                              if r["status"] == "duplicate")
    rejected = collections.Counter(r["reason"] for r in results if r["status"] == "rejected")
    state = endpoint.state()
    active = collections.Counter(a["program"] for a in state["active"])
    stats = state["stats"]
    quota = {"BPP-DIFABEL-2025": 10000, "KALTIM-RENTAN-2025": 10000,
             "SORONG-RENTAN-2024": 19336, QUOTA_PROGRAM["id"]: QUOTA_PROGRAM["quota"]}
    funded = sum(1 for r in results if r["program"] == QUOTA_PROGRAM["id"] and
                 r["status"] == "registered")
    if funded != PILOT_FUNDED:
        print(f"the pilot's budget funded {funded} workers, not {PILOT_FUNDED}")
        sys.exit(1)

    print(f"\nbpjs-syncd answered every event in {took:.1f} s and stopped "
          f"(exit {rc}); {len(results)} results, {len(dlq)} dead letters\n")
    print(f"{'results':<44}{'count':>8}")
    for s in ("confirmed", "registered", "already_registered", "deactivated", "duplicate",
              "ignored", "rejected", "failed"):
        print(f"  {s:<42}{status.get(s, 0):>8}")
    print(f"\n{'duplicates: submitted to -> covered by':<44}{'count':>8}")
    for (p, c), n in sorted(dup.items()):
        print(f"  {p + ' -> ' + c:<42}{n:>8}")
    print(f"\n{'rejected, by reason':<44}{'count':>8}")
    for r, n in sorted(rejected.items()):
        print(f"  {r:<42}{n:>8}")
    print(f"\n{'participants at the endpoint / quota':<44}{'active':>8}")
    for p, q in quota.items():
        print(f"  {p:<42}{active.get(p, 0):>8} / {q}")
    print(f"\nendpoint: {stats['batches_processed']} batches, "
          f"{stats['requests'].get('503', 0)} answered 503 and retried, "
          f"registered twice: {stats['registered_twice']}, 409s: {stats['conflicts_409']}")
    if stats["registered_twice"] or stats["conflicts_409"] or rc != 0:
        sys.exit(1)


def report(cfg):
    """What the finance office reads: bpjs-syncctl report, the pilot's and
    the city's programmes."""
    for program in (QUOTA_PROGRAM["id"], "BPP-DIFABEL-2025"):
        r = subprocess.run([bin_path("bpjs-syncctl"), "--config", cfg, "report",
                            "--program", program], capture_output=True, text=True)
        print(f"\n$ bpjs-syncctl report --program {program}")
        print(r.stdout.rstrip() or r.stderr.rstrip())
        if r.returncode != 0:
            sys.exit(1)


if __name__ == "__main__":
    main()
