"""harness: what every bpjs-sync integration test uses (Python 3 stdlib only).

A test starts its own mock Kafka (bpjs-kafka-mock) and mock endpoint
(bpjs-mock) on loopback inside an ``Env``, produces events with kcat as a
registration portal would, runs the daemon, and asserts on outcomes:

    from harness import Env, run_tests

    def test_something():
        with Env() as env:
            kafka = env.start_kafka()
            kafka.produce("enrollment.events", [(b"k", b'{"nik": ...}', None)])
            rows = kafka.consume("enrollment.events", expect=1)

    if __name__ == "__main__":
        run_tests(globals())

Everything an Env starts is stopped (SIGTERM, then SIGKILL) and its
temporary directory removed when the ``with`` block ends, even on an
exception; on an exception the tail of every process log is printed first.
See docs/testing.md for the whole story.

Environment: BPJS_BIN_DIR (the build's bin directory, set by ctest),
BPJS_SOURCE_DIR (the repository), BPJS_KEEP_TMP=1 keeps the temporary
directory for a post-mortem, BPJS_TEST_VERBOSE=1 prints process logs even
when a test passes.
"""

import ctypes
import inspect
import json
import os
import queue
import re
import secrets
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request
import warnings

__all__ = [
    "BIN_DIR", "SOURCE_DIR", "DEFAULT_TOPICS", "MOCK_PARTITION_BYTES",
    "Postgres", "HarnessError", "WaitTimeout", "ProduceError", "ConsumeError", "Skip",
    "Env", "Process", "Kafka", "Endpoint",
    "bin_path", "produce", "consume", "wait_for", "run_tests",
]

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("BPJS_SOURCE_DIR") or os.path.dirname(os.path.dirname(_HERE))
BIN_DIR = os.environ.get("BPJS_BIN_DIR") or os.path.join(SOURCE_DIR, "build", "bin")

# The topics of the design card, with the partition counts tests default to.
DEFAULT_TOPICS = {
    "enrollment.events": 4,
    "enrollment.results": 4,
    "enrollment.events.dlq": 1,
}

# librdkafka's mock cluster keeps at most this many bytes (and 100000 produce
# batches) per partition and silently drops the oldest beyond that.
MOCK_PARTITION_BYTES = 5 * 1024 * 1024

KCAT = "kcat"
KILL_TIMEOUT = 5.0


class HarnessError(Exception):
    """Something the harness was asked to do did not happen."""


class WaitTimeout(HarnessError, TimeoutError):
    """A wait ran out of time; the message says what was awaited."""


class ProduceError(HarnessError):
    """kcat could not produce (or get acknowledged) every message."""


class ConsumeError(HarnessError):
    """kcat could not read a topic."""


class Skip(Exception):
    """Raise in a test to skip it (counted apart from passes and failures)."""


def bin_path(name):
    """Path of a program built into $BPJS_BIN_DIR; raises if it is missing."""
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{name} not found in BPJS_BIN_DIR={BIN_DIR} (is it built?)")
    return path


def _require_kcat():
    if not shutil.which(KCAT):
        raise HarnessError("kcat is not installed (Debian: apt-get install kcat)")


