"""Two daemons, each with a journal of its own, in one consumer group by
mistake (issue 15): the second would decide a moved partition's events
without their history, and confirm again a worker the first one covers.
Every offset the daemon commits names its journal, so the second refuses,
with one clear error per partition, every partition last committed under
the first journal: it decides nothing, /readyz and a gauge say why, and
once it is stopped the first daemon takes its partitions back and the
outcome at the endpoint is exact."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import daemon_config, generate, model  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome, expected_count,  # noqa: E402
                           results, run_daemon)
from test_tls import get  # noqa: E402

METRICS_AT = r"metrics at (http://127\.0\.0\.1:\d+)/metrics"
REFUSED = r"enrollment\.events\[(\d)\] was last committed under journal ([0-9a-f]{8}), " \
          r"not this daemon's journal ([0-9a-f]{8})"


def metric(base, name):
    for line in get(base + "/metrics")[1].splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


def status(cfg):
    r = subprocess.run([bin_path("bpjs-syncctl"), "--config", cfg, "status", "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def second_journal_decides_nothing(env, kafka):
    """The whole check, on a started Kafka (the mock here, the real broker in
    test_real_kafka.py) with the topics of test_pipeline."""
    ds = generate(seed=41)
    expect, endpoint_expect = model(ds)
    half = len(ds.messages) // 2
    endpoint = env.start_endpoint()
    cfg_a = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                           endpoint.secret_file, env.path("a.db")),
                             name="a.yaml")
    cfg_b = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                           endpoint.secret_file, env.path("b.db")),
                             name="b.yaml")
    kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[:half]])
    run_daemon(env, cfg_a, name="a")
    env.wait_for_log("a", "assigned 4 partition", timeout=60)
    # every first result of the first half, and time for a commit (1 s)
    env.wait_for(lambda: status(cfg_a)["consumed"] == half, timeout=120,
                 what=f"daemon a consumed {half}")
    time.sleep(3)  # a commits its positions every second

    # the rest arrives in chunks while b joins: the rebalance happens while
    # events flow and a is consuming (its revoked partitions' positions are
    # committed at the revocation)
    rest = ds.messages[half:]
    chunks = [rest[i:i + 6] for i in range(0, len(rest), 6)]
    failed = []

    def flow():
        try:
            for c in chunks:
                kafka.produce(EVENTS, [(k, v, None) for k, v in c])
                time.sleep(0.4)
        except Exception as e:  # noqa: BLE001 - reported by the test below
            failed.append(e)
    producer = threading.Thread(target=flow, name="portal")
    producer.start()
    b = run_daemon(env, cfg_b, name="b")
    env.wait_for_log("b", METRICS_AT, timeout=30)
    b_metrics = re.search(METRICS_AT, env.log("b")).group(1)
    # the group splits the four partitions; b refuses each of its own
    env.wait_for_log("b", r"assigned \d partition\(s\), [1-9]\d* refused", timeout=60)
    refusals = re.findall(REFUSED, env.log("b"))
    assert refusals, env.log("b")
    a_id = refusals[0][1]
    assert all(r[1] == a_id and r[2] != a_id for r in refusals), refusals
    n_refused = len({r[0] for r in refusals})
    env.wait_for(lambda: metric(b_metrics, "bpjs_sync_partitions_refused") == n_refused,
                 timeout=30, what=f"bpjs_sync_partitions_refused {n_refused}")
    code, text = get(b_metrics + "/readyz")
    assert code == 503 and "last committed under another journal" in text, (code, text)

    # the events kept coming while both ran: b decided none of them
    producer.join(120)
    assert not producer.is_alive() and not failed, failed
    time.sleep(5)
    assert status(cfg_b)["consumed"] == 0, status(cfg_b)

    # b goes; a takes its partitions back and decides the rest exactly once
    b.send_signal(signal.SIGTERM)
    assert b.wait(30) == 0
    total = expected_count(ds, expect)
    results(kafka, expect=total, timeout=180)
    got = results(kafka)
    check_outcome(ds, expect, endpoint_expect, got, endpoint, kafka.consume(DLQ))
    assert status(cfg_b)["consumed"] == 0
    assert endpoint.stats()["registered_twice"] == 0


def test_a_second_journal_in_the_group_decides_nothing():
    with Env() as env:
        second_journal_decides_nothing(env, env.start_kafka(topics=TOPICS))


if __name__ == "__main__":
    run_tests(globals())
