"""Configuration, secrets and process hardening: the daemon takes a proxy
from bpjs.proxy only, never from http_proxy and the like; its journal files
are 0600 whatever the umask; it is not dumpable (no core dump, no
/proc/PID/mem for its own user); and bpjs-syncctl's audit names the real
user, not whoever $USER or $SUDO_USER claim to be."""
import json
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Env, Skip, bin_path, run_tests  # noqa: E402
from dataset import daemon_config, generate  # noqa: E402

NOBODY = 65534
EVENTS = 40
PROXY_VARS = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
              "all_proxy", "ALL_PROXY")


class Decoy:
    """A listening socket that counts the connections it gets and closes
    them at once, as a proxy nobody should use."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.connections = 0
        self.done = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.done:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self):
        self.done = True
        self.thread.join(5)
        self.sock.close()


def produce_events(kafka):
    msgs = generate(seed=5).messages[:EVENTS]
    kafka.produce("enrollment.events", [(k, v, None) for k, v in msgs])


def registered(endpoint):
    return endpoint.stats()["registered"]


def test_proxy_variables_of_the_environment_are_never_used():
    decoy = Decoy()
    try:
        with Env() as env:
            kafka = env.start_kafka()
            endpoint = env.start_endpoint()
            config = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                                    endpoint.secret_file,
                                                    env.path("journal.db")))
            produce_events(kafka)
            proxy_env = {v: decoy.url for v in PROXY_VARS}
            proxy_env.update(no_proxy=None, NO_PROXY=None)
            env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", config],
                      env=proxy_env)
            env.wait_for(lambda: registered(endpoint) > 0, timeout=60,
                         what="registrations at the endpoint, past the proxy variables")
            assert decoy.connections == 0, \
                f"the daemon connected to http_proxy {decoy.connections} times"
            assert env.stop("daemon") == 0
    finally:
        decoy.close()


def test_bpjs_proxy_is_the_only_proxy():
    """The key is used: requests go to the configured proxy (a decoy that
    hangs up), so nothing reaches the endpoint directly."""
    decoy = Decoy()
    try:
        with Env() as env:
            kafka = env.start_kafka()
            endpoint = env.start_endpoint()
            config = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                                    endpoint.secret_file,
                                                    env.path("journal.db"),
                                                    proxy=decoy.url))
            produce_events(kafka)
            env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", config],
                      env={v: None for v in PROXY_VARS})
            env.wait_for(lambda: decoy.connections >= 2, timeout=60,
                         what="the daemon's requests at bpjs.proxy")
            stats = endpoint.stats()
            assert stats["registered"] == 0 and stats["batches_processed"] == 0, stats
            assert env.stop("daemon") == 0
    finally:
        decoy.close()


def test_journal_files_are_0600_under_umask_000():
    with Env() as env:
        kafka = env.start_kafka()
        endpoint = env.start_endpoint()
        journal = env.path("journal.db")
        config = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                                endpoint.secret_file, journal))
        produce_events(kafka)
        old = os.umask(0)
        try:
            env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", config])
        finally:
            os.umask(old)
        env.wait_for(lambda: registered(endpoint) > 0, timeout=60,
                     what="registrations (the journal is written)")
        # while it runs: the database, its -wal and its -shm
        files = sorted(f for f in os.listdir(env.dir) if f.startswith("journal.db"))
        assert files == ["journal.db", "journal.db-shm", "journal.db-wal"], files
        modes = {f: oct(os.stat(env.path(f)).st_mode & 0o7777) for f in files}
        assert modes == {f: "0o600" for f in files}, modes
        assert env.stop("daemon") == 0


def test_existing_journal_files_are_tightened_to_0600():
    """A journal made by hand or by an earlier version with 0644 files (the
    database, its -wal and -shm): the daemon makes them 0600 when it opens
    them, and keeps them so while it writes."""
    with Env() as env:
        kafka = env.start_kafka()
        endpoint = env.start_endpoint()
        journal = env.path("journal.db")
        config = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                                endpoint.secret_file, journal))
        produce_events(kafka)
        old = os.umask(0o022)
        try:
            # the journal as sqlite3 by hand leaves it: WAL mode, files 0644
            subprocess.run(["sqlite3", journal, "PRAGMA journal_mode=WAL;"
                            " CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY,"
                            " value TEXT NOT NULL);"], check=True, capture_output=True)
            for suffix in ("-wal", "-shm"):
                with open(journal + suffix, "ab"):
                    pass
        finally:
            os.umask(old)
        files = ["journal.db", "journal.db-shm", "journal.db-wal"]
        before = {f: oct(os.stat(env.path(f)).st_mode & 0o7777) for f in files}
        assert before == {f: "0o644" for f in files}, before
        env.spawn("daemon", [bin_path("bpjs-syncd"), "--config", config])
        env.wait_for(lambda: registered(endpoint) > 0, timeout=60,
                     what="registrations (the journal is written)")
        modes = {f: oct(os.stat(env.path(f)).st_mode & 0o7777) for f in files}
        assert modes == {f: "0o600" for f in files}, modes
        assert env.stop("daemon") == 0


def need_root():
    if os.geteuid() != 0:
        raise Skip("needs root (to run programs as nobody)")


def as_nobody(argv):
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
            "--pdeathsig=KILL", "--"] + argv


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_the_daemon_is_not_dumpable():
    """PR_SET_DUMPABLE 0: the kernel makes a non-dumpable process's /proc/PID
    files root's, so a daemon running as nobody has /proc/PID/status owned by
    root (and no core dump, no ptrace by nobody)."""
    need_root()
    with Env() as env:
        kafka = env.start_kafka()
        endpoint = env.start_endpoint()
        os.chmod(env.dir, 0o711)
        home = env.path("nobody")
        os.mkdir(home, 0o700)
        os.chown(home, NOBODY, NOBODY)
        os.chown(endpoint.secret_file, NOBODY, NOBODY)
        config = env.write_config(daemon_config(kafka.bootstrap, endpoint.url,
                                                endpoint.secret_file,
                                                os.path.join(home, "journal.db")))
        os.chown(config, NOBODY, NOBODY)
        produce_events(kafka)
        daemon = env.spawn("daemon", as_nobody([bin_path("bpjs-syncd"), "--config", config]))
        env.wait_for(lambda: registered(endpoint) > 0, timeout=60,
                     what="registrations by the daemon running as nobody")
        status = proc_status(daemon.pid)
        assert status["Uid"].split()[:2] == [str(NOBODY)] * 2, status["Uid"]
        owner = os.stat(f"/proc/{daemon.pid}/status").st_uid
        assert owner == 0, f"/proc/PID/status belongs to uid {owner}: the daemon is dumpable"
        assert env.stop("daemon") == 0


# --- bpjs-syncctl's audit: who -------------------------------------------------

def reveal_and_read_who(env, journal, nik, env_vars, nobody=False):
    """Runs `bpjs-syncctl worker NIK --reveal` with these variables and
    returns the "who" of the audit row it wrote."""
    run_env = {k: v for k, v in os.environ.items()
               if k not in ("SUDO_UID", "SUDO_USER", "SUDO_GID", "USER", "LOGNAME")}
    run_env.update(env_vars)
    ctl = [bin_path("bpjs-syncctl"), "--journal", journal]
    argv = ctl + ["worker", nik, "--reveal", "--json"]
    r = subprocess.run(as_nobody(argv) if nobody else argv, env=run_env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert r.returncode == 0, (r.returncode, r.stderr.decode())
    r = subprocess.run(ctl + ["audit", "--json"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60, check=True)
    rows = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    assert rows and rows[-1]["action"] == "reveal", rows
    return rows[-1]["who"]


def test_audit_names_the_real_user():
    need_root()
    import sqlite3
    with Env() as env:
        os.chmod(env.dir, 0o711)
        home = env.path("nobody")
        os.mkdir(home, 0o700)
        os.chown(home, NOBODY, NOBODY)
        journal = os.path.join(home, "journal.db")
        secret = env.write_file("secret", "audit-test-secret-1\n")
        config = env.write_config(daemon_config("127.0.0.1:9", "http://127.0.0.1:9",
                                                secret, journal))
        r = subprocess.run([bin_path("bpjs-journal-fill"), config, "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        assert r.returncode == 0, r.stdout.decode()
        for f in os.listdir(home):
            os.chown(os.path.join(home, f), NOBODY, NOBODY)
        with sqlite3.connect(journal) as db:
            nik = db.execute("SELECT nik FROM coverages_cur LIMIT 1").fetchone()[0]

        cases = [
            # (what, the variables, as nobody?, who the audit must name)
            ("root: $USER is a claim, not the uid", {"USER": "mallory"}, False, "root"),
            ("root: $SUDO_USER without SUDO_UID", {"USER": "mallory", "SUDO_USER": "mallory"},
             False, "root"),
            ("root under sudo: SUDO_UID names the operator",
             {"SUDO_UID": str(NOBODY), "SUDO_USER": "mallory", "USER": "root"}, False,
             "nobody"),
            ("root under sudo, a uid without a passwd entry: SUDO_USER names it",
             {"SUDO_UID": "4242424", "SUDO_USER": "alice"}, False, "alice"),
            ("not root: SUDO_UID and SUDO_USER are ignored",
             {"SUDO_UID": "0", "SUDO_USER": "root", "USER": "root"}, True, "nobody"),
        ]
        wrong = []
        for what, variables, nobody, want in cases:
            got = reveal_and_read_who(env, journal, nik, variables, nobody=nobody)
            if got != want:
                wrong.append(f"{what}: the audit says {got!r}, not {want!r}")
        assert not wrong, "\n".join(wrong)


if __name__ == "__main__":
    run_tests(globals())