def wait_for(predicate, timeout=10.0, what=None, interval=0.05):
    """Polls predicate() until it returns something truthy and returns that.

    An exception raised by predicate counts as "not yet" and is quoted in the
    WaitTimeout raised after `timeout` seconds, which names `what`."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - quoted on timeout
            last_error = e
        if time.monotonic() >= deadline:
            what = what or getattr(predicate, "__name__", repr(predicate))
            msg = f"timed out after {timeout:g}s waiting for {what}"
            if last_error is not None:
                msg += f" (last error: {last_error!r})"
            raise WaitTimeout(msg)
        time.sleep(interval)


# ---------------------------------------------------------------------------
# Processes

try:
    _libc = ctypes.CDLL(None, use_errno=True)
    _prctl = _libc.prctl
except (OSError, AttributeError):  # pragma: no cover - not Linux
    _prctl = None

_PR_SET_PDEATHSIG = 1


def _child_setup():
    # Runs in the child between fork and exec: if the test process dies
    # (even by SIGKILL, e.g. a ctest timeout), the child gets SIGKILL too.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class Process:
    """A process started by Env.spawn().

    stdout and stderr go to one log file in the Env's directory (log()). With
    stdout_pipe=True, stdout is also read line by line for readline() (used by
    the mocks, whose stdout is their protocol); each line still lands in the
    log file."""

    def __init__(self, name, argv, popen, log_path, piped, stop_signal=signal.SIGTERM):
        self.name = name
        self.argv = list(argv)
        self.stop_signal = stop_signal
        self.popen = popen
        self.pid = popen.pid
        self.log_path = log_path
        self._lines = queue.Queue() if piped else None
        self._reader = None
        self._lock = threading.Lock()
        if piped:
            self._reader = threading.Thread(target=self._read_stdout,
                                            name=f"stdout-{name}", daemon=True)
            self._reader.start()

    def _read_stdout(self):
        with open(self.log_path, "ab", buffering=0) as log:
            for raw in iter(self.popen.stdout.readline, b""):
                log.write(raw)
                self._lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self._lines.put(None)

    @property
    def returncode(self):
        return self.popen.poll()

    @property
    def running(self):
        return self.popen.poll() is None

    def log(self):
        """Everything the process wrote so far (stdout and stderr)."""
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def readline(self, timeout=10.0):
        """Next stdout line (stdout_pipe=True only), without its newline."""
        if self._lines is None:
            raise HarnessError(f"{self.name}: stdout is not piped")
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise WaitTimeout(f"{self.name}: no stdout line within {timeout:g}s\n"
                              f"--- log tail ---\n{self.log_tail()}") from None
        if line is None:
            self._lines.put(None)  # stays at EOF for later callers
            try:
                rc = self.popen.wait(timeout=2)
            except subprocess.TimeoutExpired:
                rc = None
            raise HarnessError(f"{self.name}: stdout closed (exit status {rc})\n"
                               f"--- log tail ---\n{self.log_tail()}")
        return line

    def write_line(self, line):
        """Writes one line to stdin (stdin=True only)."""
        if "\n" in line:
            raise ValueError("one line at a time")
        if self.popen.stdin is None:
            raise HarnessError(f"{self.name}: stdin is not piped")
        try:
            self.popen.stdin.write(line.encode() + b"\n")
            self.popen.stdin.flush()
        except BrokenPipeError:
            raise HarnessError(f"{self.name}: stdin closed (exit status "
                               f"{self.popen.poll()})\n--- log tail ---\n"
                               f"{self.log_tail()}") from None

    def request(self, line, timeout=10.0):
        """Writes a line and returns the next stdout line (a command/answer
        exchange), atomically with respect to other threads."""
        with self._lock:
            self.write_line(line)
            return self.readline(timeout)

    def send_signal(self, sig):
        if self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for the process to exit; returns its exit status."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise WaitTimeout(f"{self.name} (pid {self.pid}) still running after "
                              f"{timeout:g}s") from None

    def stop(self, timeout=KILL_TIMEOUT, sig=None):
        """Sends sig (the process's stop_signal, SIGTERM unless spawn was
        told otherwise), then SIGKILL to its process group if it has not
        exited after timeout seconds; returns the exit status (negative:
        killed by a signal, as subprocess reports it)."""
        sig = self.stop_signal if sig is None else sig
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(sig)
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                sys.stderr.write(f"harness: {self.name} (pid {self.pid}) ignored "
                                 f"{signal.Signals(sig).name} for {timeout:g}s, "
                                 "killing it\n")
                # Not reaped yet, so its pid is still its process group's id:
                # SIGKILL the process and whatever it forked.
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    self.popen.kill()
        rc = self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        return rc


# ---------------------------------------------------------------------------
# Kafka: bpjs-kafka-mock and kcat

_BOOTSTRAP_RE = re.compile(r"^127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+)*$")


class Kafka:
    """A running bpjs-kafka-mock (Env.start_kafka())."""

    def __init__(self, process, bootstrap, brokers, topics):
        self.process = process
        self.bootstrap = bootstrap
        self.brokers = brokers
        self.topics = dict(topics)

    def command(self, line, timeout=10.0):
        """Sends one control command; returns its answer line ("ok" or
        "error: ...")."""
        return self.process.request(line, timeout)

    def expect_ok(self, line, timeout=10.0):
        """Sends a command and raises HarnessError unless it answers ok."""
        answer = self.command(line, timeout)
        if answer != "ok":
            raise HarnessError(f"kafka mock: '{line}' answered '{answer}'")

    def create_topic(self, name, partitions):
        self.expect_ok(f"topic {name} {int(partitions)}")
        self.topics[name] = int(partitions)

    def broker_down(self, broker_id=1):
        self.expect_ok(f"broker-down {broker_id}")

    def broker_up(self, broker_id=1):
        self.expect_ok(f"broker-up {broker_id}")

    def push_errors(self, apikey, count, error):
        """Fails the next `count` requests of `apikey` (0 Produce, 1 Fetch,
        8 OffsetCommit, 12 Heartbeat, ...) with `error` (name or number)."""
        self.expect_ok(f"push-errors {int(apikey)} {int(count)} {error}")

    def clear_errors(self, apikey):
        self.expect_ok(f"clear-errors {int(apikey)}")

    def rtt(self, broker_id, ms):
        self.expect_ok(f"rtt {broker_id} {int(ms)}")

    def set_leader(self, topic, partition, broker_id):
        self.expect_ok(f"leader {topic} {int(partition)} {broker_id}")

    def produce(self, topic, messages, **kw):
        kw.setdefault("partitions", self.topics.get(topic))
        return produce(self.bootstrap, topic, messages, **kw)

    def consume(self, topic, **kw):
        return consume(self.bootstrap, topic, **kw)

    def stop(self, timeout=KILL_TIMEOUT):
        return self.process.stop(timeout)


def _to_bytes(v, what):
    if v is None or isinstance(v, bytes):
        return v
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (dict, list)) and what == "value":
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raise TypeError(f"message {what} must be bytes, str or None (got {type(v).__name__})")


def _header_args(headers):
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, dict) else headers
    args = []
    for name, value in items:
        name = _to_bytes(name, "header name")
        if not name or b"=" in name or b"\0" in name:
            raise ValueError(f"kcat cannot send header name {name!r} (empty, '=' or NUL)")
        if value is None:
            args += [b"-H", name]  # kcat: a header without '=' has a NULL value
        else:
            value = _to_bytes(value, "header value")
            if b"\0" in value:
                raise ValueError("kcat takes headers on its command line: "
                                 "a header value cannot contain NUL")
            args += [b"-H", name + b"=" + value]
    return tuple(args)


def _record(key, value, kd):
    """How kcat -K kd spells one message, and whether it needs -Z.

    Returns (record, mode) with mode "Z" (needs -Z), "plain" (must not have
    -Z) or "any"."""
    if key is None:
        if value is None:
            return kd, "Z"              # empty key and value, -Z: both NULL
        if value == b"":
            raise ValueError(
                "kcat 1.7.1 cannot produce a NULL key with an empty, non-NULL "
                "value (it skips empty input records and empty files); use "
                "key=b'' or a non-empty value")
        return value, "any"             # no key delimiter: key stays NULL
    if key == b"":
        if value is None:
            raise ValueError(
                "kcat 1.7.1 cannot produce an empty, non-NULL key with a NULL "
                "value (-Z turns both into NULL); use key=None or a non-empty key")
        return kd + value, "plain"      # without -Z, empty stays empty
    if value is None:
        return key + kd, "Z"
    if value == b"":
        return key + kd, "plain"
    return key + kd + value, "any"


def _pick_delimiters(msgs):
    """A message delimiter and a key delimiter that split this run of
    messages back exactly. They are printable ASCII (kcat takes them on argv
    and expands backslash escapes), so they are checked, not assumed."""
    for _ in range(100):
        d = b"~D" + secrets.token_hex(12).encode() + b"~"
        kd = b"~K" + secrets.token_hex(12).encode() + b"~"
        ok = True
        for key, value in msgs:
            if (key is not None and kd in key) or (key is None and value and kd in value):
                ok = False
                break
        if not ok:
            continue
        records = [_record(k, v, kd)[0] for k, v in msgs]
        stream = d.join(records) + d
        if stream.split(d) == records + [b""]:
            return d, kd, stream
    raise ProduceError("could not find delimiters absent from the messages")


def _normalize(messages):
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, (tuple, list)) or not 2 <= len(m) <= 4:
            raise TypeError(f"message {i}: expected (key, value[, partition[, headers]])")
        key = _to_bytes(m[0], "key")
        value = _to_bytes(m[1], "value")
        partition = m[2] if len(m) > 2 else None
        headers = m[3] if len(m) > 3 else None
        if partition is not None and (not isinstance(partition, int) or partition < 0):
            raise ValueError(f"message {i}: partition must be None or an int >= 0")
        # Validates the combination early (raises for what kcat cannot do).
        _, mode = _record(key, value, b"~")
        out.append((key, value, partition, _header_args(headers), mode))
    return out


def _runs(msgs):
    """Splits messages into consecutive runs that one kcat invocation can
    produce (same partition, same headers, compatible -Z), keeping order."""
    runs = []
    for key, value, partition, hdrs, mode in msgs:
        if runs:
            run = runs[-1]
            if (run["partition"] == partition and run["headers"] == hdrs and
                    (mode == "any" or run["mode"] in ("any", mode))):
                if mode != "any":
                    run["mode"] = mode
                run["msgs"].append((key, value))
                continue
        runs.append({"partition": partition, "headers": hdrs, "mode": mode,
                     "msgs": [(key, value)]})
    return runs


def produce(bootstrap, topic, messages, timeout=30.0, idempotent=True, extra_args=(),
            partitions=None):
    """Produces messages with kcat, as a registration portal would, and
    returns once every one is acknowledged (acks=all); raises ProduceError
    otherwise.

    Each message is (key, value[, partition[, headers]]):
      key, value  bytes (byte-exact: newlines, NUL, invalid UTF-8 are fine),
                  str (sent as UTF-8), or None (NULL); a value may also be a
                  dict or list (sent as compact JSON).
      partition   None (librdkafka's partitioner: by key hash) or an int.
      headers     dict or list of (name, value); values may not contain NUL.
    kcat 1.7.1 cannot send (None, b"") nor (b"", None): ValueError.

    Order is kept: consecutive messages with the same partition and headers
    go through one kcat run (idempotent producer, so retries keep order).
    The producer rides through broker outages (kcat -E) until `timeout`.
    Mind the mock's 5 MiB per partition (MOCK_PARTITION_BYTES)."""
    _require_kcat()
    msgs = _normalize(messages)
    per_target = {}
    for key, value, partition, _, _ in msgs:
        per_target[partition] = per_target.get(partition, 0) + len(key or b"") + len(value or b"")
    for partition, size in per_target.items():
        # the partitioner spreads keyed messages about evenly
        if partition is None and partitions:
            size = size // partitions
        if size > MOCK_PARTITION_BYTES:
            warnings.warn(f"producing {size} bytes to {topic} partition "
                          f"{'(partitioner)' if partition is None else partition}: "
                          "the mock keeps only 5 MiB per partition and drops "
                          "older messages", stacklevel=2)
    for run in _runs(msgs):
        d, kd, stream = _pick_delimiters(run["msgs"])
        biggest = max(len(r) for r in stream.split(d))
        argv = [KCAT, "-P", "-b", bootstrap, "-t", topic, "-D", d.decode(), "-K",
                kd.decode(), "-E", "-m", str(max(1, int(timeout))),
                "-X", "acks=all",
                "-X", f"message.timeout.ms={max(1, int(timeout * 1000))}",
                "-X", f"enable.idempotence={'true' if idempotent else 'false'}"]
        if biggest + 1024 > 1000000:
            argv += ["-X", f"message.max.bytes={biggest + 65536}"]
        if run["partition"] is not None:
            argv += ["-p", str(run["partition"])]
        if run["mode"] == "Z":
            argv.append("-Z")
        argv += [a if isinstance(a, bytes) else str(a) for a in run["headers"]]
        argv += list(extra_args)
        try:
            r = subprocess.run(argv, input=stream, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout + 15)
        except subprocess.TimeoutExpired:
            raise ProduceError(f"kcat -P to {topic} did not finish within "
                               f"{timeout + 15:g}s") from None
        if r.returncode != 0:
            raise ProduceError(f"kcat -P to {topic} failed (exit {r.returncode}) "
                               f"producing {len(run['msgs'])} message(s):\n"
                               f"{r.stderr.decode('utf-8', 'replace').strip()}")
    return len(msgs)


def _text_to_bytes(s):
    return None if s is None else s.encode("utf-8", "surrogateescape")


def _parse_kcat_json(line):
    # kcat -J writes key, payload and header values with yajl, which escapes
    # '"', '\\' and bytes below 0x20 and copies every other byte as it is
    # (no UTF-8 validation). Decoding the line with surrogateescape and
    # encoding the strings back is therefore byte-exact.
    o = json.loads(line.decode("utf-8", "surrogateescape"))
    flat = o.get("headers") or []
    pairs = [(flat[i], _text_to_bytes(flat[i + 1])) for i in range(0, len(flat) - 1, 2)]
    return {
        "topic": o.get("topic"),
        "partition": o["partition"],
        "offset": o["offset"],
        "key": _text_to_bytes(o.get("key")),
        "value": _text_to_bytes(o.get("payload")),
        "headers": dict(pairs),
        "headers_list": pairs,
        "timestamp": o.get("ts"),
        "timestamp_type": o.get("tstype"),
        "broker": o.get("broker"),
    }


def consume(bootstrap, topic, expect=None, timeout=30.0, partition=None):
    """Reads a topic from the beginning with kcat -C -J -e.

    Returns dicts {key, value, headers, headers_list, partition, offset,
    timestamp, timestamp_type, topic, broker}, key/value as bytes or None,
    headers as {name: bytes or None} (the last of duplicate names wins;
    headers_list has them all), sorted by (partition, offset).

    With expect=N, reads again until at least N messages are there, or
    raises WaitTimeout after `timeout` seconds. Note the mock creates a topic
    that does not exist (4 partitions) when it is asked for it."""
    _require_kcat()
    argv = [KCAT, "-C", "-b", bootstrap, "-t", topic, "-J", "-e", "-q",
            "-o", "beginning", "-m", "5"]
    if partition is not None:
        argv += ["-p", str(int(partition))]
    deadline = time.monotonic() + timeout
    rows, last_error = [], None
    while True:
        remaining = max(1.0, deadline - time.monotonic())
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=remaining)
            if r.returncode == 0:
                rows = [_parse_kcat_json(line) for line in r.stdout.split(b"\n") if line]
                rows.sort(key=lambda m: (m["partition"], m["offset"]))
                last_error = None
            else:
                last_error = (f"kcat -C exited {r.returncode}: "
                              f"{r.stderr.decode('utf-8', 'replace').strip()}")
        except subprocess.TimeoutExpired:
            last_error = "kcat -C did not reach the end of the topic"
        if expect is None and last_error is None:
            return rows
        if expect is not None and last_error is None and len(rows) >= expect:
            return rows
        if time.monotonic() >= deadline:
            if expect is None:
                raise ConsumeError(f"cannot read {topic}: {last_error}")
            msg = (f"timed out after {timeout:g}s waiting for {expect} message(s) "
                   f"on {topic} (have {len(rows)})")
            if last_error:
                msg += f": {last_error}"
            raise WaitTimeout(msg)
        time.sleep(0.2)


