#!/usr/bin/env python3
"""Where a running daemon's threads wait: samples /proc/PID/task/*/syscall
every 2 ms for a while and prints, per thread, the share of samples in
user space ("running") and in each system call it was blocked in. No
tracing: the daemon runs at its own speed.

    python3 bench/thread_states.py [--wait S] [--seconds S] [NAME_OR_PID]

waits for a process named NAME (default bpjs-syncd) to appear, waits S
more (default 5), then samples for --seconds (default 10)."""

import argparse
import collections
import os
import sys
import time

# x86_64 system call numbers of the calls a daemon blocks in
SYSCALLS = {0: "read", 1: "write", 7: "poll", 17: "pread64", 18: "pwrite64",
            23: "select", 35: "nanosleep", 44: "sendto", 45: "recvfrom",
            46: "sendmsg", 47: "recvmsg", 74: "fsync", 75: "fdatasync",
            202: "futex", 230: "clock_nanosleep", 232: "epoll_wait",
            270: "pselect6", 271: "ppoll", 281: "epoll_pwait"}


def find(name):
    if name.isdigit():
        return name
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() == name:
                        return p
            except OSError:
                pass
    return None


def sample(pid, seconds):
    hist = collections.defaultdict(collections.Counter)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            break
        for t in tids:
            try:
                with open(f"/proc/{pid}/task/{t}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{pid}/task/{t}/syscall") as f:
                    call = f.read().split()[0]
            except (OSError, IndexError):
                continue
            what = "running" if call == "running" else \
                SYSCALLS.get(int(call), f"syscall {call}")
            hist["main" if t == pid else f"{comm} ({t})"][what] += 1
        time.sleep(0.002)
    return hist


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", nargs="?", default="bpjs-syncd")
    ap.add_argument("--wait", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    pid = None
    while pid is None:
        pid = find(a.name)
        time.sleep(0.02)
    time.sleep(a.wait)
    hist = sample(pid, a.seconds)
    if not hist:
        sys.exit(f"thread_states: process {pid} went away")
    for thread, c in hist.items():
        n = sum(c.values())
        print(f"{thread}: {n} samples: " +
              ", ".join(f"{k} {100 * v / n:.1f}%" for k, v in c.most_common(6)))


if __name__ == "__main__":
    main()
