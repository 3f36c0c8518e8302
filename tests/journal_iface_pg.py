#!/usr/bin/env python3
"""Runs a journal test program on the PostgreSQL backend: unit.journal_iface_pg
(the interface suite, test_journal_iface) and unit.journal_pg (what only
PostgreSQL has, test_journal_pg). Starts a private PostgreSQL 15 server
(harness.Postgres: initdb in a temporary folder, a free loopback port, as
nobody when run as root), creates a database, runs the program with
BPJS_TEST_JOURNAL set to its URL, BPJS_TEST_JOURNAL_PASSWORD to the
password and BPJS_TEST_JOURNAL_EMPTY to a second database's URL (one no
daemon opened), then stops the server and removes its folder.

    journal_iface_pg.py PROGRAM [arguments...]
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))
from harness import Env  # noqa: E402


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 64
    with Env() as env:
        pg = env.start_postgres()
        url = pg.create_database("bpjs_test")
        empty = pg.create_database("bpjs_empty")
        child = dict(os.environ, BPJS_TEST_JOURNAL=url, BPJS_TEST_JOURNAL_EMPTY=empty,
                     BPJS_TEST_JOURNAL_PASSWORD=pg.password)
        r = subprocess.run(argv[1:], env=child, timeout=900)
        if r.returncode != 0:
            env.dump_logs()
        return r.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