# ---------------------------------------------------------------------------
# The mock endpoint (bpjs-mock)

_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _tls_opener(ca_file, client=None):
    """An opener that verifies the mock's certificate with ca_file (False:
    does not verify, for a mock that serves a bad certificate on purpose)
    and, for mutual TLS, presents client (cert, key); never a proxy."""
    if ca_file is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx = ssl.create_default_context(cafile=ca_file)
    if client is not None:
        ctx.load_cert_chain(client[0], client[1])
    return urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                       urllib.request.HTTPSHandler(context=ctx))


class Endpoint:
    """A running bpjs-mock (Env.start_endpoint())."""

    def __init__(self, process, url, secret_file, cons_id, secret, opener=None):
        self.process = process
        self.url = url
        self.secret_file = secret_file
        self.cons_id = cons_id
        self.secret = secret
        self._opener = opener or _NO_PROXY

    def request(self, method, path, body=None, timeout=10.0):
        """Returns (status, body bytes); never raises for an HTTP status."""
        data = None
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers)
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def _json(self, method, path, body=None):
        status, raw = self.request(method, path, body)
        if not 200 <= status < 300:
            raise HarnessError(f"{method} {path}: HTTP {status}: "
                               f"{raw[:500].decode('utf-8', 'replace')}")
        return json.loads(raw) if raw.strip() else None

    def state(self):
        """GET /_mock/state, parsed."""
        return self._json("GET", "/_mock/state")

    def stats(self):
        """GET /_mock/stats, parsed."""
        return self._json("GET", "/_mock/stats")

    def faults(self, **kw):
        """POST /_mock/faults with kw as its JSON body; returns the parsed
        answer (None when empty)."""
        return self._json("POST", "/_mock/faults", kw)

    def stop(self, timeout=KILL_TIMEOUT):
        return self.process.stop(timeout)


