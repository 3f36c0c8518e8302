#!/usr/bin/env python3
"""Integration test of bpjs-mock, the project's implementation of the BPJS
endpoint contract (docs/endpoint.md; the mock itself: docs/bpjs-mock.md).

Starts the binary from $BPJS_BIN_DIR on a free loopback port, signs requests
the way the contract says, and checks every rule, every fault switch and the
admin counters. Python 3 standard library only. Arguments select tests by
substring. Prints "N passed, M failed" last and exits non-zero when anything
failed (or nothing ran).
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

CONS_ID = "1001"
SECRET = b"rahasia-uji-\x01-123"
NIK_A = "6471054506900002"
NIK_B = "3273011203850001"
NIK_C = "3578016607920003"
FIRST_KPJ = "25000000001"
NO_FAULTS = {
    "fail_5xx": 0, "fail_429": 0, "drop": 0, "drop_after": 0, "slow": 0,
    "fail_400": 0, "down": False, "auth_fail": False, "retry_after": 1,
    "slow_ms": 200,
}


def mock_binary():
    bin_dir = os.environ.get("BPJS_BIN_DIR")
    if not bin_dir:
        here = os.path.dirname(os.path.abspath(__file__))
        bin_dir = os.path.join(here, "..", "..", "build", "bin")
    return os.path.join(bin_dir, "bpjs-mock")


def signature(cons_id, timestamp, secret=SECRET):
    msg = ("%s&%s" % (cons_id, timestamp)).encode()
    return base64.b64encode(hmac.new(secret, msg, hashlib.sha256).digest()).decode()


def registration(rid, nik, **changes):
    return changed({
        "registration_id": rid,
        "nik": nik,
        "name": "Siti Aminah",
        "birth_date": "1990-06-05",
        "sex": "F",
        "program": "BPP-DIFABEL-2025",
        "payer": {"level": "city", "region": "6471"},
        "benefits": ["JKK", "JKM"],
        "period": {"start": "2025-01", "end": "2025-12"},
        "monthly_premium": 16800,
        "occupation": "penjahit",
        "phone": "+6281234567890",
    }, changes)


def changed(item, changes):
    """item with changes applied; DELETE removes a field."""
    for k, v in changes.items():
        if v is DELETE:
            del item[k]
        else:
            item[k] = v
    return item


def deactivation(rid, nik, kpj=FIRST_KPJ):
    return {"registration_id": rid, "nik": nik, "kpj": kpj,
            "program": "BPP-DIFABEL-2025", "reason": "moved away"}


DELETE = object()


def reg_body(key, items):
    return json.dumps({"batch_id": key, "registrations": items}).encode()


def deact_body(key, items):
    return json.dumps({"batch_id": key, "deactivations": items}).encode()


class Dropped(Exception):
    """The server closed the connection without answering."""


class Mock:
    """One bpjs-mock process with its own secret file and temp dir."""

    def __init__(self, *args, secret_text=None):
        self.dir = tempfile.mkdtemp(prefix="bpjs-mock-test-")
        self.secret_path = os.path.join(self.dir, "secret")
        with open(self.secret_path, "wb") as f:
            f.write(secret_text if secret_text is not None else SECRET + b"\n")
        os.chmod(self.secret_path, 0o600)
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [mock_binary(), "--cons-id", CONS_ID, "--secret-file", self.secret_path,
             "--exit-on-stdin-eof", *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        ready, _, _ = select.select([self.proc.stdout], [], [], 10)
        if not ready:
            self.close()
            raise RuntimeError("bpjs-mock printed no URL within 10 s")
        self.url = self.proc.stdout.readline().decode().strip()
        m = re.fullmatch(r"http://(127\.0\.0\.1):(\d+)", self.url)
        if not m:
            self.close()
            raise RuntimeError("unexpected URL line %r" % self.url)
        self.host, self.port = m.group(1), int(m.group(2))

    def close(self):
        """Stops the mock (EOF on its stdin) and removes its files. Raises
        when it did not exit 0 or a sanitizer reported anything."""
        hung = False
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        log = self.stderr()
        shutil.rmtree(self.dir, ignore_errors=True)
        if hung or self.proc.returncode != 0 or "Sanitizer" in log or "runtime error" in log:
            raise AssertionError("bpjs-mock exited %s%s:\n%s" % (
                self.proc.returncode, " after a kill" if hung else "", log[-4000:]))

    def stderr(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def connect(self):
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def raw(self, method, path, body=None, headers=None, conn=None):
        """(status, headers dict lower-cased, body bytes); Dropped on close."""
        own = conn is None
        conn = conn or self.connect()
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        except (http.client.RemoteDisconnected, ConnectionResetError,
                BrokenPipeError, http.client.IncompleteRead) as e:
            raise Dropped() from e
        finally:
            if own:
                conn.close()

    def signed(self, path, body, key, ts=None, cons_id=CONS_ID, secret=SECRET,
               sig=None, method="POST", conn=None, drop_headers=()):
        ts = str(int(time.time())) if ts is None else str(ts)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Cons-Id": cons_id,
            "X-Timestamp": ts,
            "X-Signature": sig if sig is not None else signature(cons_id, ts, secret),
        }
        if key is not None:
            headers["Idempotency-Key"] = key
        for h in drop_headers:
            headers.pop(h, None)
        return self.raw(method, path, body, headers, conn)

    def register(self, key, items, **kw):
        return self.signed("/v1/registrations", reg_body(key, items), key, **kw)

    def deactivate(self, key, items, **kw):
        return self.signed("/v1/deactivations", deact_body(key, items), key, **kw)

    def admin(self, method, path, obj=None):
        body = json.dumps(obj).encode() if obj is not None else None
        status, _, data = self.raw(method, path, body)
        return status, json.loads(data) if data else None

    def stats(self):
        status, st = self.admin("GET", "/_mock/stats")
        assert status == 200, status
        return st

    def faults(self, **kw):
        status, got = self.admin("POST", "/_mock/faults", kw)
        assert status == 200, (status, got)
        return got

    def reset(self):
        assert self.admin("POST", "/_mock/reset")[0] == 200
        self.faults(**NO_FAULTS)


def envelope(data, code):
    doc = json.loads(data)
    assert doc["metaData"]["code"] == str(code), doc
    assert isinstance(doc["metaData"]["message"], str) and doc["metaData"]["message"]
    assert doc["response"] is None, doc
    return doc


def results(data):
    doc = json.loads(data)
    assert doc["metaData"] == {"code": "200", "message": "OK"}, doc
    return doc["response"]["results"]


# --------------------------------------------------------------------------
# Tests. Each takes the shared mock (reset before each) and asserts.


def test_url_line(m):
    assert m.port != 0
    assert "listening on " + m.url in m.stderr()


def test_auth_failures_are_401(m):
    body = reg_body("k-auth", [registration("r-auth", NIK_A)])
    now = int(time.time())
    cases = [
        ("bad signature", dict(sig=signature(CONS_ID, now, b"wrong"), ts=now)),
        ("signature of another timestamp", dict(sig=signature(CONS_ID, now - 1), ts=now)),
        ("skewed timestamp, past", dict(ts=now - 400)),
        ("skewed timestamp, future", dict(ts=now + 400)),
        ("wrong cons id", dict(cons_id="1002")),
        ("non-digit timestamp", dict(ts="17e8")),
        ("missing signature", dict(drop_headers=("X-Signature",))),
        ("missing timestamp", dict(drop_headers=("X-Timestamp",))),
        ("missing cons id", dict(drop_headers=("X-Cons-Id",))),
    ]
    for name, kw in cases:
        status, _, data = m.signed("/v1/registrations", body, "k-auth", **kw)
        assert status == 401, (name, status, data)
        envelope(data, 401)
    assert m.stats()["batches_processed"] == 0
    # Within the window is fine.
    status, _, data = m.signed("/v1/registrations", body, "k-auth", ts=now - 250)
    assert status == 200, (status, data)


def test_idempotency_key_rules(m):
    items = [registration("r-key", NIK_A)]
    for key in [None, "", "has space", "slash/no", "x" * 129, "é"]:
        body = reg_body(key or "", items)
        status, _, data = m.signed("/v1/registrations", body, key)
        assert status == 400, (key, status, data)
        envelope(data, 400)
    key = "Ab0._:-" + "z" * 121
    assert len(key) == 128
    status, _, data = m.register(key, items)
    assert status == 200, (status, data)


def test_malformed_bodies(m):
    key = "k-bad"
    cases = [
        ("not JSON", b"{nope"),
        ("trailing garbage", reg_body(key, [registration("r", NIK_A)]) + b" x"),
        ("not an object", b"[1,2]"),
        ("batch_id differs from key", reg_body("other", [registration("r", NIK_A)])),
        ("batch_id missing", json.dumps({"registrations": []}).encode()),
        ("registrations not an array", json.dumps(
            {"batch_id": key, "registrations": {}}).encode()),
        ("registrations missing", json.dumps({"batch_id": key}).encode()),
        ("zero items", reg_body(key, [])),
        ("deactivations in a registration call", deact_body(
            key, [deactivation("r", NIK_A)])),
        ("embedded NUL", reg_body(key, [registration("r", NIK_A)])[:-1] + b"\x00}"),
    ]
    for name, body in cases:
        status, _, data = m.signed("/v1/registrations", body, key)
        assert status == 400, (name, status, data)
        envelope(data, 400)
    bad_deactivation = deact_body(key, [deactivation("r", "123")])
    status, _, data = m.signed("/v1/deactivations", bad_deactivation, key)
    assert status == 400, (status, data)
    assert "nik" in envelope(data, 400)["metaData"]["message"]
    st = m.stats()
    assert st["batches_processed"] == 0 and st["idempotency_keys"] == 0, st


def test_size_limits(m):
    items = [registration("r-%d" % i, "35780166079%05d" % i) for i in range(501)]
    status, _, data = m.register("k-501", items)
    assert status == 413, (status, data)
    envelope(data, 413)
    big = reg_body("k-big", [registration("r-big", NIK_A, name="x" * (1024 * 1024))])
    status, _, data = m.signed("/v1/registrations", big, "k-big")
    assert status == 413, (status, data)
    status, _, data = m.register("k-500", items[:500])
    assert status == 200, (status, data)
    res = results(data)
    assert len(res) == 500 and all(r["status"] == "REGISTERED" for r in res)
    assert [r["kpj"] for r in res[:2]] == [FIRST_KPJ, "25000000002"]
    assert res[-1]["kpj"] == "25000000500"


def test_routes(m):
    body = reg_body("k-route", [registration("r", NIK_A)])
    status, _, data = m.signed("/v1/nothing", body, "k-route")
    assert status == 404, status
    envelope(data, 404)
    status, headers, data = m.signed("/v1/registrations", None, "k-route", method="GET")
    assert status == 405 and headers.get("allow") == "POST", (status, headers)
    envelope(data, 405)
    status, _, _ = m.raw("GET", "/_mock/nothing")
    assert status == 404
    status, _, _ = m.raw("POST", "/_mock/stats")
    assert status == 405


def test_register_replay_conflict(m):
    body = reg_body("b-1", [registration("r-1", NIK_A)])
    status, headers, first = m.signed("/v1/registrations", body, "b-1")
    assert status == 200, (status, first)
    assert headers["content-type"].startswith("application/json")
    doc = json.loads(first)
    assert doc == {"metaData": {"code": "200", "message": "OK"},
                   "response": {"batch_id": "b-1", "results": [
                       {"registration_id": "r-1", "status": "REGISTERED",
                        "kpj": FIRST_KPJ}]}}, doc
    status, _, again = m.signed("/v1/registrations", body, "b-1")
    assert status == 200 and again == first, again
    st = m.stats()
    assert st["idempotent_replays"] == 1 and st["batches_processed"] == 1, st
    assert st["registered"] == 1, st
    other = reg_body("b-1", [registration("r-1", NIK_A, name="Siti A.")])
    status, _, data = m.signed("/v1/registrations", other, "b-1")
    assert status == 409, (status, data)
    envelope(data, 409)
    st = m.stats()
    assert st["conflicts_409"] == 1 and st["batches_processed"] == 1, st
    # A later batch with the same NIK: already a participant, same kpj.
    status, _, data = m.register("b-2", [registration("r-9", NIK_A)])
    assert status == 200
    assert results(data) == [{"registration_id": "r-9", "status": "ALREADY_REGISTERED",
                              "kpj": FIRST_KPJ}]
    st = m.stats()
    assert st["already_registered"] == 1 and st["registered_twice"] == 0, st
    assert st["requests"] == {"200": 3, "409": 1}, st


def test_one_result_per_item(m):
    items = [
        registration("r-ok", NIK_A),
        registration("r-same-nik", NIK_A),
        registration("r-no-name", NIK_B, name=DELETE),
        registration("r-bad-nik", "12345"),
        registration("r-ok-2", NIK_C, occupation=DELETE, phone=DELETE),
    ]
    status, _, data = m.register("b-mix", items)
    assert status == 200
    res = results(data)
    assert [r["registration_id"] for r in res] == [i["registration_id"] for i in items]
    assert res[0] == {"registration_id": "r-ok", "status": "REGISTERED", "kpj": FIRST_KPJ}
    assert res[1] == {"registration_id": "r-same-nik", "status": "ALREADY_REGISTERED",
                      "kpj": FIRST_KPJ}
    assert res[2] == {"registration_id": "r-no-name", "status": "REJECTED",
                      "reason": "name required"}
    assert res[3]["status"] == "REJECTED" and "nik" in res[3]["reason"]
    assert res[4] == {"registration_id": "r-ok-2", "status": "REGISTERED",
                      "kpj": "25000000002"}


def test_rejection_reasons(m):
    rules = [
        ("registration_id", dict(registration_id=DELETE), "registration_id"),
        ("nik letters", dict(nik="64710545069000AB"), "nik"),
        ("nik 17 digits", dict(nik="64710545069000021"), "nik"),
        ("nik a number", dict(nik=6471054506900002), "nik"),
        ("name empty", dict(name=""), "name"),
        ("birth_date 30 February", dict(birth_date="1990-02-30"), "birth_date"),
        ("birth_date format", dict(birth_date="05-06-1990"), "birth_date"),
        ("sex", dict(sex="X"), "sex"),
        ("program", dict(program=DELETE), "program"),
        ("payer without region", dict(payer={"level": "city"}), "payer"),
        ("benefits empty", dict(benefits=[]), "benefits"),
        ("benefits not strings", dict(benefits=[1]), "benefits"),
        ("period reversed", dict(period={"start": "2025-12", "end": "2025-01"}), "period"),
        ("period month 13", dict(period={"start": "2025-13", "end": "2025-12"}), "period"),
        ("premium negative", dict(monthly_premium=-1), "monthly_premium"),
        ("premium fraction", dict(monthly_premium=1.5), "monthly_premium"),
        ("premium a string", dict(monthly_premium="16800"), "monthly_premium"),
        ("occupation a number", dict(occupation=3), "occupation"),
        ("phone a list", dict(phone=[]), "phone"),
    ]
    items = [changed(registration("r-%d" % i, NIK_A), ch)
             for i, (_, ch, _) in enumerate(rules)]
    items.append("not an object")
    status, _, data = m.register("b-rules", items)
    assert status == 200, (status, data)
    res = results(data)
    assert len(res) == len(items)
    for (name, _, word), r in zip(rules, res):
        assert r["status"] == "REJECTED", (name, r)
        assert word in r["reason"], (name, r)
        assert "kpj" not in r
    assert res[-1]["status"] == "REJECTED" and res[-1]["registration_id"] is None
    st = m.stats()
    assert st["rejected"] == len(items) and st["registered"] == 0 and st["active"] == 0, st
    # A leap day is a date.
    status, _, data = m.register("b-leap", [registration("r-leap", NIK_A,
                                                         birth_date="2000-02-29")])
    assert results(data)[0]["status"] == "REGISTERED"


def test_deactivation(m):
    m.register("b-reg", [registration("r-1", NIK_A), registration("r-2", NIK_B)])
    status, _, data = m.deactivate("d-1", [deactivation("r-1", NIK_A)])
    assert status == 200, (status, data)
    assert json.loads(data)["response"]["batch_id"] == "d-1"
    res = results(data)
    assert res == [{"registration_id": "r-1", "status": "DEACTIVATED", "kpj": FIRST_KPJ}]
    status, _, data = m.deactivate("d-2", [deactivation("r-1", NIK_A),
                                           deactivation("r-x", NIK_C)])
    assert [r["status"] for r in results(data)] == ["NOT_FOUND", "NOT_FOUND"]
    _, state = m.admin("GET", "/_mock/state")
    assert [p["nik"] for p in state["active"]] == [NIK_B], state
    # Registered again after a deactivation: a new kpj, and not "twice".
    status, _, data = m.register("b-again", [registration("r-1b", NIK_A)])
    assert results(data)[0] == {"registration_id": "r-1b", "status": "REGISTERED",
                                "kpj": "25000000003"}
    st = m.stats()
    assert st["deactivated"] == 1 and st["not_found"] == 2, st
    assert st["registered_twice"] == 0 and st["active"] == 2, st


def test_state_and_filter(m):
    m.register("b-st", [registration("r-1", NIK_A), registration("r-2", NIK_B)])
    _, state = m.admin("GET", "/_mock/state")
    assert state["active"] == [
        {"nik": NIK_A, "kpj": FIRST_KPJ, "program": "BPP-DIFABEL-2025",
         "registration_id": "r-1"},
        {"nik": NIK_B, "kpj": "25000000002", "program": "BPP-DIFABEL-2025",
         "registration_id": "r-2"}], state
    assert state["stats"]["active"] == 2
    _, state = m.admin("GET", "/_mock/state?nik=" + NIK_B)
    assert [p["registration_id"] for p in state["active"]] == ["r-2"], state
    _, state = m.admin("GET", "/_mock/state?nik=" + NIK_C)
    assert state["active"] == []
    status, _ = m.admin("GET", "/_mock/state?nik=12")
    assert status == 400
    assert m.admin("POST", "/_mock/reset")[0] == 200
    _, state = m.admin("GET", "/_mock/state")
    assert state["active"] == [] and state["stats"]["batches_processed"] == 0
    # Numbering starts again after a reset.
    status, _, data = m.register("b-st", [registration("r-1", NIK_A)])
    assert results(data)[0]["kpj"] == FIRST_KPJ


def test_large_state_streams(m):
    n = 0
    for b in range(20):
        items = [registration("r-%d-%d" % (b, i), "33%014d" % (b * 500 + i))
                 for i in range(500)]
        status, _, _ = m.register("bulk-%d" % b, items)
        assert status == 200
        n += 500
    status, _, data = m.raw("GET", "/_mock/state")
    assert status == 200
    state = json.loads(data)
    assert len(state["active"]) == n and state["stats"]["active"] == n
    assert len({p["kpj"] for p in state["active"]}) == n


def test_seeded_participants(m):
    status, got = m.admin("POST", "/_mock/participants", {
        "add": [{"nik": NIK_A, "kpj": "11000000007", "program": "SELF"},
                {"nik": NIK_B}]})
    assert status == 200 and got == {"added": 2, "already_active": 0, "removed": 0,
                                     "not_found": 0}, got
    status, _, data = m.register("b-seed", [registration("r-1", NIK_A),
                                            registration("r-2", NIK_C)])
    res = results(data)
    assert res[0] == {"registration_id": "r-1", "status": "ALREADY_REGISTERED",
                      "kpj": "11000000007"}, res
    assert res[1]["status"] == "REGISTERED"
    assert res[1]["kpj"] not in ("11000000007", FIRST_KPJ), res  # NIK_B took 1st
    status, got = m.admin("POST", "/_mock/participants", {"remove": [NIK_B, NIK_B]})
    assert got["removed"] == 1 and got["not_found"] == 1, got
    status, got = m.admin("POST", "/_mock/participants", {"add": [{"nik": "1"}]})
    assert status == 400


def test_registered_twice(m):
    m.register("b-t1", [registration("r-1", NIK_A)])
    assert m.stats()["registered_twice"] == 0
    # The endpoint forgets the participant without a DEACTIVATED (as if its
    # state were lost); a client that registers again is counted.
    status, got = m.admin("POST", "/_mock/participants", {"remove": [NIK_A]})
    assert got["removed"] == 1
    status, _, data = m.register("b-t2", [registration("r-2", NIK_A)])
    assert results(data)[0]["status"] == "REGISTERED"
    assert m.stats()["registered_twice"] == 1
    # After a real deactivation a new registration is legitimate.
    m.deactivate("d-t", [deactivation("r-2", NIK_A, "25000000002")])
    m.register("b-t3", [registration("r-3", NIK_A)])
    st = m.stats()
    assert st["registered_twice"] == 1 and st["registered"] == 3, st


def test_multi_key_registration_ids(m):
    m.register("k-1", [registration("r-A", NIK_A), registration("r-B", NIK_B)])
    m.register("k-1", [registration("r-A", NIK_A), registration("r-B", NIK_B)])
    assert m.stats()["multi_key_registration_ids"] == 0  # a replay, same key
    m.register("k-2", [registration("r-A", NIK_A)])
    assert m.stats()["multi_key_registration_ids"] == 1
    m.register("k-3", [registration("r-A", NIK_A), registration("r-C", NIK_C)])
    st = m.stats()
    assert st["multi_key_registration_ids"] == 1, st  # each id counted once
    m.register("k-4", [registration("r-B", NIK_B)])
    assert m.stats()["multi_key_registration_ids"] == 2
    # Deactivations carry registration ids too; they do not count.
    m.deactivate("d-1", [deactivation("r-C", NIK_C, "25000000003")])
    assert m.stats()["multi_key_registration_ids"] == 2


def test_keep_alive(m):
    conn = m.connect()
    try:
        for i in range(5):
            status, _, _ = m.register("ka-%d" % i, [registration("r-%d" % i, NIK_A)],
                                      conn=conn)
            assert status == 200
        status, _, _ = m.raw("GET", "/_mock/stats", conn=conn)
        assert status == 200
    finally:
        conn.close()


def test_faults_endpoint(m):
    got = m.faults(fail_5xx=12.5, retry_after=3, down=True, seed=42)
    assert got["fail_5xx"] == 12.5 and got["retry_after"] == 3 and got["down"] is True
    assert got["seed"] == 42
    status, got2 = m.admin("GET", "/_mock/faults")
    assert got2 == got, got2
    for bad in [{"nope": 1}, {"drop": 101}, {"drop": -1}, {"down": 1},
                {"slow_ms": 1.5}, {"retry_after": "1"}]:
        status, doc = m.admin("POST", "/_mock/faults", bad)
        assert status == 400, (bad, status, doc)
    status, got3 = m.admin("GET", "/_mock/faults")
    assert got3 == got, "a rejected change must change nothing"


def injected(m, fault, expect_status, header=None):
    """With one fault at 100%: the outcome, and nothing is remembered."""
    body = reg_body("b-f", [registration("r-f", NIK_A)])
    for _ in range(3):
        status, headers, data = m.signed("/v1/registrations", body, "b-f")
        assert status == expect_status, (fault, status, data)
        envelope(data, expect_status)
        if header:
            assert headers.get(header[0]) == header[1], (fault, headers)
    st = m.stats()
    assert st["batches_processed"] == 0 and st["idempotency_keys"] == 0, (fault, st)
    m.faults(**NO_FAULTS)
    status, _, data = m.signed("/v1/registrations", body, "b-f")
    assert status == 200 and results(data)[0]["status"] == "REGISTERED", (fault, data)
    assert m.stats()["idempotent_replays"] == 0, fault


def test_fault_fail_5xx(m):
    m.faults(fail_5xx=100)
    injected(m, "fail_5xx", 503)


def test_fault_fail_429(m):
    m.faults(fail_429=100, retry_after=7)
    injected(m, "fail_429", 429, ("retry-after", "7"))


def test_fault_fail_400(m):
    m.faults(fail_400=100)
    injected(m, "fail_400", 400)


def test_fault_down(m):
    m.faults(down=True)
    injected(m, "down", 503)


def test_fault_auth_fail(m):
    m.faults(auth_fail=True)
    injected(m, "auth_fail", 401)


def test_fault_drop(m):
    m.faults(drop=100)
    body = reg_body("b-d", [registration("r-d", NIK_A)])
    for _ in range(2):
        try:
            status, _, _ = m.signed("/v1/registrations", body, "b-d")
            raise AssertionError("answered %d instead of closing" % status)
        except Dropped:
            pass
    st = m.stats()
    assert st["dropped"] == 2 and st["batches_processed"] == 0, st
    m.faults(drop=0)
    status, _, data = m.signed("/v1/registrations", body, "b-d")
    assert results(data)[0]["status"] == "REGISTERED"
    assert m.stats()["idempotent_replays"] == 0


def test_fault_drop_after(m):
    m.faults(drop_after=100)
    body = reg_body("b-da", [registration("r-da", NIK_A)])
    try:
        m.signed("/v1/registrations", body, "b-da")
        raise AssertionError("answered instead of closing")
    except Dropped:
        pass
    st = m.stats()
    assert st["dropped_after"] == 1 and st["batches_processed"] == 1, st
    assert st["registered"] == 1, st
    m.faults(drop_after=0)
    # The lost response: a resend under the same key gets the stored one.
    status, _, data = m.signed("/v1/registrations", body, "b-da")
    assert status == 200
    assert results(data) == [{"registration_id": "r-da", "status": "REGISTERED",
                              "kpj": FIRST_KPJ}]
    st = m.stats()
    assert st["idempotent_replays"] == 1 and st["batches_processed"] == 1, st
    assert st["registered"] == 1 and st["registered_twice"] == 0, st


def test_fault_slow(m):
    m.faults(slow=100, slow_ms=400)
    t0 = time.monotonic()
    status, _, data = m.register("b-s", [registration("r-s", NIK_A)])
    took = time.monotonic() - t0
    assert status == 200 and results(data)[0]["status"] == "REGISTERED"
    assert took >= 0.39, took
    # Slow answers do not hold the server's threads (2 by default): eight at
    # once take about one delay (1 s), not four.
    m.faults(slow_ms=1000)
    out = []

    def one(i):
        s, _, _ = m.register("b-s%d" % i, [registration("r-s%d" % i, "35%014d" % i)])
        out.append(s)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    assert out == [200] * 8, out
    assert 0.99 <= took < 2.5, took
    # Admin endpoints are never slowed or failed.
    m.faults(down=True, slow=100, slow_ms=2000)
    t0 = time.monotonic()
    assert m.admin("GET", "/_mock/stats")[0] == 200
    assert time.monotonic() - t0 < 1


def test_no_full_nik_in_logs(m):
    m.faults(slow=0)
    m.register("b-log", [registration("r-log", NIK_A), registration("r-bad", NIK_B,
                                                                    sex="?")])
    log = m.stderr()
    assert not re.search(r"\d{16}", log), "a full NIK in the log"
    assert SECRET.decode(errors="replace") not in log
    assert "3273********0001" in log, log


# --------------------------------------------------------------------------
# Tests that start their own mock.


def test_cli_fault_switches():
    m = Mock("--fail-429", "100", "--retry-after", "3", "--seed", "42",
             "--slow-ms", "250", "--threads", "3")
    try:
        _, got = m.admin("GET", "/_mock/faults")
        assert got["fail_429"] == 100 and got["retry_after"] == 3, got
        assert got["seed"] == 42 and got["slow_ms"] == 250, got
        status, headers, _ = m.register("b", [registration("r", NIK_A)])
        assert status == 429 and headers["retry-after"] == "3"
    finally:
        m.close()


def test_seeded_percentages_repeat():
    def run():
        m = Mock("--fail-5xx", "50", "--seed", "7")
        try:
            out = []
            for i in range(40):
                status, _, _ = m.register("s-%d" % i, [registration("r%d" % i, NIK_A)])
                out.append(status)
            return out
        finally:
            m.close()
    a, b = run(), run()
    assert a == b, (a, b)
    assert 5 < a.count(503) < 35, a


def test_idempotency_ttl():
    m = Mock("--idempotency-ttl", "1", "--threads", "1")
    try:
        assert "[warning]" not in m.stderr(), m.stderr()
        m.register("b-ttl", [registration("r-1", NIK_A)])
        time.sleep(2.2)
        status, _, data = m.register("b-ttl", [registration("r-2", NIK_B)])
        assert status == 200, "an expired key is new again"
        assert results(data)[0]["registration_id"] == "r-2"
        assert m.stats()["idempotency_keys"] == 1
    finally:
        m.close()


def test_secret_file_newline_and_bytes():
    # Only one trailing newline is stripped.
    m = Mock(secret_text=b"two-newlines\n\n")
    try:
        status, _, _ = m.register("b", [registration("r", NIK_A)],
                                  secret=b"two-newlines\n")
        assert status == 200, status
        status, _, _ = m.register("b2", [registration("r", NIK_A)],
                                  secret=b"two-newlines")
        assert status == 401, status
    finally:
        m.close()


def test_command_line_errors():
    d = tempfile.mkdtemp(prefix="bpjs-mock-test-")
    try:
        secret = os.path.join(d, "s")
        with open(secret, "wb") as f:
            f.write(b"x\n")
        empty = os.path.join(d, "e")
        open(empty, "wb").close()
        cases = [
            ([], 64),
            (["--secret-file", secret], 64),
            (["--cons-id", "10a1", "--secret-file", secret], 64),
            (["--cons-id", "1001"], 64),
            (["--cons-id", "1001", "--secret", "hunter2hunter2"], 64),
            (["--cons-id", "1001", "--secret-file", secret, "--drop", "200"], 64),
            (["--cons-id", "1001", "--secret-file", secret, "--listen", "nope"], 64),
            (["--cons-id", "1001", "--secret-file", os.path.join(d, "missing")], 66),
            (["--cons-id", "1001", "--secret-file", empty], 66),
        ]
        for args, code in cases:
            p = subprocess.run([mock_binary(), *args], stdin=subprocess.DEVNULL,
                               capture_output=True, timeout=10)
            assert p.returncode == code, (args, p.returncode, p.stderr)
            assert p.stdout == b"", (args, p.stdout)
            assert b"hunter2" not in p.stderr
        p = subprocess.run([mock_binary(), "--help"], capture_output=True, timeout=10)
        assert p.returncode == 0 and b"--drop-after" in p.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_exits_on_signals_and_stdin_eof():
    for how in ("SIGTERM", "SIGINT", "EOF"):
        m = Mock()
        try:
            if how == "EOF":
                m.proc.stdin.close()
            else:
                m.proc.send_signal(getattr(signal, how))
            assert m.proc.wait(timeout=10) == 0, how
        finally:
            m.close()


def test_sigterm_while_requests_are_parked():
    m = Mock("--slow", "100", "--slow-ms", "5000")
    try:
        box = []

        def one():
            try:
                box.append(m.register("b", [registration("r", NIK_A)])[0])
            except Exception as e:  # noqa: BLE001 - any outcome but a hang is fine
                box.append(e)

        t = threading.Thread(target=one)
        t.start()
        time.sleep(0.5)
        m.proc.send_signal(signal.SIGTERM)
        assert m.proc.wait(timeout=10) == 0
        t.join(10)
        assert not t.is_alive()
    finally:
        m.close()


SHARED = [v for k, v in sorted(globals().items())
          if k.startswith("test_") and v.__code__.co_argcount == 1]
OWN = [v for k, v in sorted(globals().items())
       if k.startswith("test_") and v.__code__.co_argcount == 0]


def main():
    """Runs every test, or those whose name contains an argument."""
    wanted = sys.argv[1:]
    selected = [fn for fn in SHARED + OWN
                if not wanted or any(w in fn.__name__ for w in wanted)]
    passed = failed = 0

    def run(name, fn, *args):
        nonlocal passed, failed
        try:
            fn(*args)
            passed += 1
            print("ok   %s" % name, flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc()

    m = None
    try:
        if any(fn in SHARED for fn in selected):
            m = Mock("--verbose")
        for fn in [fn for fn in SHARED if fn in selected]:
            def one(fn=fn):
                m.reset()
                fn(m)
            run(fn.__name__, one)
    except Exception:  # noqa: BLE001
        failed += 1
        traceback.print_exc()
    finally:
        if m:
            run("shared mock exits cleanly", m.close)
    for fn in [fn for fn in OWN if fn in selected]:
        run(fn.__name__, fn)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
