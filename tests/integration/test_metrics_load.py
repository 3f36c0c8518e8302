"""The metrics listener under load (issue 12): idle connections from one
address, however many, must not starve the health probes, neither from
another address nor from the same one; the server closes the idle ones
within its timeout (3 s, docs/operations.md)."""

import os
import re
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import daemon_config  # noqa: E402

IDLE_TIMEOUT_S = 3     # daemon/metrics.c CONN_TIMEOUT_S
PER_ADDRESS_LIMIT = 256  # daemon/metrics.c PER_ADDRESS_LIMIT
PROBE_BOUND_S = 1.0


def start(env):
    kafka = env.start_kafka(topics={"enrollment.events": 1, "enrollment.results": 1,
                                    "enrollment.events.dlq": 1})
    endpoint = env.start_endpoint()
    cfg = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                         endpoint.secret_file, env.path("journal.db")))
    env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
    env.wait_for_log("daemon", r"metrics at http://", timeout=30)
    m = re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics", env.log("daemon"))
    port = int(m.group(1))
    assert probe(port, "/healthz")[0] == 200
    return port


def connect(port, source="127.0.0.1", timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def probe(port, path, source="127.0.0.1", bound=PROBE_BOUND_S):
    """GET path from source; returns (status, body, seconds). Raises if the
    whole exchange takes longer than bound."""
    t0 = time.monotonic()
    s = connect(port, source, timeout=bound)
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            left = bound - (time.monotonic() - t0)
            if left <= 0:
                raise AssertionError(f"{path} from {source}: no answer within {bound} s")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        raise AssertionError(f"{path} from {source}: no answer within {bound} s") from None
    finally:
        s.close()
    took = time.monotonic() - t0
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    assert m, (path, source, data[:200])
    return int(m.group(1)), body.decode(), took


def open_idle(port, n):
    """n connections from 127.0.0.1 that say nothing, or half a request."""
    socks = []
    for i in range(n):
        s = connect(port)
        if i % 2:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        socks.append(s)
    return socks


def wait_closed(socks, within):
    """Seconds until the server has closed every one of socks; raises if some
    are still open after `within`."""
    t0 = time.monotonic()
    open_ = list(socks)
    while open_:
        left = within - (time.monotonic() - t0)
        if left <= 0:
            raise AssertionError(f"{len(open_)} of {len(socks)} idle connections "
                                 f"still open after {within} s")
        still = []
        for s in open_:
            s.settimeout(max(0.01, min(left, 0.05)))
            try:
                if s.recv(4096) == b"":
                    continue  # closed by the server
            except socket.timeout:
                pass
            except (ConnectionResetError, BrokenPipeError):
                continue
            still.append(s)
        open_ = still
    return time.monotonic() - t0


def check_probes(port, sources):
    for source in sources:
        for path in ("/healthz", "/readyz"):
            status, body, took = probe(port, path, source)
            print(f"  {path} from {source}: {status} in {took * 1000:.0f} ms", flush=True)
            if path == "/healthz":
                assert (status, body) == (200, "ok\n"), (source, status, body)
            else:
                assert (status == 200 and body == "ready\n") or (
                    status == 503 and body.startswith("not ready: ")), (source, status,
                                                                        body)


def idle_then_probes(n):
    with Env() as env:
        port = start(env)
        socks = open_idle(port, n)
        try:
            print(f"{n} idle connections from 127.0.0.1:", flush=True)
            # from another address, and from the same one
            check_probes(port, ["127.0.0.2", "127.0.0.1"])
            took = wait_closed(socks, IDLE_TIMEOUT_S + 3)
            print(f"  closed by the server within {took:.1f} s", flush=True)
        finally:
            for s in socks:
                s.close()
        # and the listener serves as before
        check_probes(port, ["127.0.0.1"])
        assert env.stop("daemon") == 0


def test_40_idle_connections_do_not_starve_probes():
    idle_then_probes(40)


def test_200_idle_connections_do_not_starve_probes():
    idle_then_probes(200)


def test_one_address_over_its_limit_cannot_starve_another():
    """More connections from one address than it may hold: the excess is
    refused at once, and a probe from another address still answers."""
    n = PER_ADDRESS_LIMIT + 100
    with Env() as env:
        port = start(env)
        socks, refused = [], 0
        try:
            for s in open_idle(port, n):
                socks.append(s)
            time.sleep(0.5)  # the server refuses the excess as it accepts them
            for s in socks:
                s.settimeout(0.01)
                try:
                    if s.recv(1) == b"":
                        refused += 1
                except socket.timeout:
                    pass
                except ConnectionResetError:
                    refused += 1
            print(f"{n} connections from 127.0.0.1: {refused} refused", flush=True)
            assert refused >= n - PER_ADDRESS_LIMIT, (refused, n)
            check_probes(port, ["127.0.0.2"])
            wait_closed(socks, IDLE_TIMEOUT_S + 3)
        finally:
            for s in socks:
                s.close()
        assert env.stop("daemon") == 0


if __name__ == "__main__":
    run_tests(globals())