# ---------------------------------------------------------------------------
# Env

_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer",
               "upgrade", "proxy-connection"}


class RecordingProxy:
    """A plain-HTTP reverse proxy in front of the mock endpoint (loopback)
    that keeps each request it forwards, in arrival order, as a dict:
    method, path, key (Idempotency-Key), body, came (time.monotonic()),
    status and answer (the endpoint's), answered (when the answer was
    written back to the client; None when the client was gone, e.g. a
    killed daemon). At most `limit` requests are kept. Use as a context
    manager; `url` is what the daemon is configured with."""

    def __init__(self, upstream, limit=100000):
        import http.client
        import http.server
        m = re.match(r"^http://(127\.0\.0\.1):(\d+)$", upstream)
        assert m, upstream
        host, port = m.group(1), int(m.group(2))
        self.requests = []
        self.lock = threading.Lock()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                row = {"method": self.command, "path": self.path,
                       "key": self.headers.get("Idempotency-Key"), "body": body,
                       "came": time.monotonic(), "status": None, "answer": None,
                       "answered": None}
                with rec.lock:
                    if len(rec.requests) < limit:
                        rec.requests.append(row)
                up = http.client.HTTPConnection(host, port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in _HOP_BY_HOP}
                    up.request(self.command, self.path, body=body or None,
                               headers=headers)
                    resp = up.getresponse()
                    data = resp.read()
                    row["status"], row["answer"] = resp.status, data
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                    row["answered"] = time.monotonic()
                except OSError:
                    pass  # the client is gone: it never read this answer
                finally:
                    up.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def rows(self):
        with self.lock:
            return list(self.requests)


