"""bpjs-kafka-mock and the harness itself: byte-exact produce/consume through
kcat, the control channel, and cleanup."""

import collections
import json
import os
import random
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (Env, HarnessError, ProduceError, WaitTimeout, bin_path,  # noqa: E402
                     run_tests, wait_for)


def pid_gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def short(pair):
    return repr(pair)[:200]


def varied_messages(n, seed=1234):
    """n messages (key, value, partition), every (key, value) pair unique, with
    values a registration portal would never send but a byte-exact pipe must
    carry: JSON with newlines, NUL bytes, invalid UTF-8, CR LF, things that
    look like kcat delimiters and escapes, NULL and empty keys and values."""
    rng = random.Random(seed)
    tricky = [
        b"", b"\n", b"\r\n", b"\0", b"\0\0\n\0", b"\xff\xfe\xfd", b"\xc3\x28",
        b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\\n\\t\\x00", b'"\\"', b"\x7f\x1e\x1f",
        b"~D", b"~K~", "caf\u00e9 \u2028 \U0001f600".encode(), b"\t;:,|",
    ]
    msgs = []
    for i in range(n):
        event = json.dumps({"seq": i, "nik": "3201010101900001", "name": "Siti\nAminah"},
                           indent=2).encode()
        kind = i % 7
        if kind == 0:
            value = event
        elif kind == 1:
            value = b"%05d" % i + rng.randbytes(rng.randrange(0, 300))
        elif kind == 2:
            value = b"%05d\0" % i + rng.choice(tricky) + b"\0" + rng.choice(tricky)
        elif kind == 3:
            value = event.replace(b"Siti", b"S\xffi\x00ti")
        elif kind == 4:
            value = b"%05d" % i + rng.randbytes(rng.randrange(2000, 20000))
        elif kind == 5:
            value = b"".join(rng.choice(tricky) for _ in range(8)) + b"%05d" % i
        else:
            value = b"%05d\n" % i + rng.choice(tricky)
        key = b"nik-%05d-" % i + rng.choice(tricky)
        if i % 97 == 5:
            key = None                  # NULL key (value carries the seq)
        elif i % 89 == 7:
            key = b""                   # empty, non-NULL key
        if i % 83 == 11:
            value = None                # tombstone
        elif i % 79 == 13 and key:
            value = b""                 # empty, non-NULL value
        # Blocks keep the kcat runs few: the partitioner, then explicit 0 and 1.
        partition = None if i < 400 else (0 if i < 700 else 1)
        msgs.append((key, value, partition))
    assert len({(k, v) for k, v, _ in msgs}) == n
    return msgs


def test_roundtrip_is_byte_exact_and_ordered():
    with Env() as env:
        kafka = env.start_kafka(topics={"test.binary": 2})
        msgs = varied_messages(1000)
        assert kafka.produce("test.binary", msgs) == 1000

        got = kafka.consume("test.binary", expect=1000, timeout=60)
        assert len(got) == 1000, len(got)
        want = collections.Counter((k, v) for k, v, _ in msgs)
        have = collections.Counter((m["key"], m["value"]) for m in got)
        if have != want:
            missing, unexpected = want - have, have - want
            raise AssertionError(
                f"{sum(missing.values())} missing, e.g. {short(next(iter(missing), None))}; "
                f"{sum(unexpected.values())} unexpected, e.g. "
                f"{short(next(iter(unexpected), None))}")

        index = {(k, v): i for i, (k, v, _) in enumerate(msgs)}
        by_partition = collections.defaultdict(list)
        for m in got:
            by_partition[m["partition"]].append(m)
        assert set(by_partition) == {0, 1}, set(by_partition)
        for partition, rows in by_partition.items():
            offsets = [m["offset"] for m in rows]
            assert offsets == list(range(len(rows))), f"p{partition} offsets {offsets[:5]}"
            seq = [index[(m["key"], m["value"])] for m in rows]
            assert seq == sorted(seq), f"partition {partition} out of order"
        for i, (k, v, p) in enumerate(msgs):
            if p is not None:
                row = next(m for m in got if (m["key"], m["value"]) == (k, v))
                assert row["partition"] == p, (i, row["partition"], p)
        assert all(isinstance(m["timestamp"], int) and m["timestamp"] > 0 for m in got)


