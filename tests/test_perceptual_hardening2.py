"""The study server against slow and hostile clients, second round (issue 23), as users run
it: `archopt study serve` (waitress) on 127.0.0.1, driven over real sockets.

- a client trickling its request (one header line at a time) is answered 408 and closed
  once the whole request has taken longer than ``--request-timeout``;
- one address cannot take every connection: past ``--max-connections-per-address`` its
  connections are refused (503) and another client is still served at once;
- ``--trusted-proxy`` must be an IP address;
- the registration rate limiter forgets addresses whose window has passed;
- a full disk under the database is a 507 naming the disk, not a generic 500;
- `archopt study results --out` into a folder it cannot write is an error, not a traceback;
- a bundle whose ``training_per_class`` is negative or not an integer is refused.
"""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
from test_perceptual import ADMIN, finish_test, make_bundle
from test_perceptual_hardening import address, read_reply, start_refused
from test_perceptual_live import ARCHOPT, live_server, wait_for_url

from archopt.cli import main
from archopt.perceptual import store
from archopt.perceptual.bundle import MANIFEST, BundleError, load_bundle
from archopt.perceptual.security import RateLimiter
from archopt.perceptual.server import storage_refusal

REQUEST_TIMEOUT_S = 2
PER_ADDRESS = 5
ATTACKER = "127.0.0.2"  # the loopback network is 127/8: a second client address


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("bundle") / "bundle", per_class=6)


@pytest.fixture(scope="module")
def server(tmp_path_factory, bundle) -> Iterator[str]:
    """The issue's setting (2 threads, a 2 s request timeout), 5 connections an address."""
    root = tmp_path_factory.mktemp("slow")
    with live_server(bundle, root / "study.db", root / "server.log", "--threads", "2",
                     "--request-timeout", str(REQUEST_TIMEOUT_S),
                     "--max-connections-per-address", str(PER_ADDRESS)) as (url, _):
        yield url


def trickling_connection(url: str, source: str) -> socket.socket:
    """A connection from ``source`` that has sent a request line and nothing else yet."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(address(url))
    sock.sendall(b"GET / HTTP/1.1\r\n")
    return sock


def trickle(sockets: list[socket.socket], stop: threading.Event, every_s: float) -> None:
    """One more header line on every socket each ``every_s``: never silent, never done."""
    line = 0
    while not stop.wait(every_s):
        line += 1
        for sock in sockets:
            try:
                sock.sendall(f"X-Slow-{line}: {line}\r\n".encode())
            except OSError:
                pass  # closed by the server: what the limits are for


def test_a_trickled_request_is_closed_after_the_request_timeout(server):
    """Waitress only closed connections that went silent: one header line every 0.3 s kept
    a request open for ever. Now the whole request must arrive within the timeout."""
    sock = trickling_connection(server, "127.0.0.3")
    stop = threading.Event()
    sender = threading.Thread(target=trickle, args=([sock], stop, 0.3), daemon=True)
    sender.start()
    try:
        started = time.monotonic()
        reply, closed = read_reply(sock, timeout=REQUEST_TIMEOUT_S + 4)
        waited = time.monotonic() - started
    finally:
        stop.set()
        sender.join()
        sock.close()
    assert closed, "the server kept a trickling request open past the request timeout"
    assert waited < REQUEST_TIMEOUT_S + 3
    if reply:  # the answer may be lost to a reset when unread header lines were pending
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), reply[:200]
        assert json.loads(body)["status"] == 408


def test_trickling_clients_cannot_starve_another_client(server):
    """120 trickling connections from one address filled waitress's 100 connections, and
    a normal request from elsewhere timed out. Now that address gets 5, the rest 503."""
    attackers = []
    stop = threading.Event()
    try:
        for _ in range(120):
            try:
                attackers.append(trickling_connection(server, ATTACKER))
            except OSError:
                pass  # refused at once: fine
        sender = threading.Thread(target=trickle, args=(attackers, stop, 0.5), daemon=True)
        sender.start()
        time.sleep(0.5)  # every attacker connection accepted (or refused) by now
        started = time.monotonic()
        reply = requests.get(f"{server}/", timeout=3)
        elapsed = time.monotonic() - started
        refused = [read_reply(sock, timeout=0.05)[0] for sock in attackers[PER_ADDRESS + 5:]]
    finally:
        stop.set()
        for sock in attackers:
            sock.close()
    assert reply.status_code == 200 and elapsed < 2, elapsed
    answered = [r for r in refused if r]
    assert answered and all(r.startswith(b"HTTP/1.1 503 ") for r in answered), answered[:1]
    assert b"too many connections from this address" in answered[0]


def test_the_trusted_proxy_is_exempt_from_the_per_address_cap(tmp_path, bundle):
    """Behind a reverse proxy every client connects from the proxy's address."""
    with live_server(bundle, tmp_path / "study.db", tmp_path / "server.log", "--trusted-proxy",
                     "127.0.0.1", "--max-connections-per-address", "2") as (url, _):
        held = [trickling_connection(url, "127.0.0.1") for _ in range(4)]
        try:
            reply = requests.get(f"{url}/", timeout=5)
            pending = [read_reply(sock, timeout=0.2)[0] for sock in held]
        finally:
            for sock in held:
                sock.close()
    assert reply.status_code == 200 and pending == [b""] * 4  # none refused


@pytest.mark.parametrize("proxy", ["not an address", "proxy.example", ""])
def test_serve_refuses_a_trusted_proxy_that_is_not_an_ip_address(tmp_path, bundle, proxy):
    code, output = start_refused(tmp_path, bundle, ["--trusted-proxy", proxy])
    assert code == 2 and f"trusted proxy {proxy!r} is not an IP address" in output, output
    assert "Traceback" not in output