class Env:
    """A temporary directory and the processes of one test.

    with Env() as env: ...  -- on exit every process it started is stopped
    (SIGTERM, SIGKILL after kill_timeout) in reverse order and the directory
    removed (kept with BPJS_KEEP_TMP=1), even on an exception."""

    def __init__(self, kill_timeout=KILL_TIMEOUT, keep=None):
        self.kill_timeout = kill_timeout
        self.keep = keep if keep is not None else os.environ.get("BPJS_KEEP_TMP") == "1"
        self.dir = None
        self._procs = {}
        self._order = []

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="bpjs-it-")
        return self

    def __exit__(self, exc_type, exc, tb):
        failed = exc_type is not None
        if failed or os.environ.get("BPJS_TEST_VERBOSE") == "1":
            self.dump_logs()
        self.close()
        return False

    def close(self):
        errors = []
        for name in reversed(self._order):
            proc = self._procs.get(name)
            if proc is None:
                continue
            try:
                proc.stop(self.kill_timeout)
            except Exception as e:  # noqa: BLE001 - keep cleaning up
                errors.append(f"{name}: {e!r}")
        self._procs.clear()
        self._order.clear()
        if self.dir:
            if self.keep:
                sys.stderr.write(f"harness: kept {self.dir}\n")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            sys.stderr.write("harness: cleanup problems: " + "; ".join(errors) + "\n")

    def dump_logs(self, lines=60):
        for name in self._order:
            proc = self._procs[name]
            status = "running" if proc.running else f"exit {proc.returncode}"
            sys.stderr.write(f"----- {name} (pid {proc.pid}, {status}): last "
                             f"{lines} lines of {proc.log_path} -----\n")
            sys.stderr.write(proc.log_tail(lines) + "\n")

    # Files ---------------------------------------------------------------

    def path(self, *parts):
        """A path inside the Env's directory."""
        return os.path.join(self.dir, *parts)

    def write_file(self, name, content, mode=0o600):
        """Writes bytes or str to a file in the Env's directory; returns its path."""
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def write_config(self, config, name="config.yaml"):
        """Writes a daemon config file: a dict as JSON (which is YAML), or a
        str as it is (to test YAML the parser must reject); returns its path."""
        text = config if isinstance(config, str) else json.dumps(config, indent=2) + "\n"
        return self.write_file(name, text, 0o600)

    # Processes -----------------------------------------------------------

    def spawn(self, name, argv, env=None, stdin=False, stdout_pipe=False, cwd=None,
              stop_signal=signal.SIGTERM):
        """Starts a process, its stdout and stderr captured to <name>.log in
        the Env's directory (log(name)). env: variables added to (or, with
        None values, removed from) this process's environment. stdin=True
        gives it a pipe (write_line); otherwise it reads /dev/null.
        stop_signal: what stop() sends first, here and when the Env
        closes. The
        process gets its own process group and dies with the test process.
        A name may be reused once its process has exited; the log is then
        appended to."""
        old = self._procs.get(name)
        if old is not None and old.running:
            raise HarnessError(f"a process named {name!r} is still running")
        if self.dir is None:
            raise HarnessError("Env not entered (use: with Env() as env)")
        full_env = dict(os.environ)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = str(v)
        log_path = self.path(f"{name}.log")
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(
                [os.fspath(a) for a in argv],
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if stdout_pipe else log,
                stderr=log, env=full_env, cwd=cwd or self.dir,
                start_new_session=True, preexec_fn=_child_setup)
        proc = Process(name, argv, popen, log_path, stdout_pipe, stop_signal)
        self._procs[name] = proc
        if name in self._order:
            self._order.remove(name)
        self._order.append(name)
        return proc

    def process(self, name):
        try:
            return self._procs[name]
        except KeyError:
            raise HarnessError(f"no process named {name!r}") from None

    def log(self, name):
        """All a process wrote to stdout and stderr so far."""
        proc = self._procs.get(name)
        if proc is not None:
            return proc.log()
        try:
            with open(self.path(f"{name}.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            raise HarnessError(f"no process named {name!r}") from None

    def log_count(self, name, pattern):
        """How many lines of a process log match the regular expression."""
        rx = re.compile(pattern)
        return sum(1 for line in self.log(name).splitlines() if rx.search(line))

    def log_contains(self, name, pattern, times=None):
        """True if some line matches (times=None) or exactly `times` lines do."""
        n = self.log_count(name, pattern)
        return n > 0 if times is None else n == times

    def wait_for_log(self, name, pattern, timeout=10.0, times=1):
        """Waits until at least `times` lines of the log match pattern."""
        return wait_for(lambda: self.log_count(name, pattern) >= times, timeout,
                        f"{times} line(s) matching /{pattern}/ in the {name} log")

    def wait_for(self, predicate, timeout=10.0, what=None, interval=0.05):
        """See the module-level wait_for()."""
        return wait_for(predicate, timeout, what, interval)

    def kill(self, name, sig=signal.SIGTERM):
        """Sends a signal to a process (SIGTERM by default); does not wait."""
        self.process(name).send_signal(sig)

    def wait(self, name, timeout=10.0):
        """Waits for a process to exit; returns its exit status."""
        return self.process(name).wait(timeout)

    def stop(self, name, timeout=None):
        """SIGTERM, then SIGKILL after timeout; returns the exit status."""
        return self.process(name).stop(self.kill_timeout if timeout is None else timeout)

    # Mocks ---------------------------------------------------------------

    def start_kafka(self, topics=None, brokers=1, partitions=None, name="kafka",
                    args=(), timeout=10.0):
        """Starts bpjs-kafka-mock with these topics ({name: partitions}, or a
        list of names; default DEFAULT_TOPICS) and returns a Kafka with
        .bootstrap and .command(line). It exits when this process does (its
        stdin closes)."""
        if topics is None:
            topics = DEFAULT_TOPICS
        if not isinstance(topics, dict):
            topics = {t: partitions for t in topics}
        argv = [bin_path("bpjs-kafka-mock"), "--exit-on-stdin-eof",
                "--brokers", str(int(brokers))]
        if partitions is not None:
            argv += ["--partitions", str(int(partitions))]
        for topic, count in topics.items():
            argv += ["--topic", topic if count is None else f"{topic}:{int(count)}"]
        argv += [str(a) for a in args]
        proc = self.spawn(name, argv, stdin=True, stdout_pipe=True)
        bootstrap = proc.readline(timeout)
        if not _BOOTSTRAP_RE.match(bootstrap):
            raise HarnessError(f"{name}: expected bootstrap servers, got {bootstrap!r}")
        default = partitions if partitions is not None else 4
        return Kafka(proc, bootstrap, int(brokers),
                     {t: (default if c is None else int(c)) for t, c in topics.items()})

    def start_endpoint(self, args=(), cons_id="1001", secret="s3cret-for-tests",
                       name="endpoint", timeout=10.0, tls_ca=None, tls_client=None):
        """Starts bpjs-mock on 127.0.0.1 (a port it picks) and returns an
        Endpoint with .url, .secret_file, .state(), .stats(), .faults(**kw).
        A mock serving TLS (--tls-cert in args) prints an https:// URL; the
        Endpoint's own requests then verify it with tls_ca (False: they do
        not verify) and, when the mock demands client certificates, present
        tls_client (cert, key)."""
        secret_file = self.write_file(f"{name}.secret", secret, 0o600)
        argv = [bin_path("bpjs-mock"), "--listen", "127.0.0.1:0", "--cons-id",
                str(cons_id), "--secret-file", secret_file, "--exit-on-stdin-eof"]
        argv += [str(a) for a in args]
        proc = self.spawn(name, argv, stdin=True, stdout_pipe=True)
        url = proc.readline(timeout).strip()
        scheme = "https" if "--tls-cert" in argv else "http"
        if not re.match(rf"^{scheme}://127\.0\.0\.1:\d+$", url):
            raise HarnessError(f"{name}: expected {scheme}://127.0.0.1:PORT, got {url!r}")
        opener = _tls_opener(tls_ca, tls_client) if scheme == "https" else None
        return Endpoint(proc, url, secret_file, str(cons_id), secret, opener)


# ---------------------------------------------------------------------------
# Runner

def run_tests(namespace, argv=None):
    """Runs every test_* function of `namespace` (pass globals()) in the
    order they are defined; command-line arguments select tests whose name
    contains one of them. Prints a last line "N passed, M failed" and exits
    1 if any failed (or none ran), else 0."""
    argv = sys.argv[1:] if argv is None else argv
    tests = [(name, fn) for name, fn in namespace.items()
             if name.startswith("test_") and inspect.isfunction(fn)]
    tests.sort(key=lambda t: t[1].__code__.co_firstlineno)
    if argv:
        tests = [(n, f) for n, f in tests if any(a in n for a in argv)]
    passed = failed = skipped = 0
    for name, fn in tests:
        start = time.monotonic()
        sys.stdout.write(f"RUN  {name}\n")
        sys.stdout.flush()
        try:
            fn()
        except Skip as e:
            skipped += 1
            sys.stdout.write(f"SKIP {name}: {e}\n")
        except Exception:  # noqa: BLE001 - a failing test, reported
            failed += 1
            sys.stdout.write(f"FAIL {name} ({time.monotonic() - start:.1f}s)\n")
            sys.stdout.write(traceback.format_exc())
        else:
            passed += 1
            sys.stdout.write(f"PASS {name} ({time.monotonic() - start:.1f}s)\n")
        sys.stdout.flush()
    if skipped:
        sys.stdout.write(f"{skipped} skipped\n")
    if not tests:
        sys.stdout.write("no tests selected\n")
    sys.stdout.write(f"{passed} passed, {failed} failed\n")
    sys.stdout.flush()
    sys.exit(1 if failed or not tests else 0)


# ---------------------------------------------------------------------------
# A real Apache Kafka broker (issue 15; docs/testing.md, "A real Kafka broker")
#
# The broker's jars come from Maven Central through Maven, pinned by
# tests/kafka/pom.xml, and are cached in
# ${XDG_CACHE_HOME:-~/.cache}/bpjs-sync/kafka-<version>/lib, made once,
# atomically (a rename), under a lock, so two tests starting at once do not
# race. Env.start_real_kafka() starts a single-node KRaft broker (combined
# broker and controller) on loopback ports it picks, in the Env's directory.
# If the broker cannot be had (no java, no mvn, Maven fails), it raises
# BrokerUnavailable saying why: the test fails, it is never skipped.

import base64 as _base64  # noqa: E402
import fcntl as _fcntl  # noqa: E402
import socket as _socket  # noqa: E402
import uuid as _uuid  # noqa: E402

__all__ += ["BrokerUnavailable", "RealKafka", "KAFKA_POM", "kafka_version",
            "real_kafka_lib"]

KAFKA_POM = os.path.join(SOURCE_DIR, "tests", "kafka", "pom.xml")
# A small JVM: the machines that run the tests have two cores and share them.
REAL_KAFKA_JVM = ["-Xmx256m", "-Xms64m", "-XX:+UseSerialGC",
                  "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
                  "-Djava.awt.headless=true"]
REAL_KAFKA_FETCH_TIMEOUT = 900.0
REAL_KAFKA_STOP_TIMEOUT = 20.0
_RUNNING_RE = r"Transitioning from RECOVERY to RUNNING"


class BrokerUnavailable(HarnessError):
    """The real broker cannot be had (no java, no mvn, Maven failed, it did
    not start): the test fails with this message."""


def kafka_version():
    """The Kafka version pinned by tests/kafka/pom.xml (its one place)."""
    try:
        with open(KAFKA_POM, encoding="utf-8") as f:
            m = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", f.read())
    except OSError as e:
        raise BrokerUnavailable(f"cannot read {KAFKA_POM}: {e}") from None
    if not m:
        raise BrokerUnavailable(f"{KAFKA_POM}: no <kafka.version> property")
    return m.group(1).strip()


def _kafka_cache_dir(version):
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bpjs-sync", f"kafka-{version}")


def _pom_digest():
    import hashlib
    with open(KAFKA_POM, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _lib_complete(lib, version):
    """The copy holds the broker, fetched with the pom as it is now (an
    edited pom, another dependency say, fetches again)."""
    try:
        with open(os.path.join(lib, ".pom-sha256")) as f:
            digest = f.read().strip()
    except OSError:
        return False
    return (digest == _pom_digest() and
            os.path.isfile(os.path.join(lib, f"kafka_2.13-{version}.jar")))


def _require_tool(name, package):
    if shutil.which(name) is None:
        raise BrokerUnavailable(f"the real Kafka broker needs {name}, which is not "
                                f"installed (Debian package {package}; scripts/setup "
                                "installs it)")


def real_kafka_lib(timeout=REAL_KAFKA_FETCH_TIMEOUT):
    """The directory of the broker's runtime jars, fetched by Maven into the
    cache the first time (and reported on stderr: time and size)."""
    version = kafka_version()
    cache = _kafka_cache_dir(version)
    lib = os.path.join(cache, "lib")
    if _lib_complete(lib, version):
        return lib
    _require_tool("java", "openjdk-17-jre-headless")
    _require_tool("mvn", "maven")
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, ".lock"), "w") as lock:
        _fcntl.flock(lock, _fcntl.LOCK_EX)  # a test fetching already: wait for it
        if _lib_complete(lib, version):
            return lib
        tmp = tempfile.mkdtemp(prefix="lib.partial-", dir=cache)
        log_path = os.path.join(cache, "fetch.log")
        argv = ["mvn", "-B", "-q", "-f", KAFKA_POM, f"-Dkafka.lib={tmp}", "package"]
        start = time.monotonic()
        try:
            with open(log_path, "wb") as log:
                r = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BrokerUnavailable(f"Maven did not fetch Kafka {version} within "
                                    f"{timeout:g}s (log: {log_path})") from None
        if r.returncode == 0:
            with open(os.path.join(tmp, ".pom-sha256"), "w") as f:
                f.write(_pom_digest() + "\n")
        if r.returncode != 0 or not _lib_complete(tmp, version):
            shutil.rmtree(tmp, ignore_errors=True)
            with open(log_path, "rb") as f:
                tail = "\n".join(f.read().decode("utf-8", "replace").splitlines()[-30:])
            hint = ""
            if "PKIX path building failed" in tail:
                hint = ("\nJava does not trust the certificate Maven Central's "
                        "address presented: behind a TLS-intercepting proxy, add its "
                        "CA to the system's certificates (update-ca-certificates), "
                        "which ca-certificates-java copies into Java's trust store")
            raise BrokerUnavailable(f"Maven could not fetch Kafka {version} "
                                    f"(exit {r.returncode}; {' '.join(argv)}):\n{tail}"
                                    f"{hint}")
        jars = [n for n in os.listdir(tmp) if n.endswith(".jar")]
        size = sum(os.path.getsize(os.path.join(tmp, n)) for n in jars)
        if os.path.isdir(lib):
            # made from another pom: set aside (a broker running from it
            # keeps its open jars), then removed
            old = tempfile.mkdtemp(prefix="lib.old-", dir=cache)
            os.rename(lib, os.path.join(old, "lib"))
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, lib)
        sys.stderr.write(f"harness: fetched Kafka {version} with Maven in "
                         f"{time.monotonic() - start:.1f}s: {len(jars)} jars, "
                         f"{size / 1e6:.1f} MB in {lib}\n")
    return lib


