"""The study server as users run it (`archopt study serve` on 127.0.0.1): concurrent
volunteers, a kill and restart in the middle of a test, and a volunteer taking the whole
test in headless Chromium (Debian's ``chromium`` driven by Playwright)."""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image
from test_perceptual import ADMIN, bearer, make_bundle

from archopt.perceptual.bundle import load_bundle

pytestmark = pytest.mark.slow

ARCHOPT = str(Path(sys.executable).with_name("archopt"))
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ADA_SEQUENCE = "SELECT image FROM trials WHERE volunteer_id = 1 ORDER BY position"


@contextmanager
def live_server(bundle: Path, db: Path, log: Path, *options: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`archopt study serve` on a free port; yields (base URL, process)."""
    with log.open("w") as handle:
        process = subprocess.Popen(
            [ARCHOPT, "study", "serve", "--bundle", str(bundle), "--db", str(db), "--port", "0",
             *options],
            stdout=handle, stderr=subprocess.STDOUT,
            env=dict(os.environ, ARCHOPT_STUDY_ADMIN_TOKEN=ADMIN),
        )
    try:
        yield wait_for_url(log, process), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_url(log: Path, process: subprocess.Popen, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"serving on (http://\S+/)", log.read_text())
        if match:
            return match.group(1).rstrip("/")
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text()}")
        time.sleep(0.1)
    raise TimeoutError(f"no 'serving on' line within {timeout} s: {log.read_text()}")


def answered(db: Path) -> list[tuple[int, int, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT volunteer_id, position, answer FROM trials WHERE answer IS "
                            "NOT NULL ORDER BY volunteer_id, position").fetchall()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """One server for this module: four networks of 25 + 25 images (the paper's test)."""
    root = tmp_path_factory.mktemp("live")
    bundle = make_bundle(root / "bundle")
    db = root / "study.db"
    with live_server(bundle, db, root / "server.log", "--register-limit", "100") as (url, _):
        yield url, db


def take_test(url: str, email: str, sent: dict[int, list[str]], seed: int) -> None:
    """One volunteer's whole test over HTTP; the first answer is sent twice at once, as a
    double click would, to check that it is counted once."""
    rng = np.random.default_rng(seed)
    with requests.Session() as session:
        reply = session.post(f"{url}/api/register", json={"email": email, "consent": True})
        reply.raise_for_status()
        volunteer, token = reply.json()["volunteer"], reply.json()["token"]
        session.headers.update(bearer(token))
        answers = []
        while "index" in (trial := session.get(f"{url}/api/trial").json()):
            assert session.get(url + trial["image_url"]).status_code == 200
            answer = str(rng.choice(["real", "fake"]))
            body = {"answer": answer, "index": trial["index"]}
            if trial["index"] == 1:
                statuses = post_twice_at_once(url, token, body)
                assert sorted(statuses) == [200, 409], statuses
            else:
                assert session.post(f"{url}/api/answer", json=body).status_code == 200
            answers.append(answer)
        sent[volunteer] = answers


def post_twice_at_once(url: str, token: str, body: dict) -> list[int]:
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def post() -> None:
        barrier.wait()
        statuses.append(requests.post(f"{url}/api/answer", json=body, headers=bearer(token),
                                      timeout=30).status_code)

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_twenty_concurrent_volunteers_lose_no_vote(server):
    url, db = server
    sent: dict[int, list[str]] = {}
    errors: list[Exception] = []

    def volunteer(i: int) -> None:
        try:
            take_test(url, f"volunteer{i}@lab.org", sent, seed=i)
        except Exception as error:  # reported below, in the main thread
            errors.append(error)

    threads = [threading.Thread(target=volunteer, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=240)
    assert not errors, errors[:3]
    assert len(sent) == 20
    stored: dict[int, list[str]] = {}
    for volunteer, _, answer in answered(db):
        stored.setdefault(volunteer, []).append(answer)
    assert stored == sent  # every vote, once, in order
    results = requests.get(f"{url}/api/results", headers=bearer(ADMIN)).json()["networks"]
    assert sorted(row["volunteers"] for row in results) == [5, 5, 5, 5]  # balanced
    assert sum(row["votes"] for row in results) == 20 * 20


def test_restart_in_the_middle_of_a_test_keeps_the_state(tmp_path):
    bundle = make_bundle(tmp_path / "bundle", networks=("pix2pix",), per_class=25)
    db = tmp_path / "study.db"
    with live_server(bundle, db, tmp_path / "first.log") as (url, process):
        token = requests.post(f"{url}/api/register",
                              json={"email": "ada@lab.org", "consent": True}).json()["token"]
        for _ in range(12):
            trial = requests.get(f"{url}/api/trial", headers=bearer(token)).json()
            requests.get(url + trial["image_url"], headers=bearer(token))
            requests.post(f"{url}/api/answer", json={"answer": "fake"}, headers=bearer(token))
        trial = requests.get(f"{url}/api/trial", headers=bearer(token)).json()
        assert requests.get(url + trial["image_url"], headers=bearer(token)).status_code == 200
        before = answered(db)
        with sqlite3.connect(db) as conn:
            sequence = conn.execute(ADA_SEQUENCE).fetchall()
        process.kill()  # no clean shutdown: committed votes must survive anyway
        process.wait()
    # The restarted server sits behind a (pretend) TLS reverse proxy on 127.0.0.1.
    with live_server(bundle, db, tmp_path / "second.log", "--trusted-proxy", "127.0.0.1") as (url, _):
        assert answered(db) == before and len(before) == 12
        resumed = requests.get(f"{url}/api/trial", headers=bearer(token)).json()
        # Trial 13's image was shown before the kill: the volunteer answers from memory.
        assert resumed["index"] == 13 and resumed["image_url"] is None
        reply = requests.post(f"{url}/api/answer", json={"answer": "real", "index": 13},
                              headers=bearer(token))
        assert reply.status_code == 200 and reply.json() == {}
        assert requests.get(f"{url}/api/trial", headers=bearer(token)).json()["index"] == 14
        duplicate = requests.post(f"{url}/api/register",
                                  json={"email": "ada@lab.org", "consent": True})
        assert duplicate.status_code == 409
        check_behind_proxy(url)
    with sqlite3.connect(db) as conn:
        assert conn.execute(ADA_SEQUENCE).fetchall() == sequence
    assert len(answered(db)) == 13


def check_behind_proxy(url: str) -> None:
    """The proxy's X-Forwarded-* headers decide the scheme (Secure cookies, the Origin check)."""
    proxied = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": "study.example.org"}
    assert "Secure" in requests.get(f"{url}/", headers=proxied).headers["Set-Cookie"]
    assert "Secure" not in requests.get(f"{url}/").headers["Set-Cookie"]
    body = {"email": "bob@lab.org", "consent": True}
    origin = {"Origin": "https://study.example.org"}
    assert requests.post(f"{url}/api/register", json=body, headers=origin).status_code == 403
    reply = requests.post(f"{url}/api/register", json=body, headers={**proxied, **origin})
    assert reply.status_code == 200, reply.text


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_a_volunteer_takes_the_test_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    url, db = server
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
                    if r.status >= 400 else None)
            # Fake timers: the server's real 1 s display and 1.5 s feedback, stepped by the test.
            page.clock.install(time=0)
            page.goto(url + "/")
            page.clock.pause_at(3_600_000)  # stays paused across navigations
            page.fill("input[name=email]", "browser@lab.org")
            page.check("input[name=consent]")
            page.click("#register button[type=submit]")
            token = page.inner_text("#token")
            assert len(token) >= 40
            page.click("#start")
            page.wait_for_url(url + "/test")
            watch_feedback(page)
            take_browser_test(page, db, tmp_path)
            page.reload()  # coming back after the end: nothing more to answer
            page.wait_for_selector("#done", state="visible")
            assert not problems, problems
        finally:
            browser.close()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT t.position, t.answer, t.response_ms FROM trials t JOIN volunteers v "
            "ON v.id = t.volunteer_id WHERE v.email = 'browser@lab.org' ORDER BY t.position"
        ).fetchall()
        assert conn.execute("SELECT finished_at IS NOT NULL FROM volunteers "
                            "WHERE email = 'browser@lab.org'").fetchone()[0] == 1
    assert [answer for _, answer, _ in rows] == [answer_for(i) for i in range(1, 51)]
    assert all(ms >= 0 for _, _, ms in rows)


def answer_for(index: int) -> str:
    return "real" if index % 3 else "fake"


def watch_feedback(page) -> None:
    """Record, in the page, each time the feedback becomes visible and for which trial."""
    page.evaluate("""() => {
        window.feedbackShown = [];
        const feedback = document.getElementById('feedback');
        new MutationObserver(() => {
            if (!feedback.hidden) window.feedbackShown.push(
                document.getElementById('progress').textContent);
        }).observe(feedback, {attributes: true, attributeFilter: ['hidden']});
    }""")


def take_browser_test(page, db: Path, tmp_path: Path) -> None:
    for index in range(1, 51):
        page.wait_for_selector("#stimulus", state="attached")
        progress = page.inner_text("#progress")
        assert progress.startswith(f"Image {index} of 50"), progress
        assert ("practice" in progress) == (index <= 10)
        if index == 1:
            check_screenshot(page, db, tmp_path / "trial1.png")
        if index == 15:  # reload while the image is shown: resume at the same trial,
            shown = page.evaluate("window.feedbackShown")  # and the image is not shown again
            assert len(shown) == 10 and all("practice" in text for text in shown), shown
            page.reload()
            page.wait_for_selector("#hint", state="visible")
            assert page.inner_text("#progress").startswith("Image 15 of 50")
            assert page.locator("#stimulus").count() == 0
            watch_feedback(page)
        else:
            page.clock.run_for(999)
            assert page.locator("#stimulus").count() == 1  # still visible just before 1 s
            page.clock.run_for(1)
            assert page.locator("#stimulus").count() == 0  # hidden at 1 s
        page.keyboard.press("r" if answer_for(index) == "real" else "f")
        if index <= 10:
            page.wait_for_selector("#feedback", state="visible")
            assert re.match(r"(Correct|Wrong): this map was (real|generated)\.",
                            page.inner_text("#feedback"))
            page.clock.run_for(1500)
    page.wait_for_selector("#done", state="visible")
    assert page.evaluate("window.feedbackShown") == []  # none after the reload at trial 15
    assert page.inner_text("#progress") == "Finished"


def check_screenshot(page, db: Path, path: Path) -> None:
    """The screenshot shows the served map where the image element is."""
    page.screenshot(path=str(path))
    box = page.locator("#stimulus").bounding_box()
    assert box is not None and (box["width"], box["height"]) == (256, 256)
    shot = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    region = shot[int(box["y"]):int(box["y"]) + 256, int(box["x"]):int(box["x"]) + 256]
    with sqlite3.connect(db) as conn:
        image_id = conn.execute(
            "SELECT t.image FROM trials t JOIN volunteers v ON v.id = t.volunteer_id "
            "WHERE v.email = 'browser@lab.org' AND t.position = 1").fetchone()[0]
    png = load_bundle(db.parent / "bundle").images[image_id]
    served = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    assert np.abs(region - served).mean() < 3, "the screenshot does not show the served map"
