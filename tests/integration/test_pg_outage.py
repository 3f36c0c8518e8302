"""A dead database (issue 16): the daemon on a PostgreSQL journal whose
server stops mid-run. Consuming stops (no offset moves beyond the
journal), /readyz says "journal unreachable" (no password, no NIK), the
daemon tries the connection again with a backoff, and when the server is
back everything resumes: the outcome at the endpoint and on the results
topic is exact, as if the server had never stopped."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, bin_path, run_tests  # noqa: E402
from dataset import generate, model  # noqa: E402
from test_full_disk import http_get, metrics_url  # noqa: E402
from test_pg_journal import pg_config  # noqa: E402
from test_pipeline import (DLQ, EVENTS, TOPICS, check_outcome,  # noqa: E402
                           expected_count, results)


def test_a_database_stopped_mid_run_resumes_exactly():
    ds = generate(seed=17, scale=2)
    expect, endpoint_expect = model(ds)
    total = expected_count(ds, expect)
    half = len(ds.messages) // 2
    with Env() as env:
        pg = env.start_postgres()
        kafka = env.start_kafka(topics=TOPICS)
        endpoint = env.start_endpoint()
        cfg = pg_config(env, kafka, endpoint, pg, "outage")
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[:half]])
        daemon = env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", cfg])
        env.wait_for_log("daemon", r"results recorded", timeout=90)
        env.wait_for(lambda: metrics_url(env), 10, "the metrics address")
        url = metrics_url(env)
        env.wait_for(lambda: http_get(url + "/readyz")[0] == 200, 30, "ready")

        pg.stop()
        kafka.produce(EVENTS, [(k, v, None) for k, v in ds.messages[half:]])
        env.wait_for(lambda: http_get(url + "/readyz")[0] == 503, 60,
                     "/readyz not ready while the database is down")
        status, body = http_get(url + "/readyz")
        assert status == 503 and "journal unreachable" in body, (status, body)
        assert pg.password not in body
        time.sleep(3)  # a few reconnects with their backoff
        assert daemon.running, env.log("daemon")[-3000:]
        assert http_get(url + "/readyz")[0] == 503

        pg.start()
        env.wait_for(lambda: http_get(url + "/readyz")[0] == 200, 60,
                     "ready again once the database is back")
        got = results(kafka, expect=total, timeout=180)
        time.sleep(1.0)  # nothing more may come
        got = results(kafka)
        dlq = kafka.consume(DLQ, expect=len(ds.invalid))
        check_outcome(ds, expect, endpoint_expect, got, endpoint, dlq)
        assert len(got) == total, (len(got), total)
        # the journal's size per worker (docs/operations.md, "Several
        # instances"): its tables' bytes over its coverages
        size = pg.psql("SELECT (SELECT sum(pg_total_relation_size(c.oid)) FROM"
                       " pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace"
                       " WHERE s.nspname = 'public' AND c.relkind = 'r') || ' '"
                       " || (SELECT count(*) FROM coverages) || ' ' ||"
                       " (SELECT count(*) FROM events)", dbname="outage").split()
        print(f"journal: {size[0]} bytes, {size[1]} coverages, {size[2]} events",
              flush=True)
        log = env.log("daemon")
        assert pg.password not in log, "the journal's password in the log"
        assert not env.log_contains("daemon", r"\b\d{16}\b"), "a full NIK in the log"
        said = "\n".join(line for line in log.splitlines()
                         if "journal" in line and "[info]" not in line)
        print(said, flush=True)
        # said once when it starts, once when it ends
        assert env.log_contains("daemon", r"journal: writes fail \("), said
        assert env.log_contains("daemon", r"journal: writes work again"), said


if __name__ == "__main__":
    sys.exit(run_tests(globals()))