def _free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (free when asked: the broker
    binds them a moment later)."""
    socks = []
    try:
        for _ in range(n):
            s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _kcat_metadata(bootstrap, timeout=5):
    """kcat -L -J as a dict, or None if the broker does not answer."""
    try:
        r = subprocess.run([KCAT, "-L", "-J", "-b", bootstrap, "-m", str(int(timeout))],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


class RealKafka:
    """A single-node Apache Kafka broker in KRaft mode (Env.start_real_kafka()).

    Offers what tests of the mock use (.bootstrap, .topics, .brokers,
    .produce(), .consume(), .create_topic(), .stop(), broker_down() and
    broker_up()), plus .restart(), .kill() and .start_seconds (how long its
    last start took, to RUNNING and answering metadata). Restarts keep the
    ports and the data."""

    brokers = 1

    def __init__(self, env, name, lib, version, heap=None):
        self.env = env
        self.name = name
        self.lib = lib
        self.version = version
        self.topics = {}
        self.process = None
        self.starts = 0
        self.start_seconds = None
        self.dir = env.path(name)
        self.data_dir = os.path.join(self.dir, "data")
        self.port, self.controller_port = _free_ports(2)
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.jvm = list(REAL_KAFKA_JVM)
        if heap:
            self.jvm = [a for a in self.jvm if not a.startswith("-Xmx")] + [f"-Xmx{heap}"]
        os.makedirs(self.data_dir, exist_ok=True)
        self.log4j = os.path.join(self.dir, "log4j.properties")
        with open(self.log4j, "w") as f:
            f.write("log4j.rootLogger=INFO, out\n"
                    "log4j.appender.out=org.apache.log4j.ConsoleAppender\n"
                    "log4j.appender.out.layout=org.apache.log4j.PatternLayout\n"
                    "log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
                    # the admin clients' configuration dumps say nothing useful
                    "log4j.logger.org.apache.kafka.clients=WARN\n"
                    "log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN\n")
        self.properties = os.path.join(self.dir, "server.properties")
        self._write_properties()

    def _write_properties(self):
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": (f"PLAINTEXT://127.0.0.1:{self.port},"
                          f"CONTROLLER://127.0.0.1:{self.controller_port}"),
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": self.data_dir,
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "1",
            "group.initial.rebalance.delay.ms": "0",
            # topics are made by create_topic(), with their partition counts
            "auto.create.topics.enable": "false",
            "num.network.threads": "2",
            "num.io.threads": "2",
            "background.threads": "2",
            "num.recovery.threads.per.data.dir": "1",
            "log.cleaner.threads": "1",
        }
        with open(self.properties, "w") as f:
            f.write("# written by tests/integration/harness.py (RealKafka)\n")
            for k, v in props.items():
                f.write(f"{k}={v}\n")

    def _java(self, main, *args, heap="128m"):
        jvm = [a for a in self.jvm if not a.startswith("-Xmx") and not a.startswith("-Xms")]
        return (["java", f"-Xmx{heap}"] + jvm +
                [f"-Dlog4j.configuration=file:{self.log4j}",
                 "-cp", os.path.join(self.lib, "*"), main] + [str(a) for a in args])

    def _tool(self, what, main, *args, timeout=120.0):
        try:
            r = subprocess.run(self._java(main, *args), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               timeout=timeout, cwd=self.dir)
        except subprocess.TimeoutExpired:
            raise BrokerUnavailable(f"{self.name}: {what} did not finish within "
                                    f"{timeout:g}s") from None
        out = r.stdout.decode("utf-8", "replace")
        if r.returncode != 0:
            raise BrokerUnavailable(f"{self.name}: {what} failed (exit {r.returncode}):\n"
                                    + "\n".join(out.splitlines()[-30:]))
        return out

    def format(self):
        # a cluster id: 16 random bytes in URL-safe base64, as random-uuid prints
        # (not one that starts with '-', which the tool would take for an option)
        cluster = "-"
        while cluster.startswith("-"):
            cluster = _base64.urlsafe_b64encode(_uuid.uuid4().bytes).rstrip(b"=").decode()
        self._tool("kafka.tools.StorageTool format", "kafka.tools.StorageTool", "format",
                   "-t", cluster, "-c", self.properties)

    def start(self, timeout=120.0):
        """Starts the broker and waits until its log says RECOVERY to RUNNING
        and a metadata request answers."""
        if self.process is not None and self.process.running:
            raise HarnessError(f"{self.name}: already running")
        t0 = time.monotonic()
        argv = self._java("kafka.Kafka", self.properties, heap=self.jvm_heap())
        try:  # the log of an earlier start (the same name) is appended to
            log_from = os.path.getsize(self.env.path(f"{self.name}.log"))
        except OSError:
            log_from = 0
        self.process = self.env.spawn(self.name, argv, cwd=self.dir)
        self.starts += 1
        deadline = t0 + timeout

        # Not wait_for(), which would take a broker that exited for "not
        # yet". It says RUNNING before it binds its listener: a port taken
        # meanwhile shows after that line, and it does not always exit then.
        while True:
            with open(self.process.log_path, "rb") as f:
                f.seek(log_from)
                log = f.read().decode("utf-8", "replace")
            if "Address already in use" in log:
                self.process.stop(5.0)
                raise BrokerUnavailable(
                    f"{self.name}: a port of {self.bootstrap} or "
                    f"127.0.0.1:{self.controller_port} is taken\n--- log tail ---\n"
                    f"{self.process.log_tail()}")
            if not self.process.running:
                raise BrokerUnavailable(
                    f"{self.name}: the broker exited (status {self.process.returncode}) "
                    f"while starting\n--- log tail ---\n{self.process.log_tail()}")
            if re.search(_RUNNING_RE, log) and \
                    _kcat_metadata(self.bootstrap, 2) is not None:
                break
            if time.monotonic() >= deadline:
                raise BrokerUnavailable(
                    f"{self.name}: not RUNNING and answering metadata on {self.bootstrap} "
                    f"within {timeout:g}s\n--- log tail ---\n{self.process.log_tail()}")
            time.sleep(0.2)
        self.start_seconds = time.monotonic() - t0
        return self

    def jvm_heap(self):
        for a in self.jvm:
            if a.startswith("-Xmx"):
                return a[4:]
        return "256m"

    def metadata(self):
        md = _kcat_metadata(self.bootstrap)
        if md is None:
            raise HarnessError(f"{self.name}: no metadata answer on {self.bootstrap}")
        return md

    def partition_count(self, topic):
        """The topic's partitions as the broker reports them (0: no such topic)."""
        for t in self.metadata().get("topics", []):
            if t.get("topic") == topic and not t.get("error"):
                return len(t.get("partitions", []))
        return 0

    def create_topic(self, name, partitions, timeout=60.0):
        self._tool(f"creating topic {name}", "org.apache.kafka.tools.TopicCommand",
                   "--bootstrap-server", self.bootstrap, "--create", "--topic", name,
                   "--partitions", int(partitions), "--replication-factor", 1,
                   timeout=timeout)
        wait_for(lambda: self.partition_count(name) == int(partitions), 30,
                 f"{self.name}: topic {name} with {int(partitions)} partitions")
        self.topics[name] = int(partitions)

    def produce(self, topic, messages, **kw):
        kw.setdefault("partitions", self.topics.get(topic))
        return produce(self.bootstrap, topic, messages, **kw)

    def consume(self, topic, **kw):
        return consume(self.bootstrap, topic, **kw)

    def stop(self, timeout=REAL_KAFKA_STOP_TIMEOUT):
        """SIGTERM (a controlled shutdown), SIGKILL after timeout; returns
        the exit status."""
        if self.process is None:
            return None
        return self.process.stop(timeout)

    def kill(self):
        """SIGKILL: the broker dies without a controlled shutdown."""
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
            self.process.stop()  # reaps it and closes its streams

    def restart(self, timeout=120.0):
        self.stop()
        return self.start(timeout)

    def committed(self, group, timeout=60.0):
        """The group's committed offsets, {(topic, partition): (committed or
        None, log end offset)}, as the broker's own ConsumerGroupCommand reports
        them (the group may be empty or still have members)."""
        out = self._tool(f"describing group {group}",
                         "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
                         "--bootstrap-server", self.bootstrap, "--describe",
                         "--group", group, "--offsets", timeout=timeout)
        rows = {}
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 5 and f[0] == group and f[2].isdigit():
                cur = None if f[3] == "-" else int(f[3])
                end = None if f[4] == "-" else int(f[4])
                rows[(f[1], int(f[2]))] = (cur, end)
        return rows

    # the names of the mock's commands, for tests written for either
    def broker_down(self, broker_id=1):
        self.stop()

    def broker_up(self, broker_id=1):
        self.start()


