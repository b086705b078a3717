"""The study server against careless or hostile clients, as users run it: `archopt study
serve` (waitress) on 127.0.0.1, driven over real sockets and HTTP.

- a body larger than the 16 KiB cap is refused by waitress before it is buffered, and a
  stalled request is closed after ``--request-timeout``;
- a burst of registrations is spread evenly over the networks;
- refused registrations do not use up the registration rate limit;
- JSON nested too deeply is a 400, not a 500;
- `archopt study serve` refuses unusable options and admin tokens before it listens.
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from test_perceptual import ADMIN, NETWORKS, finish_test, make_bundle
from test_perceptual_live import ARCHOPT, live_server

from archopt.perceptual import store
from archopt.perceptual.bundle import load_bundle

CAP = 16 * 1024  # the documented request cap (docs/pix2pix.md, Safety)
REGISTER_LIMIT = 3


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "bundle", per_class=6)


@pytest.fixture(scope="module")
def server(tmp_path_factory, bundle) -> Iterator[tuple[str, Path]]:
    """A server with a small registration limit and a 1 s request timeout; yields
    (base URL, log file)."""
    root = tmp_path_factory.mktemp("hardening")
    log = root / "server.log"
    with live_server(bundle, root / "study.db", log, "--register-limit", str(REGISTER_LIMIT),
                     "--request-timeout", "1") as (url, _):
        yield url, log


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw_request(url: str, head: str) -> socket.socket:
    """A connection that has sent ``head`` (request line and headers) and nothing else."""
    sock = socket.create_connection(address(url), timeout=10)
    sock.sendall(head.encode())
    return sock


def read_reply(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """What the server sends within ``timeout``, and whether it closed the connection."""
    sock.settimeout(timeout)
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        pass
    return data, True


def register_head(url: str, extra: str) -> str:
    host, port = address(url)
    return (f"POST /api/register HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\n{extra}\r\n")


# --- 1. the request cap is enforced by waitress, before it buffers --------------------

def test_a_huge_declared_body_is_refused_before_any_of_it_is_sent(server):
    url, _ = server
    sock = raw_request(url, register_head(url, "Content-Length: 900000000\r\n"))
    with sock:
        started = time.monotonic()
        reply, closed = read_reply(sock, timeout=5)
    assert reply.startswith(b"HTTP/1.1 413 "), reply[:200]
    assert closed and time.monotonic() - started < 3
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"application/json" in head  # the page reads every error as JSON
    error = json.loads(body)
    assert error["status"] == 413 and "at most 16384 bytes" in error["error"], error


def test_malformed_http_gets_a_json_error_too(server):
    url, _ = server
    sock = raw_request(url, register_head(url, "Content-Length: twelve\r\n"))
    with sock:
        reply, closed = read_reply(sock, timeout=5)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"application/json" in head, reply[:200]
    assert json.loads(body)["status"] == 400 and closed


def test_a_streamed_chunked_body_is_cut_off_at_the_cap(server):
    """No Content-Length to refuse up front: once the body passes the cap, waitress must
    refuse it rather than wait for (and buffer) more: it buffered up to 1 GiB."""
    url, _ = server
    sock = raw_request(url, register_head(url, "Transfer-Encoding: chunked\r\n"))
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"  # 1 KiB of body; the chunked body never ends
    with sock:
        try:
            for _ in range(CAP // 1024 + 2):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed before the last chunk: fine
        reply, closed = read_reply(sock, timeout=5)
    assert closed, "the server kept reading a body past the cap"
    assert reply == b"" or reply.startswith(b"HTTP/1.1 413 "), reply[:200]


def test_the_cap_is_the_same_in_waitress_and_in_the_app(server):
    url, _ = server
    # Exactly 16384 bytes reach the app (a refused e-mail, 400); one more byte does not.
    for size, status in [(CAP, 400), (CAP + 1, 413)]:
        body = '{"email": "%s", "consent": true}'
        body = body % ("x" * (size - len(body % "")))
        assert len(body) == size
        reply = requests.post(f"{url}/api/register", data=body,
                              headers={"Content-Type": "application/json"}, timeout=10)
        assert reply.status_code == status, (size, reply.text[:200])
        assert reply.json()["status"] == status


def test_a_stalled_request_is_closed_after_the_request_timeout(server):
    url, _ = server
    sock = raw_request(url, register_head(url, "Content-Length: 100\r\n") + '{"email": ')
    with sock:
        started = time.monotonic()
        reply, closed = read_reply(sock, timeout=8)  # --request-timeout 1, checked every 1 s
        waited = time.monotonic() - started
    assert closed and waited < 6, "the server kept a stalled request open"
    assert b"200 OK" not in reply


# --- 3. refused registrations do not use up the rate limit ----------------------------

def test_refused_registrations_do_not_count_against_the_rate_limit(server):
    url, _ = server
    for _ in range(10):
        reply = requests.post(f"{url}/api/register", json={"email": "not-an-email"}, timeout=10)
        assert reply.status_code == 400, reply.text
    for i in range(REGISTER_LIMIT):  # every accepted registration still counts
        reply = requests.post(f"{url}/api/register",
                              json={"email": f"ok{i}@lab.org", "consent": True}, timeout=10)
        assert reply.status_code == 200, reply.text
    over = requests.post(f"{url}/api/register", json={"email": "late@lab.org", "consent": True},
                         timeout=10)
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0


# --- 4. JSON nested too deeply -----------------------------------------------------------

@pytest.mark.parametrize("body", ["[" * 15000, '{"a":' * 3000])
def test_deeply_nested_json_is_a_400_json_error(server, body):
    url, log = server
    assert len(body) < CAP
    reply = requests.post(f"{url}/api/register", data=body,
                          headers={"Content-Type": "application/json"}, timeout=10)
    assert reply.status_code == 400, reply.text[:200]
    assert "nested too deeply" in reply.json()["error"]
    assert "RecursionError" not in log.read_text()


# --- 2. a burst of registrations spreads over the networks ------------------------------

def test_a_burst_of_registrations_is_spread_evenly(tmp_path, bundle):
    # 30 finished tests first (8/8/7/7), then 40 volunteers register at the same moment.
    db = tmp_path / "study.db"
    loaded = load_bundle(bundle)
    store.initialize(db, loaded)
    conn = store.connect(db)
    for i in range(30):
        volunteer, _ = store.register(conn, f"early{i}@lab.org", loaded, random.Random(i))
        finish_test(conn, volunteer)
    conn.close()
    with live_server(bundle, db, tmp_path / "server.log", "--register-limit", "1000") as (url, _):
        barrier = threading.Barrier(40)
        statuses: list[int] = []

        def register(i: int) -> None:
            barrier.wait()
            statuses.append(requests.post(f"{url}/api/register", timeout=60, json={
                "email": f"burst{i}@lab.org", "consent": True}).status_code)

        threads = [threading.Thread(target=register, args=(i,)) for i in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert statuses == [200] * 40
    with sqlite3.connect(db) as conn:
        assigned = dict(conn.execute("SELECT network, COUNT(*) FROM volunteers GROUP BY network"))
    assert sorted(assigned) == sorted(NETWORKS)
    # 70 tests over 4 networks: 18/18/17/17 (the old rule gave 8/8/27/27).
    assert max(assigned.values()) - min(assigned.values()) <= 1, assigned


# --- 5. `archopt study serve` refuses unusable settings ---------------------------------

def start_refused(tmp_path: Path, bundle: Path, options: list[str],
                  env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start `archopt study serve`; it must exit before it serves: (exit code, output)."""
    log = tmp_path / "serve.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [ARCHOPT, "study", "serve", "--bundle", str(bundle), "--db", str(tmp_path / "s.db"),
             *options], stdout=handle, stderr=subprocess.STDOUT,
            env={**os.environ, "ARCHOPT_STUDY_ADMIN_TOKEN": ADMIN, **(env or {})})
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if "serving on" in log.read_text():
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
            pytest.fail(f"started with {options} {env or ''}: {log.read_text()}")
    return process.returncode, log.read_text()


@pytest.mark.parametrize(("options", "env", "expected"), [
    (["--threads", "0"], None, r"--threads: .*at least 1.*got 0"),
    (["--port", "99999"], None, r"--port: .*0 to 65535.*got 99999"),
    (["--request-timeout", "0"], None, r"--request-timeout: .*at least 1.*got 0"),
    ([], {"ARCHOPT_STUDY_ADMIN_TOKEN": f" {ADMIN}\n"},
     r"ARCHOPT_STUDY_ADMIN_TOKEN .*whitespace"),
], ids=["threads", "port", "request-timeout", "admin-token"])
def test_serve_refuses_unusable_settings(tmp_path, bundle, options, env, expected):
    code, output = start_refused(tmp_path, bundle, options, env)
    assert code != 0 and re.search(expected, output), output
    assert ADMIN not in output  # the token is a secret: never echoed
    assert "Traceback" not in output


def test_serve_refuses_a_port_in_use(tmp_path, bundle):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, output = start_refused(tmp_path, bundle, ["--port", str(port)])
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in output, output
    assert "Traceback" not in output