def test_headers_and_null_semantics():
    with Env() as env:
        kafka = env.start_kafka(topics={"test.headers": 1})
        kafka.produce("test.headers", [
            (b"a", b"1", 0, {"trace-id": "t-1", "empty": "", "null": None}),
            (b"b", b"2", 0, [("dup", "x"), ("dup", b"\xff\x01")]),
            ("c", {"nik": "3201010101900001"}, 0),
            (None, None, 0),
            (b"", b"", 0),
        ])
        got = kafka.consume("test.headers", expect=5)
        assert [m["offset"] for m in got] == [0, 1, 2, 3, 4]
        assert got[0]["headers"] == {"trace-id": b"t-1", "empty": b"", "null": None}
        assert got[1]["headers_list"] == [("dup", b"x"), ("dup", b"\xff\x01")]
        assert got[1]["headers"] == {"dup": b"\xff\x01"}
        assert got[2]["key"] == b"c" and json.loads(got[2]["value"]) == {
            "nik": "3201010101900001"}
        assert got[2]["headers"] == {}
        assert (got[3]["key"], got[3]["value"]) == (None, None)
        assert (got[4]["key"], got[4]["value"]) == (b"", b"")

        for impossible in [(None, b""), (b"", None)]:
            try:
                kafka.produce("test.headers", [impossible])
            except ValueError:
                pass
            else:
                raise AssertionError(f"{impossible} should be refused")


def test_broker_down_and_up():
    with Env() as env:
        kafka = env.start_kafka(topics={"test.faults": 2})
        kafka.produce("test.faults", [(b"before-%d" % i, b"v", i % 2) for i in range(10)])

        assert kafka.command("broker-down 1") == "ok"
        try:
            kafka.produce("test.faults", [(b"during", b"v", 0)], timeout=2)
        except ProduceError as e:
            assert "down" in str(e) or "refused" in str(e), e
        else:
            raise AssertionError("producing to a downed broker succeeded")
        assert kafka.command("broker-up 1") == "ok"

        kafka.produce("test.faults", [(b"after-%d" % i, b"v", i % 2) for i in range(10)])
        got = kafka.consume("test.faults", expect=20)
        keys = sorted(m["key"] for m in got)
        assert len(got) == 20 and b"during" not in keys, keys

        # Retriable Produce errors are ridden through by the producer.
        assert kafka.command("push-errors 0 3 NOT_LEADER_FOR_PARTITION") == "ok"
        kafka.produce("test.faults", [(b"retried", b"v", 0)])
        assert len(kafka.consume("test.faults", expect=21)) == 21
        assert kafka.command("rtt 1 50") == "ok"
        assert kafka.command("rtt all 0") == "ok"
        assert kafka.command("clear-errors 0") == "ok"


def test_control_channel_answers():
    with Env() as env:
        kafka = env.start_kafka(topics={}, brokers=3)
        assert len(kafka.bootstrap.split(",")) == 3
        assert all(b.startswith("127.0.0.1:") for b in kafka.bootstrap.split(","))
        cases = [
            ("ping", "ok"),
            ("topic late.topic 3", "ok"),
            ("topic late.topic 3", "error: topic 'late.topic' already exists"),
            ("topic bad/name 1", "error:"),
            ("topic other 0", "error: partitions must be"),
            ("broker-down 3", "ok"),
            ("broker-up 3", "ok"),
            ("broker-down 4", "error: no broker '4'"),
            ("broker-down all", "ok"),
            ("broker-up all", "ok"),
            ("push-errors 12 1 27", "ok"),
            ("push-errors 8 2 rd_kafka_resp_err_coordinator_not_available", "ok"),
            ("push-errors 1 1 _TRANSPORT", "ok"),
            ("push-errors 1 1 NO_SUCH_ERROR", "error: unknown error code"),
            ("push-errors 1 0 6", "error: COUNT must be"),
            ("push-errors 1 1", "error: usage: push-errors APIKEY COUNT ERRCODE"),
            ("leader late.topic 2 2", "ok"),
            ("leader late.topic 9 2", "error:"),
            ("rtt 2 -1", "error: MS must be"),
            ("frobnicate", "error: unknown command 'frobnicate'"),
            ("", "error: empty command"),
            ("help", "ok commands: topic NAME [PARTITIONS]"),
        ]
        for line, want in cases:
            got = kafka.command(line)
            assert got.startswith(want), f"{line!r}: {got!r} (want {want!r}...)"
        assert kafka.command("x" * 5000).startswith("error: line too long")
        assert kafka.command("ping") == "ok"
        kafka.produce("late.topic", [(b"k", b"v", 2)])
        assert kafka.consume("late.topic", expect=1)[0]["partition"] == 2
        assert kafka.command("quit") == "ok"
        assert env.wait("kafka", timeout=10) == 0


