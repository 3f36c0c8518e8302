"""A full disk (issue 12): the journal on a small tmpfs that fills up while
batches are in flight, then gets its space back. Nothing may be lost or
sent twice, /readyz must say not ready while the journal refuses writes, the
log must name the cause once, and everything must resume by itself, without
a restart.

The tests run as root: a tmpfs is mounted in the test's directory and
unmounted in cleanup, even on failure. A machine where mounting is
impossible fails this test with the reason (it must not pass silently)."""

import errno
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import daemon_config, generate, model  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results)

# Large enough for the journal of this dataset with room to spare (the WAL
# only grows: no checkpoint below 10,000 pages); the filler takes the rest.
TMPFS_SIZE = "32m"


class Tmpfs:
    def __init__(self, path, size):
        self.path, self.size, self.mounted = path, size, False

    def __enter__(self):
        os.makedirs(self.path, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.size},mode=0700",
                            "tmpfs", self.path], capture_output=True, text=True)
        if p.returncode != 0:
            raise AssertionError(
                f"cannot mount a {self.size} tmpfs at {self.path} "
                f"(exit {p.returncode}: {p.stderr.strip()}): this test needs root "
                "and mount(2); it fails rather than skip, so that it never passes "
                "unseen")
        self.mounted = True
        return self

    def __exit__(self, *exc):
        if self.mounted:
            for _ in range(50):
                if subprocess.run(["umount", self.path],
                                  capture_output=True).returncode == 0:
                    break
                time.sleep(0.2)  # the daemon may still hold its files
            else:
                subprocess.run(["umount", "-l", self.path])
        return False

    def fill(self, name="filler"):
        """Writes zeros until the file system is full; returns the bytes written."""
        path = os.path.join(self.path, name)
        chunk = b"\0" * 65536
        n = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                try:
                    n += os.write(fd, chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    if len(chunk) == 1:
                        break
                    chunk = chunk[: len(chunk) // 2]
        finally:
            os.close(fd)
        return n

    def free(self, name="filler"):
        os.unlink(os.path.join(self.path, name))

    def available(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize


def http_get(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metrics_url(env):
    m = re.search(r"metrics at (http://[0-9.:]+)/metrics", env.log("daemon"))
    return m.group(1) if m else None


def test_full_disk_mid_run_resumes_exactly():
    ds = generate(seed=13, scale=2)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    half = len(ds.messages) // 2
    with Env() as env, Tmpfs(env.path("disk"), TMPFS_SIZE) as disk:
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = daemon_config(kafka.bootstrap, endpoint.url, endpoint.secret_file,
                            os.path.join(disk.path, "journal.db"), batch_size=20,
                            timeout_ms=10000)
        # the disk stays full for longer than the tests' usual 7 s poll
        # interval; a consumer that leaves its group is another test's matter
        cfg["kafka"]["properties"]["max.poll.interval.ms"] = "60000"
        cfg = env.write_config(cfg)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[:half]])
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for_log("daemon", r"results recorded", timeout=90)
        env.wait_for(lambda: metrics_url(env), 10, "the metrics address")
        url = metrics_url(env)
        env.wait_for(lambda: http_get(url + "/readyz")[0] == 200, 30, "ready")

        # batches in flight: every answer comes 3 s late
        endpoint.faults(slow=100, slow_ms=3000)
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[half:]])
        env.wait_for(lambda: int(re.findall(r"bpjs_sync_inflight_requests (\d+)",
                                            http_get(url + "/metrics")[1])[0] or 0) > 0,
                     30, "requests in flight", interval=0.02)
        filled = disk.fill()
        full_at = time.monotonic()
        print(f"disk full: {filled} bytes of filler, journal "
              f"{os.path.getsize(os.path.join(disk.path, 'journal.db-wal'))} bytes of WAL",
              flush=True)

        env.wait_for(lambda: http_get(url + "/readyz")[0] == 503, 30,
                     "/readyz not ready while the disk is full")
        status, body = http_get(url + "/readyz")
        assert status == 503 and "journal" in body and "disk is full" in body, (status,
                                                                              body)
        env.wait_for_log("daemon", r"journal: writes fail \(.*database or disk is full",
                         timeout=30)
        assert not env.log_contains("daemon", r"no transaction is active")
        # the slow answers arrive while the disk is full, and cannot be recorded
        before = endpoint.stats()["batches_processed"]
        env.wait_for(lambda: endpoint.stats()["batches_processed"] > before, 30,
                     "answers while the disk is full")
        time.sleep(max(0.0, full_at + 5 - time.monotonic()))
        assert http_get(url + "/readyz")[0] == 503
        assert http_get(url + "/healthz")[0] == 200

        endpoint.faults(slow=0)
        disk.free()
        freed_at = time.monotonic()
        env.wait_for_log("daemon", r"journal: writes work again", timeout=30)
        env.wait_for(lambda: http_get(url + "/readyz")[0] == 200, 30, "ready again")
        print(f"ready again {time.monotonic() - freed_at:.1f} s after the space came "
              "back", flush=True)
        got = results(kafka, expect=total, timeout=120)
        time.sleep(1.0)  # nothing more may come
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        # every event exactly one first result (and its final one); the
        # endpoint's ledger exact: each confirmed worker once, no 409, no
        # registration id under two keys
        stats = check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        # the answers that could not be recorded were asked for again under
        # the same key, and the endpoint answered from its memory
        assert env.log_contains("daemon", r"pending again: its answer is asked for "
                                "again under the same key"), "no answer was lost"
        assert stats["idempotent_replays"] > 0, stats
        # one line when writes start failing, one when they work again
        assert env.log_contains("daemon", r"journal: writes fail", times=1)
        assert env.log_contains("daemon", r"journal: writes work again", times=1)
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
        # no restart: the same process did all of it, and stops cleanly
        assert daemon.running
        assert env.log_contains("daemon", r"main: bpjs-syncd .*: journal", times=1)
        assert env.stop("daemon") == 0


if __name__ == "__main__":
    run_tests(globals())
