"""bpjs-journal-layout on tiny sizes (ctest bench.layout), so that the
microbenchmark cannot rot: every layout and variant exits 0, prints one line
with every key the docs quote, and its own check (every decision and every
worker's state read back, at the end and after the restart, against an
in-memory model) says verify=ok; a defect put in on purpose (--fault) makes
that check fail with exit 1. No timing is asserted.

    layout_smoke.py BINARY"""
import os
import re
import subprocess
import sys
import tempfile

COMMON = ["--workers", "2000", "--events", "5000", "--verify"]
KEYS = ["layout", "variant", "W", "N", "B", "fill_s", "events_per_s", "wchar_per_event",
        "write_bytes_per_event", "fdatasyncs", "cpu_us_per_event", "peak_rss_mib",
        "file_mib", "bytes_per_worker", "lookup_ms", "verify"]
LOG_KEYS = ["D", "merges", "merge_wchar_per_merged_event", "wchar_per_event_steady",
            "restart_ms", "replayed"]
RUNS_KEYS = ["F", "R", "runs", "compactions", "base_merges", "base_merge_mib", "filter_kib"]
# the worker state in sorted runs: four runs of a batch each, the first three
# compacted into one, which then holds more than the base (2,000 workers) and
# is merged into it; the fourth run is left above the new base. So every path
# is taken: appends, a compaction, a merge into the base, lookups through
# several runs and their filters, and after the restart the runs and filters
# read back.
STATE_RUNS = ["--layout", "log", "--delta", "500", "--state", "runs", "--fan-in", "3",
              "--base-ratio", "1"]
RUNS = [
    ["--layout", "today"],
    ["--layout", "today", "--coverage-once"],
    ["--layout", "log"],
    # merges during the run and a replay of what came after the last one
    ["--layout", "log", "--delta", "1500"],
    ["--layout", "log", "--delta", "1500", "--group-commit"],
    ["--layout", "log", "--delta", "1500", "--journal-mode", "rollback",
     "--page-size", "16384"],
    ["--layout", "log", "--delta", "1500", "--bodies", "derived"],
    STATE_RUNS,
    STATE_RUNS + ["--journal-mode", "rollback", "--bodies", "derived"],
    STATE_RUNS + ["--group-commit"],
]
FAULTS = [["--delta", "1500", "--fault", "merge-drops-a-worker"],
          ["--delta", "1500", "--fault", "replay-skips-answers"],
          STATE_RUNS[2:] + ["--fault", "merge-drops-a-worker"],
          STATE_RUNS[2:] + ["--fault", "compaction-keeps-the-older"]]


def run(binary, args, workdir):
    p = subprocess.run([binary] + COMMON + args + ["--dir", workdir],
                       capture_output=True, text=True, timeout=300)
    lines = p.stdout.splitlines()
    fields = dict(kv.split("=", 1) for kv in lines[-1].split()) if lines else {}
    return p, lines, fields


def main():
    binary = sys.argv[1]
    failures = []
    with tempfile.TemporaryDirectory(prefix="bpjs-layout-") as workdir:
        for args in RUNS:
            name = " ".join(args)
            p, lines, f = run(binary, args, workdir)
            want = KEYS + (LOG_KEYS if "log" in args else []) + \
                (RUNS_KEYS if "runs" in args else [])
            missing = [k for k in want if k not in f]
            if p.returncode != 0 or len(lines) != 1 or missing or f.get("verify") != "ok":
                failures.append(f"{name}: exit {p.returncode}, {len(lines)} lines, missing "
                                f"{missing}, verify={f.get('verify')}; stderr: {p.stderr[-500:]}")
                continue
            if int(f["register"]) == 0 or int(f["redelivered"]) == 0 or \
                    int(f["rejected"]) == 0 or int(f["deactivate"]) == 0:
                failures.append(f"{name}: the mix lacks a kind of event: {lines[0]}")
            if "--delta" in args and (int(f["merges"]) < 1 or int(f["replayed"]) < 1):
                failures.append(f"{name}: no merge or nothing replayed: {lines[0]}")
            if "runs" in args and (int(f["compactions"]) < 1 or int(f["base_merges"]) < 1
                                   or int(f["runs"]) < 2):
                failures.append(f"{name}: no compaction, no merge into the base or a "
                                f"single run at the end: {lines[0]}")
            if re.search(r"\d{16}", p.stdout + p.stderr):
                failures.append(f"{name}: a NIK-like number in the output")
            print(f"ok: {name}: {lines[0]}")
        for fault in FAULTS:
            name = " ".join(fault)
            p, lines, f = run(binary, ["--layout", "log"] + fault, workdir)
            if p.returncode != 1 or f.get("verify") != "FAILED":
                failures.append(f"{name}: exit {p.returncode}, "
                                f"verify={f.get('verify')}: the check did not catch it")
            else:
                print(f"ok: {name} caught: verify=FAILED, exit 1")
        if os.listdir(workdir):
            failures.append(f"journals left behind without --keep: {os.listdir(workdir)}")
    for msg in failures:
        print("FAIL:", msg)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