def test_exits_on_stdin_eof_and_sigterm():
    with Env() as env:
        kafka = env.start_kafka(topics={"t": 1}, name="k1")
        kafka.process.popen.stdin.close()
        assert env.wait("k1", timeout=10) == 0
        assert "end of stdin" in env.log("k1")

        env.start_kafka(topics={"t": 1}, name="k2")
        env.kill("k2", signal.SIGTERM)
        assert env.wait("k2", timeout=10) == 0
        env.start_kafka(topics={"t": 1}, name="k3")
        env.kill("k3", signal.SIGINT)
        assert env.wait("k3", timeout=10) == 0


def test_usage_errors():
    tool = bin_path("bpjs-kafka-mock")
    for args in (["--topic", "t:0"], ["--brokers", "0"], ["--partitions", "x"],
                 ["--topic", "bad name"], ["--nope"], ["extra"],
                 ["--topic", "t", "--topic", "t"]):
        r = subprocess.run([tool] + args, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=30)
        assert r.returncode == 64, (args, r.returncode, r.stderr)
        assert r.stdout == b"", (args, r.stdout)
    r = subprocess.run([tool, "--help"], capture_output=True, timeout=30)
    assert r.returncode == 0 and b"5 MiB" in r.stdout


def test_env_cleans_up_even_on_exception():
    # bpjs-kafka-mock can take up to a second to exit (librdkafka 2.0.2's
    # mock teardown), so the SIGKILL escalation is given 3 s.
    with Env(kill_timeout=3) as env:
        kafka = env.start_kafka(topics={"t": 1})
        sleeper = env.spawn("sleeper", ["sh", "-c", "trap '' TERM; echo up; sleep 300"])
        env.wait_for_log("sleeper", r"^up$")
        pids, tmp = [kafka.process.pid, sleeper.pid], env.dir
        assert os.path.isdir(tmp)
    assert not os.path.exists(tmp)
    assert all(pid_gone(p) for p in pids)
    assert kafka.process.returncode == 0          # SIGTERM: clean exit
    assert sleeper.returncode == -signal.SIGKILL  # ignored SIGTERM: killed

    try:
        with Env() as env:
            kafka = env.start_kafka(topics={"t": 1})
            pid, tmp = kafka.process.pid, env.dir
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not os.path.exists(tmp) and pid_gone(pid)


def test_harness_helpers():
    with Env() as env:
        path = env.write_config({"kafka": {"brokers": "127.0.0.1:1"}, "n": [1, 2]})
        with open(path) as f:
            assert json.load(f) == {"kafka": {"brokers": "127.0.0.1:1"}, "n": [1, 2]}
        assert os.stat(path).st_mode & 0o777 == 0o600

        env.spawn("echo", ["sh", "-c", 'echo "out $FOO"; echo err >&2; exit 3'],
                  env={"FOO": "bar"})
        assert env.wait("echo") == 3
        assert env.log_contains("echo", r"^out bar$", times=1)
        assert env.log_contains("echo", r"^err$")
        assert env.log_count("echo", r"nothing") == 0

        try:
            wait_for(lambda: False, timeout=0.2, what="the impossible")
        except WaitTimeout as e:
            assert "the impossible" in str(e)
        else:
            raise AssertionError("wait_for did not time out")
        assert wait_for(lambda: 42, timeout=1) == 42

        try:
            env.process("missing")
        except HarnessError:
            pass
        else:
            raise AssertionError("unknown process name accepted")


if __name__ == "__main__":
    run_tests(globals())