def _start_real_kafka(self, topics=None, partitions=None, name="kafka", heap=None,
                      timeout=180.0):
    """Starts a real single-node Apache Kafka broker (KRaft) with these
    topics ({name: partitions}, or a list of names; default DEFAULT_TOPICS)
    and returns a RealKafka. It is stopped with the Env (SIGTERM, SIGKILL
    after the Env's kill_timeout). Raises BrokerUnavailable, saying why,
    when it cannot be had."""
    if self.dir is None:
        raise HarnessError("Env not entered (use: with Env() as env)")
    _require_kcat()
    _require_tool("java", "openjdk-17-jre-headless")
    if topics is None:
        topics = DEFAULT_TOPICS
    if not isinstance(topics, dict):
        topics = {t: partitions for t in topics}
    lib = real_kafka_lib()
    for attempt in range(3):
        kafka = RealKafka(self, name, lib, kafka_version(), heap=heap)
        kafka.format()
        try:
            kafka.start(timeout)
            break
        except BrokerUnavailable:
            # a port picked free and taken by another test before the
            # broker bound it: again, on other ports, with a fresh directory
            if attempt == 2 or kafka.process.running or \
                    "Address already in use" not in kafka.process.log():
                raise
            shutil.rmtree(kafka.dir, ignore_errors=True)
    default = partitions if partitions is not None else 4
    for topic, count in topics.items():
        kafka.create_topic(topic, default if count is None else count)
    return kafka