def test_serve_refuses_zero_connections_per_address(tmp_path, bundle):
    code, output = start_refused(tmp_path, bundle, ["--max-connections-per-address", "0"])
    assert code == 2 and "--max-connections-per-address: must be at least 1" in output, output


def test_the_cli_defaults_are_the_servers():
    from archopt.commands import study
    from archopt.perceptual import serving

    assert study.DEFAULT_REQUEST_TIMEOUT_S == serving.REQUEST_TIMEOUT_S
    assert study.DEFAULT_CONNECTIONS_PER_ADDRESS == serving.MAX_CONNECTIONS_PER_ADDRESS
    assert study.SERVER_CONNECTIONS == serving.CONNECTION_LIMIT


# --- the rate limiter forgets old addresses (item 11) -----------------------------------

def test_the_rate_limiter_forgets_addresses_whose_window_has_passed():
    """200,000 addresses used 164 MiB, kept for ever: an address's entry must go once its
    events have left the window, whether or not the address comes back."""
    limiter = RateLimiter(limit=2, window_s=60.0)
    for i in range(10_000):
        limiter.retry_after(f"10.0.{i // 256}.{i % 256}", now=float(i % 10))
    assert limiter.tracked() == 10_000
    limiter.retry_after("192.0.2.1", now=100.0)  # every other address's window is over
    assert limiter.tracked() == 1
    assert limiter.wait("192.0.2.1", now=100.0) == 0.0  # the limit itself still holds:
    limiter.retry_after("192.0.2.1", now=101.0)
    assert limiter.wait("192.0.2.1", now=102.0) == pytest.approx(58.0)


def test_asking_about_an_address_records_nothing():
    limiter = RateLimiter(limit=1, window_s=60.0)
    for i in range(100):
        assert limiter.wait(f"10.1.0.{i}", now=0.0) == 0.0
    assert limiter.tracked() == 0


# --- a full disk under the database (item 8) --------------------------------------------

def limit_file_size(limit: int) -> None:
    """In the server's process: files may not grow past ``limit`` bytes (a full disk, as
    SQLite sees it), and going past is an error for the write, not a SIGXFSZ kill."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_disk_that_refuses_writes_under_the_database_is_named_not_a_500(tmp_path, bundle):
    """Writes past the file size limit fail as on a full disk (SQLite: disk I/O error)."""
    db = tmp_path / "study.db"
    log = tmp_path / "server.log"
    with log.open("w") as handle:
        process = subprocess.Popen(
            [ARCHOPT, "study", "serve", "--bundle", str(bundle), "--db", str(db), "--port", "0",
             "--register-limit", "1000"], stdout=handle, stderr=subprocess.STDOUT,
            env=dict(os.environ, ARCHOPT_STUDY_ADMIN_TOKEN=ADMIN),
            preexec_fn=lambda: limit_file_size(96 * 1024))
    try:
        url = wait_for_url(log, process)
        statuses = []
        for i in range(200):
            reply = requests.post(f"{url}/api/register",
                                  json={"email": f"v{i}@lab.org", "consent": True}, timeout=10)
            statuses.append(reply.status_code)
            if reply.status_code != 200:
                break
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert statuses[0] == 200 and statuses[-1] in (503, 507), statuses
    error = reply.json()
    assert error["status"] == statuses[-1] and "disk" in error["error"], error
    assert "not recorded" in error["error"]
    assert "Traceback" not in log.read_text()  # expected, so logged as one line


def test_a_full_database_is_a_507(tmp_path):
    """SQLite's own "database or disk is full" (here: its page limit reached)."""
    conn = sqlite3.connect(tmp_path / "full.db")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.execute("PRAGMA max_page_count = 8")
    with pytest.raises(sqlite3.OperationalError) as error:
        for _ in range(100):
            conn.execute("INSERT INTO t VALUES (zeroblob(4000))")
    conn.close()
    refused = storage_refusal(error.value)
    assert refused is not None and refused.status == 507
    assert "disk is full" in refused.message and "not recorded" in refused.message


# --- `archopt study results --out` where it cannot write (item 8) ------------------------

def finished_db(tmp_path: Path, bundle: Path) -> Path:
    db = tmp_path / "study.db"
    loaded = load_bundle(bundle)
    store.initialize(db, loaded)
    with closing(store.connect(db)) as conn:
        volunteer, _ = store.register(conn, "ada@lab.org", loaded, random.Random(0))
        finish_test(conn, volunteer)
    return db


def test_results_into_a_path_under_a_file_is_an_error_naming_it(tmp_path, bundle, capsys):
    db = finished_db(tmp_path, bundle)
    (tmp_path / "taken").write_text("a file, not a folder")
    out = tmp_path / "taken" / "results.csv"
    assert main(["study", "results", "--db", str(db), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"cannot write {out}" in error and "Traceback" not in error, error


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_results_into_a_read_only_folder_is_an_error_naming_it(tmp_path, bundle, capsys):
    db = finished_db(tmp_path, bundle)
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert main(["study", "results", "--db", str(db), "--out",
                     str(folder / "results.csv")]) == 2
    finally:
        folder.chmod(0o755)
    assert "permission denied" in capsys.readouterr().err.lower()


# --- a bundle's training_per_class (item 12) ---------------------------------------------

@pytest.mark.parametrize("value", [-1, "3", 2.5, True, None])
def test_a_bundle_with_an_unusable_training_per_class_is_refused(tmp_path, value):
    folder = make_bundle(tmp_path / "bundle", networks=("pix2pix",), per_class=6)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["training_per_class"] = value
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"training_per_class .*a whole number of at least 0"):
        load_bundle(folder)
