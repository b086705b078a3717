"""Perceptual study: protocol, majority vote and error rate, bundle format, database and
every error path of the web API (Flask's test client against the real app and SQLite).

Live-server tests (concurrency, restart, headless Chromium) are in
test_perceptual_live.py; the Snakemake rule is in test_perceptual_workflow.py.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch

from archopt.cli import main as cli_main
from archopt.perceptual import store
from archopt.perceptual.build import images_per_class, select_pairs, write_bundle
from archopt.perceptual.bundle import BundleError, load_bundle
from archopt.perceptual.protocol import trial_sequence
from archopt.perceptual.results import (
    Vote,
    bootstrap_ci,
    majority_error_rate,
    network_results,
    results_csv,
    vote_counts,
)
from archopt.perceptual.security import RateLimiter, normalize_email
from archopt.perceptual.server import REFUSED_PER_ACCEPTED, ServerSettings, create_app

NETWORKS = ("pix2pix", "pix2pix-dsc", "pix2pix-shift", "pix2pix-shuffle")
ADMIN = "admin-token-for-the-tests-0123456789"


# --- helpers shared with the other perceptual test files --------------------------------

def random_map(generator: torch.Generator, size: int = 256) -> torch.Tensor:
    """A blocky colour image (compresses well, so the bundle stays small)."""
    blocks = torch.randint(0, 256, (3, size // 32, size // 32), dtype=torch.uint8,
                           generator=generator)
    return blocks.repeat_interleave(32, 1).repeat_interleave(32, 2)


def make_bundle(folder: Path, networks=NETWORKS, per_class: int = 25, seed: int = 0) -> Path:
    """A bundle in the real format with synthetic maps (no generator needed)."""
    generator = torch.Generator().manual_seed(seed)
    reals = [(f"{i}.jpg", random_map(generator)) for i in range(1, per_class + 1)]
    fakes = {
        model: [(f"{i}.jpg", random_map(generator))
                for i in range(per_class + 1, 2 * per_class + 1)]
        for model in networks
    }
    return write_bundle(folder, reals, fakes, {"seed": seed, "warning": None})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- protocol ---------------------------------------------------------------------------

@pytest.mark.parametrize("per_class", [25, 15, 6])
def test_trial_sequence_obeys_the_protocol_for_many_seeds(per_class):
    fakes = [f"fake/{i}" for i in range(per_class)]
    reals = [f"real/{i}" for i in range(per_class)]
    orders = set()
    for seed in range(300):
        trials = trial_sequence(fakes, reals, random.Random(seed))
        assert [t.position for t in trials] == list(range(1, 2 * per_class + 1))
        training, scored = trials[:10], trials[10:]
        assert all(t.training for t in training) and not any(t.training for t in scored)
        assert sum(t.kind == "fake" for t in training) == 5
        assert sum(t.kind == "fake" for t in scored) == per_class - 5
        assert sorted(t.image for t in trials) == sorted(fakes + reals)  # each image once
        assert all(t.image.startswith(t.kind) for t in trials)
        orders.add(tuple(t.image for t in trials))
    assert len(orders) == 300  # the order is random per volunteer


def test_trial_sequence_refuses_unusable_image_sets():
    with pytest.raises(ValueError, match="as many real as generated"):
        trial_sequence(["a"] * 7, ["b"] * 6, random.Random(0))
    with pytest.raises(ValueError, match="at least 6 images per class"):
        trial_sequence(["a"] * 5, ["b"] * 5, random.Random(0))


# --- majority vote, error rate, bootstrap ----------------------------------------------

def hand_votes() -> list[Vote]:
    """Network A: image x 2 real / 1 fake (judged real), y 1 / 1 (tie: not judged real),
    z 0 / 2 (fake), w 3 / 0 (real) -> error rate 2 / 4. Network B: one volunteer."""
    votes = [("A", 1, "x", "real"), ("A", 2, "x", "real"), ("A", 3, "x", "fake"),
             ("A", 1, "y", "real"), ("A", 2, "y", "fake"),
             ("A", 1, "z", "fake"), ("A", 3, "z", "fake"),
             ("A", 1, "w", "real"), ("A", 2, "w", "real"), ("A", 3, "w", "real"),
             ("B", 9, "x", "real"), ("B", 9, "y", "fake"), ("B", 9, "z", "fake")]
    return [Vote(volunteer, net, image, answer) for net, volunteer, image, answer in votes]


def test_majority_vote_error_rate_on_hand_built_votes():
    votes = [v for v in hand_votes() if v.network == "A"]
    real, fake = vote_counts(votes)
    assert real.shape == (3, 4)  # volunteers x images
    # images sorted: w, x, y, z
    assert real.sum(axis=0).tolist() == [3, 2, 1, 0]
    assert fake.sum(axis=0).tolist() == [0, 1, 1, 2]
    assert float(majority_error_rate(real.sum(axis=0), fake.sum(axis=0))) == 0.5
    results = {r.model: r for r in network_results(["A", "B", "C"], hand_votes(),
                                                   {"A": 3, "B": 1})}
    a, b, c = results["A"], results["B"], results["C"]
    assert (a.volunteers, a.images, a.error_rate, a.votes) == (3, 4, 0.5, 10)
    assert a.vote_error_rate == pytest.approx(6 / 10)
    assert a.ci95_low <= a.error_rate <= a.ci95_high
    assert (b.error_rate, b.ci95_low, b.ci95_high) == (pytest.approx(1 / 3),) * 3  # one person
    assert (c.volunteers, c.error_rate, c.ci95_low) == (0, None, None)


def test_images_without_votes_are_left_out_of_the_rate():
    assert float(majority_error_rate(np.array([1, 0, 0]), np.array([0, 0, 1]))) == 0.5
    assert np.isnan(majority_error_rate(np.array([0, 0]), np.array([0, 0])))


def test_bootstrap_resamples_volunteers():
    # 10 volunteers: 5 call every image real, 5 call every image fake: the resampled
    # majority swings between 0 and 1 and the CI covers nearly all of it.
    real = np.array([[1] * 20] * 5 + [[0] * 20] * 5)
    low, high = bootstrap_ci(real, 1 - real, samples=2000, seed=0)
    assert low == 0.0 and high == 1.0
    # Unanimous volunteers: no uncertainty from resampling them.
    assert bootstrap_ci(np.ones((8, 20), int), np.zeros((8, 20), int)) == (1.0, 1.0)
    assert bootstrap_ci(real, 1 - real, seed=3) == bootstrap_ci(real, 1 - real, seed=3)


def test_results_csv_keeps_networks_with_finished_tests():
    rows = list(csv.DictReader(results_csv(network_results(
        ["A", "B", "C"], hand_votes(), {"A": 3, "B": 1})).splitlines()))
    assert [r["model"] for r in rows] == ["A", "B"]
    assert set(rows[0]) >= {"model", "volunteers", "images", "error_rate", "ci95_low",
                            "ci95_high"}
    assert float(rows[0]["error_rate"]) == 0.5 and rows[0]["volunteers"] == "3"


# --- bundle -----------------------------------------------------------------------------

def test_bundle_size_and_disjoint_seeded_pairs():
    assert images_per_class(1098, 25) == (25, None)
    per_class, warning = images_per_class(30, 25)
    assert per_class == 15 and "30 pairs" in warning and "study.images_per_class" in warning
    with pytest.raises(ValueError, match="at least 2"):
        images_per_class(1, 25)
    fakes, reals = select_pairs(30, 15, seed=0)
    assert len(fakes) == len(reals) == 15 and not set(fakes) & set(reals)
    assert (fakes, reals) == select_pairs(30, 15, seed=0) != select_pairs(30, 15, seed=1)


def test_bundle_round_trip(tmp_path):
    folder = make_bundle(tmp_path / "bundle", networks=("pix2pix", "pix2pix-dsc"), per_class=7)
    bundle = load_bundle(folder)
    assert list(bundle.networks) == ["pix2pix", "pix2pix-dsc"]
    assert bundle.images_per_class == 7 and bundle.trials == 14
    assert len(bundle.images) == 7 * 3
    assert all(data.startswith(b"\x89PNG") for data in bundle.images.values())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert bundle.fingerprint == hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    assert manifest["training_per_class"] == 5 and manifest["images_per_class"] == 7


def corrupt(folder: Path, change) -> None:
    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("change, message", [
    (lambda m: m["real"][0].update(file="../../etc/passwd"), "outside the bundle"),
    (lambda m: m["real"][0].update(file="real/missing.png"), "cannot read the image"),
    (lambda m: m["real"][0].update(file="manifest.json"), "not a PNG"),
    (lambda m: m["networks"][0]["fake"].pop(), "expected 6"),
    (lambda m: m.update(real=m["real"][:5]), "needs at least 6"),
    (lambda m: m.update(networks=[]), "no networks"),
    (lambda m: m.pop("real"), "malformed manifest"),
    (lambda m: m.update(format=99), "format 99"),
    (lambda m: m["networks"][0]["fake"][0].update(id="real/1"), "appears twice"),
])
def test_bad_bundles_are_refused_with_the_reason(tmp_path, change, message):
    folder = make_bundle(tmp_path / "bundle", networks=("pix2pix",), per_class=6)
    corrupt(folder, change)
    with pytest.raises(BundleError, match=message):
        load_bundle(folder)


def test_missing_or_unreadable_manifest(tmp_path):
    with pytest.raises(BundleError, match="manifest.json not found.*results/study/bundle"):
        load_bundle(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not a readable JSON"):
        load_bundle(tmp_path)


# --- database ---------------------------------------------------------------------------

def test_assignment_keeps_finished_tests_per_network_balanced(tmp_path):
    bundle = load_bundle(make_bundle(tmp_path / "bundle", per_class=6))
    db = tmp_path / "study.db"
    store.initialize(db, bundle)
    conn = store.connect(db)
    ids = [store.register(conn, f"v{i}@lab.org", bundle, random.Random(i))[0] for i in range(8)]
    assigned = [conn.execute("SELECT network FROM volunteers WHERE id = ?", (i,)).fetchone()[0]
                for i in ids]
    assert sorted(assigned) == sorted(NETWORKS * 2)  # simultaneous starts spread out
    # pix2pix-dsc's two volunteers finish: it now has the most finished tests, so the
    # next volunteers go to the other networks first.
    for volunteer in [i for i, net in zip(ids, assigned) if net == "pix2pix-dsc"]:
        finish_test(conn, volunteer)
    nxt = [store.register(conn, f"late{i}@lab.org", bundle, random.Random(i))[0]
           for i in range(3)]
    late = {conn.execute("SELECT network FROM volunteers WHERE id = ?", (i,)).fetchone()[0]
            for i in nxt}
    assert late == {"pix2pix", "pix2pix-shift", "pix2pix-shuffle"}


def test_assignment_counts_tests_in_progress_until_they_are_abandoned(tmp_path):
    bundle = load_bundle(make_bundle(tmp_path / "bundle", networks=NETWORKS[:2], per_class=6))
    db = tmp_path / "study.db"
    store.initialize(db, bundle)
    conn = store.connect(db)
    networks = list(bundle.networks)

    def assign(email: str) -> tuple[int, str]:
        volunteer, _ = store.register(conn, email, bundle, random.Random(0))
        return volunteer, conn.execute("SELECT network FROM volunteers WHERE id = ?",
                                       (volunteer,)).fetchone()[0]

    first, _ = assign("first@lab.org")
    finish_test(conn, first)  # pix2pix: 1 finished
    assigned = [assign(f"v{i}@lab.org") for i in range(3)]
    assert [network for _, network in assigned] == ["pix2pix-dsc", "pix2pix-dsc", "pix2pix"]
    # 1 finished + 1 in progress against 2 in progress: the tie goes to fewer finished.
    assert store.choose_network(conn, networks) == "pix2pix-dsc"
    # pix2pix's test in progress has been quiet for over an hour: abandoned, not counted.
    conn.execute("UPDATE volunteers SET consent_at = strftime('%Y-%m-%dT%H:%M:%S+00:00', "
                 "'now', '-61 minutes') WHERE email = 'v2@lab.org'")
    assert store.choose_network(conn, networks) == "pix2pix"
    # The volunteer comes back (an image is shown): the test counts again.
    late, _ = assigned[2]
    store.take_image(conn, late, store.current_trial(conn, late).nonce)
    assert store.choose_network(conn, networks) == "pix2pix-dsc"


def finish_test(conn: sqlite3.Connection, volunteer: int, answer: str = "real") -> None:
    while (trial := store.current_trial(conn, volunteer)) is not None:
        store.take_image(conn, volunteer, trial.nonce)
        store.record_answer(conn, volunteer, answer, trial.position)


def test_database_is_tied_to_its_bundle(tmp_path):
    first = load_bundle(make_bundle(tmp_path / "a", per_class=6, seed=0))
    other = load_bundle(make_bundle(tmp_path / "b", per_class=6, seed=1))
    db = tmp_path / "study.db"
    store.initialize(db, first)
    store.initialize(db, other)  # no volunteer yet: switching bundles is harmless
    store.register(store.connect(db), "a@lab.org", other, random.Random(0))
    with pytest.raises(store.DatabaseError, match="another bundle.*new --db"):
        store.initialize(db, first)
    (tmp_path / "text.db").write_text("not a database " * 100)
    with pytest.raises(store.DatabaseError, match="text.db"):
        store.initialize(tmp_path / "text.db", first)


def test_schema_wal_mode_and_hashed_tokens(tmp_path):
    bundle = load_bundle(make_bundle(tmp_path / "bundle", per_class=6))
    db = tmp_path / "study.db"
    store.initialize(db, bundle)
    conn = store.connect(db)
    _, token = store.register(conn, "someone@lab.org", bundle, random.Random(0))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    dump = "\n".join(conn.iterdump())
    assert token not in dump and hashlib.sha256(token.encode()).hexdigest() in dump


# --- input checks -----------------------------------------------------------------------

def test_email_validation_and_normalization():
    assert normalize_email("  Ada.Lovelace+maps@Example.ORG ") == "ada.lovelace+maps@example.org"
    for bad in ["", "no-at-sign", "a@b", "a b@c.org", "a@-b.org", "x" * 250 + "@a.org", 42,
                None, "a@b.org\n<script>"]:
        with pytest.raises(ValueError):
            normalize_email(bad)


def test_rate_limiter_sliding_window():
    limiter = RateLimiter(limit=2, window_s=60)
    assert limiter.retry_after("1.2.3.4", now=0) == 0 and limiter.retry_after("1.2.3.4", now=1) == 0
    assert limiter.retry_after("1.2.3.4", now=2) == pytest.approx(58)
    assert limiter.retry_after("5.6.7.8", now=2) == 0  # per address
    assert limiter.retry_after("1.2.3.4", now=60.5) == 0  # the first event left the window


def test_rate_limiter_slots_can_be_given_back():
    limiter = RateLimiter(limit=2, window_s=60)
    first, second = limiter.take("a", now=0), limiter.take("a", now=1)
    assert (first, second) == (0, 1) and limiter.take("a", now=2) is None
    assert limiter.wait("a", now=2) == pytest.approx(58)
    limiter.release("a", second)  # that event turned out not to count
    assert limiter.wait("a", now=2) == 0 and limiter.take("a", now=2) == 2
    limiter.release("b", 5.0)  # unknown key or stamp: nothing to forget


# --- the web app: every error path -----------------------------------------------------

@pytest.fixture
def bundle_dir(tmp_path) -> Path:
    return make_bundle(tmp_path / "bundle", networks=("pix2pix", "pix2pix-shift"), per_class=6)


@pytest.fixture
def app(tmp_path, bundle_dir):
    return create_app(ServerSettings(bundle=bundle_dir, db=tmp_path / "study.db",
                                     admin_token=ADMIN, register_limit=50))


@pytest.fixture
def client(app):
    return app.test_client()


def register(client, email="ada@lab.org") -> str:
    response = client.post("/api/register", json={"email": email, "consent": True})
    assert response.status_code == 200, response.json
    return response.json["token"]


def show(client, token) -> dict:
    """GET the current trial and fetch its image; returns the trial."""
    trial = client.get("/api/trial", headers=bearer(token)).json
    assert client.get(trial["image_url"], headers=bearer(token)).status_code == 200
    return trial


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.is_json and fragment in response.json["error"], response.json


def test_registration_errors(client):
    register(client, "ada@lab.org")
    assert_error(client.post("/api/register", json={"email": "ADA@lab.org ", "consent": True}),
                 409, "already registered")
    assert_error(client.post("/api/register", json={"email": "nope", "consent": True}),
                 400, "not a valid e-mail")
    assert_error(client.post("/api/register", json={"email": ["a@b.org"], "consent": True}),
                 400, "email must be a string")
    assert_error(client.post("/api/register", json={"email": "bob@lab.org"}),
                 400, "consent is required")
    assert_error(client.post("/api/register", json={"email": "bob@lab.org", "consent": "yes"}),
                 400, "consent is required")
    assert_error(client.post("/api/register", data="email=bob@lab.org"), 415, "JSON")
    assert_error(client.post("/api/register", data="[1, 2]", content_type="application/json"),
                 400, "JSON object")
    assert_error(client.post("/api/register", data="{bad", content_type="application/json"),
                 400, "JSON object")
    assert_error(client.post("/api/register", json={"email": "eve@lab.org", "consent": True},
                             headers={"Origin": "https://evil.example"}), 403, "cross-site")
    assert_error(client.post("/api/register", data="x" * 20_000,
                             content_type="application/json"), 413, "")


def test_registration_rate_limit(tmp_path, bundle_dir):
    app = create_app(ServerSettings(bundle=bundle_dir, db=tmp_path / "limited.db",
                                    register_limit=3))
    client = app.test_client()
    for i in range(3):
        register(client, f"v{i}@lab.org")
    response = client.post("/api/register", json={"email": "v9@lab.org", "consent": True})
    assert_error(response, 429, "too many registrations")
    assert int(response.headers["Retry-After"]) > 0


def test_refused_registration_attempts_have_their_own_limit(tmp_path, bundle_dir):
    app = create_app(ServerSettings(bundle=bundle_dir, db=tmp_path / "limited.db",
                                    register_limit=2))
    client = app.test_client()
    register(client, "ada@lab.org")
    for i in range(2 * REFUSED_PER_ACCEPTED):  # 6 refused attempts per allowed registration
        email, status = ("ada@lab.org", 409) if i % 2 else ("not-an-email", 400)
        response = client.post("/api/register", json={"email": email, "consent": True})
        assert response.status_code == status, response.json
    response = client.post("/api/register", json={"email": "bob@lab.org", "consent": True})
    assert_error(response, 429, "too many refused registration attempts")
    assert int(response.headers["Retry-After"]) > 0


def test_authentication_errors(client):
    assert_error(client.get("/api/trial"), 401, "missing volunteer token")
    assert_error(client.get("/api/trial", headers=bearer("x" * 43)), 401, "unknown volunteer token")
    assert_error(client.get("/api/trial", headers={"Authorization": "Basic abc"}), 401, "Bearer")
    assert_error(client.get("/api/trial", headers=bearer(ADMIN)), 401, "unknown volunteer token")
    assert_error(client.post("/api/answer", json={"answer": "real"}), 401, "missing")


def test_image_urls_serve_once_for_the_current_trial_only(client):
    ada, bob = register(client, "ada@lab.org"), register(client, "bob@lab.org")
    first = client.get("/api/trial", headers=bearer(ada)).json
    assert first["index"] == 1 and first["of"] == 12 and first["training"] is True
    # Another volunteer cannot use Ada's image URL.
    assert_error(client.get(first["image_url"], headers=bearer(bob)), 404, "serves once")
    # Asking for the trial again replaces the URL: the old one is dead.
    again = client.get("/api/trial", headers=bearer(ada)).json
    assert again["image_url"] != first["image_url"]
    assert_error(client.get(first["image_url"], headers=bearer(ada)), 404, "serves once")
    image = client.get(again["image_url"], headers=bearer(ada))
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data.startswith(b"\x89PNG") and image.headers["Cache-Control"] == "no-store"
    assert_error(client.get(again["image_url"], headers=bearer(ada)), 404, "serves once")
    # Reloading after the image was served does not show it again.
    assert client.get("/api/trial", headers=bearer(ada)).json["image_url"] is None
    client.post("/api/answer", json={"answer": "real", "index": 1}, headers=bearer(ada))
    show(client, ada)
    # The image of another (earlier) trial is gone for good.
    assert_error(client.get(again["image_url"], headers=bearer(ada)), 404, "serves once")
    assert_error(client.get("/api/image/..%2f..%2fmanifest.json", headers=bearer(ada)), 404, "")
    assert_error(client.get("/api/image/" + "a" * 43), 401, "missing")


def test_answer_errors_and_feedback_only_in_training(client):
    token = register(client)
    headers = bearer(token)
    client.get("/api/trial", headers=headers)
    assert_error(client.post("/api/answer", json={"answer": "real"}, headers=headers),
                 409, "has not been shown yet")
    show(client, token)
    for bad in ["REAL", "maybe", None, 1, ["real"]]:
        assert_error(client.post("/api/answer", json={"answer": bad}, headers=headers),
                     400, "answer must be one of")
    for bad in ["1", 1.0, True]:
        assert_error(client.post("/api/answer", json={"answer": "real", "index": bad},
                                 headers=headers), 400, "index must be an integer")
    assert_error(client.post("/api/answer", json={"answer": "real", "index": 5},
                             headers=headers), 409, "current trial is 1")
    first = client.post("/api/answer", json={"answer": "real", "index": 1}, headers=headers)
    assert first.status_code == 200 and isinstance(first.json["correct"], bool)
    assert_error(client.post("/api/answer", json={"answer": "real", "index": 1},
                             headers=headers), 409, "current trial is 2")
    replies = []
    for _ in range(11):  # trials 2..12
        trial = show(client, token)
        reply = client.post("/api/answer", json={"answer": "fake", "index": trial["index"]},
                            headers=headers)
        replies.append((trial["training"], reply.json))
    assert [training for training, _ in replies] == [True] * 9 + [False] * 2
    assert all(set(body) == {"correct"} for training, body in replies if training)
    assert all(body == {} for training, body in replies if not training)
    assert client.get("/api/trial", headers=headers).json == {"done": True}
    assert_error(client.post("/api/answer", json={"answer": "real"}, headers=headers),
                 409, "already finished")


def test_admin_endpoint(tmp_path, bundle_dir, client):
    volunteer = register(client)
    assert_error(client.get("/api/results"), 401, "admin token required")
    assert_error(client.get("/api/results", headers=bearer(volunteer)), 401, "admin token")
    assert_error(client.get("/api/results", headers=bearer(ADMIN + "x")), 401, "admin token")
    results = client.get("/api/results", headers=bearer(ADMIN))
    assert results.status_code == 200
    rows = {row["model"]: row for row in results.json["networks"]}
    assert sum(row["in_progress"] for row in rows.values()) == 1
    assert results.json["trials_per_test"] == 12
    closed = create_app(ServerSettings(bundle=bundle_dir, db=tmp_path / "other.db")).test_client()
    assert_error(closed.get("/api/results", headers=bearer(ADMIN)), 403, "disabled")
    with pytest.raises(ValueError, match="at least 16 characters"):
        ServerSettings(bundle=bundle_dir, db=tmp_path / "x.db", admin_token="short")
    # Tokens that no Authorization header can carry are refused, without echoing them.
    for unusable, reason in [(ADMIN + "\n", "whitespace"), ("\t" + ADMIN, "whitespace"),
                             (ADMIN + "\u00e9", "printable ASCII"), (ADMIN + "\x00", "ASCII")]:
        with pytest.raises(ValueError, match=reason) as refused:
            ServerSettings(bundle=bundle_dir, db=tmp_path / "x.db", admin_token=unusable)
        assert ADMIN not in str(refused.value)


def test_unknown_routes_and_methods_get_json_errors(client):
    assert_error(client.get("/api/nothing"), 404, "")
    assert_error(client.delete("/api/trial"), 405, "")
    assert client.get("/static/../server.py").status_code == 404
    assert client.get("/static/study.js").status_code == 200


def test_browser_forms_cookies_and_csrf(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    form_cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in form_cookie and "SameSite=Strict" in form_cookie
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"email": "ada@lab.org", "consent": "yes"}
    assert client.post("/register", data=form).status_code == 403  # no form token
    assert client.post("/register", data={**form, "csrf": "0" * 64}).status_code == 403
    assert client.post("/register", data={**form, "csrf": csrf},
                       headers={"Origin": "http://evil.example"}).status_code == 403
    no_consent = client.post("/register", data={"email": "ada@lab.org", "csrf": csrf})
    assert no_consent.status_code == 400 and "consent is required" in no_consent.text
    done = client.post("/register", data={**form, "csrf": csrf})
    assert done.status_code == 200
    cookie = done.headers["Set-Cookie"]
    assert cookie.startswith("archopt_study=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = done.text.split('<code id="token">')[1].split("<")[0]
    assert client.post("/register", data={**form, "csrf": csrf}).status_code == 409
    test_page = client.get("/test")
    page_csrf = test_page.text.split('data-csrf="')[1].split('"')[0]
    trial = client.get("/api/trial").json  # the cookie authenticates
    assert client.get(trial["image_url"]).status_code == 200
    assert_error(client.post("/api/answer", json={"answer": "real"}), 403, "X-CSRF-Token")
    ok = client.post("/api/answer", json={"answer": "real"}, headers={"X-CSRF-Token": page_csrf})
    assert ok.status_code == 200
    # A Bearer token needs no CSRF header: browsers never attach it on their own.
    assert client.get("/api/trial", headers=bearer(token)).json["index"] == 2
    # Resume in a fresh browser with the token.
    other = client.application.test_client()
    other.get("/")
    other_csrf = other.get("/").text.split('name="csrf" value="')[1].split('"')[0]
    assert other.post("/resume", data={"token": "x" * 43, "csrf": other_csrf}).status_code == 401
    resumed = other.post("/resume", data={"token": token, "csrf": other_csrf})
    assert resumed.status_code == 303 and resumed.headers["Location"].endswith("/test")
    assert other.get("/api/trial").json["index"] == 2


def test_never_a_500_on_malformed_requests(client):
    token = register(client)
    attempts = [
        client.post("/api/answer", data=b"\xff\xfe", content_type="application/json",
                    headers=bearer(token)),
        client.post("/api/answer", json={"answer": "real", "index": 10**30},
                    headers=bearer(token)),
        client.get("/api/trial", headers={"Authorization": "Bearer " + "\u00e9" * 50}),
        client.get("/api/image/%00", headers=bearer(token)),
        client.post("/register", data={"email": "\x00"}),
        client.post("/resume", data={}),
    ]
    client.set_cookie("archopt_study", "garbage")
    attempts.append(client.get("/test"))
    assert all(400 <= r.status_code < 500 for r in attempts), [r.status_code for r in attempts]


# --- results from the database (archopt study results) ---------------------------------

def test_results_command_writes_the_csv_the_report_reads(tmp_path, app, client, capsys):
    # Two volunteers per network; on pix2pix every scored generated map is called real.
    answers = {"pix2pix": "real", "pix2pix-shift": "fake"}
    for i in range(4):
        token = register(client, f"v{i}@lab.org")
        network = store.volunteer_for_token(store.connect(tmp_path / "study.db"), token).network
        while "index" in (trial := client.get("/api/trial", headers=bearer(token)).json):
            client.get(trial["image_url"], headers=bearer(token))
            client.post("/api/answer", json={"answer": answers[network]}, headers=bearer(token))
    register(client, "unfinished@lab.org")  # started, not finished: not counted
    out = tmp_path / "results" / "study" / "results.csv"
    code = cli_main(["study", "results", "--db", str(tmp_path / "study.db"), "--out", str(out)])
    assert code == 0
    rows = {r["model"]: r for r in csv.DictReader(out.open())}
    assert float(rows["pix2pix"]["error_rate"]) == 1.0
    assert float(rows["pix2pix-shift"]["error_rate"]) == 0.0
    # 6 generated maps per network, 5 of them in training trials: one scored vote each.
    assert rows["pix2pix"]["volunteers"] == "2" and rows["pix2pix"]["votes"] == "2"
    assert rows["pix2pix"]["images"] in ("1", "2")
    assert "pix2pix-shift" in capsys.readouterr().out
    from archopt.report.sources import read_study_results  # the report's reader (Table 13)

    assert sorted(read_study_results(out)["model"]) == ["pix2pix", "pix2pix-shift"]


def test_results_command_errors(tmp_path, capsys):
    assert cli_main(["study", "results", "--db", str(tmp_path / "none.db")]) == 2
    assert "none.db: no such study database" in capsys.readouterr().err
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    assert cli_main(["study", "results", "--db", str(other)]) == 2
    assert "not an archopt study database" in capsys.readouterr().err


def test_serve_command_refuses_a_missing_bundle(tmp_path, capsys):
    code = cli_main(["study", "serve", "--bundle", str(tmp_path / "none"), "--db",
                     str(tmp_path / "db")])
    assert code == 2 and "manifest.json not found" in capsys.readouterr().err


def test_serve_command_default_request_timeout_is_the_servers():
    from archopt.commands.study import DEFAULT_REQUEST_TIMEOUT_S
    from archopt.perceptual.serving import REQUEST_TIMEOUT_S

    assert DEFAULT_REQUEST_TIMEOUT_S == REQUEST_TIMEOUT_S  # study.py cannot import it lazily