Env.start_real_kafka = _start_real_kafka


# PostgreSQL ---------------------------------------------------------------

PG_BIN = os.environ.get("BPJS_PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "bpjs"
_NOBODY = 65534


class Postgres:
    """A private PostgreSQL 15 server of one test (Env.start_postgres()):
    initdb in a folder of the Env's directory, a free loopback port, its unix
    socket in that folder, the superuser PG_USER with a password (SCRAM, on
    the socket and on TCP alike). Run as root, initdb and the server run as
    nobody (setpriv), with the folder theirs. It stops with the Env (a
    fast shutdown), and its folder goes with the Env's directory."""

    def __init__(self, env, name, port, tls=None):
        self.tls = tls  # (certificate, key) files: TLS on, beside plain TCP
        self.env = env
        self.name = name
        self.port = port
        self.dir = env.path(name)
        self.data = os.path.join(self.dir, "data")
        self.password = "pg-" + secrets.token_hex(12)
        self.password_file = None  # the daemon's copy, 0600, root's
        self.process = None
        self._prefix = []

    def _as_server(self, argv):
        return self._prefix + argv

    def init(self):
        os.makedirs(self.dir, mode=0o700)
        pwfile = os.path.join(self.dir, "initdb-password")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if os.geteuid() == 0:
            # the server refuses to run as root: nobody, in a folder of its
            # own that it can reach (the Env's directory only traversable)
            os.chmod(self.env.dir, 0o711)
            for p in (self.dir, pwfile):
                os.chown(p, _NOBODY, _NOBODY)
            self._prefix = ["setpriv", f"--reuid={_NOBODY}", f"--regid={_NOBODY}",
                            "--clear-groups", "--"]
        r = subprocess.run(
            self._as_server([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U",
                             PG_USER, "--pwfile", pwfile, "--auth=scram-sha-256",
                             "-E", "UTF8", "--no-locale", "--no-sync"]),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.dir, timeout=120)
        os.unlink(pwfile)
        if r.returncode != 0:
            raise HarnessError(f"initdb failed ({r.returncode}):\n"
                               + r.stdout.decode(errors="replace"))
        self.password_file = self.env.write_file(f"{self.name}-password",
                                                 self.password + "\n")

    def _tls_args(self):
        if not self.tls:
            return []
        args = ["-c", "ssl=on"]
        for src, what in zip(self.tls, ("cert", "key")):
            dst = os.path.join(self.dir, f"server.{what}")
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o600)  # the server refuses a key others may read
            if os.geteuid() == 0:
                os.chown(dst, _NOBODY, _NOBODY)
            args += ["-c", f"ssl_{what}_file={dst}"]
        return args

    def start(self, timeout=60.0):
        # a test server: durability is not what is tested here
        self.process = self.env.spawn(self.name, self._as_server(
            [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-k", self.dir,
             "-h", "127.0.0.1", "-p", str(self.port), "-c", "fsync=off",
             "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
             "-c", "max_connections=50"] + self._tls_args()), cwd=self.dir,
            # a fast shutdown, even when the Env closes: SIGTERM would wait
            # for every client to leave
            stop_signal=signal.SIGINT)
        wait_for(lambda: not self.process.running
                 or "ready to accept connections" in self.process.log(),
                 timeout=timeout, what=f"{self.name} ready")
        if not self.process.running:
            raise HarnessError(f"{self.name} exited: {self.process.log_tail()}")

    def url(self, dbname):
        """The libpq URI the daemon is given (no password in it)."""
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"

    def psql_command(self, dbname="postgres"):
        """psql's command line (unaligned, tuples only, stop at the first
        error) and environment for dbname: run it with -c, or keep a
        session open on its standard input."""
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10")
        return ([os.path.join(PG_BIN, "psql"), "-X", "-q", "-A", "-t", "-v",
                 "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U",
                 PG_USER, "-d", dbname], env)

    def psql(self, sql, dbname="postgres", timeout=60.0):
        """Runs SQL with psql (unaligned, tuples only); returns its output."""
        cmd, env = self.psql_command(dbname)
        r = subprocess.run(cmd + ["-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           timeout=timeout)
        if r.returncode != 0:
            raise HarnessError(f"psql: {r.stderr.decode(errors='replace').strip()}")
        return r.stdout.decode()

    def create_database(self, dbname):
        self.psql(f'CREATE DATABASE "{dbname}"')
        return self.url(dbname)

    def stop(self, timeout=KILL_TIMEOUT):
        if self.process is not None:
            self.process.stop(timeout)  # SIGINT (start)


def _start_postgres(self, name="postgres", timeout=60.0, tls=None):
    """Starts a private PostgreSQL 15 server (class Postgres) that stops with
    the Env; tls=(certificate, key) files turns TLS on."""
    if self.dir is None:
        raise HarnessError("Env not entered (use: with Env() as env)")
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        raise HarnessError(f"no {PG_BIN}/initdb: PostgreSQL 15 is not installed "
                           "(scripts/setup installs it)")
    for attempt in range(3):
        pg = Postgres(self, name if attempt == 0 else f"{name}-{attempt}",
                      _free_ports(1)[0], tls=tls)
        pg.init()
        try:
            pg.start(timeout)
            return pg
        except HarnessError:
            # a port picked free and taken before the server bound it
            if attempt == 2 or "already in use" not in pg.process.log():
                raise
    raise HarnessError("unreachable")


Env.start_postgres = _start_postgres
