"""Volunteers, trials and votes in SQLite.

One database belongs to one bundle. It is created on first start (WAL mode, so the
results can be read while the server writes); every write runs in a ``BEGIN IMMEDIATE``
transaction, so concurrent requests are serialized by SQLite and an answer is recorded
exactly once. Tokens and image URL nonces are stored as SHA-256 hashes only. Every
query is parametrized.
"""

from __future__ import annotations

import json
import random
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from archopt.perceptual.bundle import Bundle
from archopt.perceptual.protocol import trial_sequence
from archopt.perceptual.results import BOOTSTRAP_SAMPLES, NetworkResult, Vote, network_results
from archopt.perceptual.security import new_token, token_hash

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE volunteers (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    network TEXT NOT NULL,
    consent_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE trials (
    volunteer_id INTEGER NOT NULL REFERENCES volunteers(id),
    position INTEGER NOT NULL CHECK (position >= 1),
    image TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('real', 'fake')),
    training INTEGER NOT NULL CHECK (training IN (0, 1)),
    nonce_hash TEXT UNIQUE,
    served_at REAL,
    answer TEXT CHECK (answer IN ('real', 'fake')),
    answered_at REAL,
    response_ms INTEGER,
    PRIMARY KEY (volunteer_id, position)
);
"""


class StudyError(Exception):
    """A refused request: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class DatabaseError(ValueError):
    """The database file cannot be used (another bundle, not a study database...)."""


@dataclass(frozen=True)
class Volunteer:
    id: int
    network: str
    token_hash: str
    finished: bool


@dataclass(frozen=True)
class CurrentTrial:
    position: int
    of: int
    training: bool
    nonce: str | None  # a fresh single-use image nonce; None once the image was served


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def connect(path: str | Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), rows as mappings."""
    if readonly:
        if not Path(path).is_file():
            raise DatabaseError(f"{path}: no such study database")
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True,
                               isolation_level=None, timeout=10)
    else:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")  # a recorded vote survives a power cut
    conn.execute("PRAGMA foreign_keys = ON")
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE``: take the write lock up front so check-then-write is atomic."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else row["value"]


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def check_schema(conn: sqlite3.Connection, path: str | Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        raise DatabaseError(f"{path}: not an archopt study database (schema version {version}, "
                            f"expected {SCHEMA_VERSION})")


def initialize(path: str | Path, bundle: Bundle) -> str:
    """Create the schema on first start and tie the database to ``bundle``; returns the
    server secret (kept in the database so form tokens stay valid across restarts)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        with closing(connect(path)) as conn, transaction(conn):
            if conn.execute("PRAGMA user_version").fetchone()[0] == 0 and not _tables(conn):
                # One statement at a time: executescript() would commit the transaction.
                for statement in filter(str.strip, SCHEMA.split(";")):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                _set_meta(conn, "secret", secrets.token_hex(32))
            check_schema(conn, path)
            _attach_bundle(conn, path, bundle)
            return _meta(conn, "secret") or ""
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{path}: cannot be used as the study database ({error})") from None


def _tables(conn: sqlite3.Connection) -> list[str]:
    return [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]


def _attach_bundle(conn: sqlite3.Connection, path: str | Path, bundle: Bundle) -> None:
    known = _meta(conn, "bundle")
    volunteers = conn.execute("SELECT COUNT(*) FROM volunteers").fetchone()[0]
    if known not in (None, bundle.fingerprint) and volunteers:
        raise DatabaseError(
            f"{path} holds {volunteers} volunteer(s) of another bundle (manifest SHA-256 "
            f"{known[:12]}..., {bundle.folder} is {bundle.fingerprint[:12]}...): votes cannot "
            "be mixed across bundles; use a new --db for this bundle")
    _set_meta(conn, "bundle", bundle.fingerprint)
    _set_meta(conn, "networks", json.dumps(list(bundle.networks)))


# A test in progress with no activity (registration, image shown, answer) for this long
# counts as abandoned, so its network is open to the next volunteer again. A whole test
# takes a few minutes; an hour of silence means the volunteer left.
ABANDONED_AFTER_S = 3600
# Per network: finished tests, and tests in progress with activity since the cutoff (?).
ASSIGNMENT_COUNTS = """
SELECT network, SUM(finished_at IS NOT NULL) AS finished,
       SUM(finished_at IS NULL AND last_seen >= ?) AS active
FROM (SELECT v.network, v.finished_at,
             CASE WHEN v.finished_at IS NULL THEN MAX(
                 CAST(strftime('%s', v.consent_at) AS REAL),
                 COALESCE((SELECT MAX(COALESCE(t.answered_at, t.served_at)) FROM trials AS t
                           WHERE t.volunteer_id = v.id), 0)) END AS last_seen
      FROM volunteers AS v)
GROUP BY network
"""


def choose_network(
    conn: sqlite3.Connection, networks: list[str], now: float | None = None
) -> str:
    """The network with the fewest tests that count: finished ones plus those in progress
    (not abandoned). Counting tests in progress is what spreads a burst of simultaneous
    registrations: by finished tests alone, every one of them goes to the network that
    is one finished test behind. Ties go to the fewest finished tests (a test in progress
    may still be abandoned), then to the bundle's order. Run it in the registration's
    ``BEGIN IMMEDIATE`` transaction, so each registration sees the ones before it."""
    now = time.time() if now is None else now
    counts = {row["network"]: (row["finished"] + row["active"], row["finished"])
              for row in conn.execute(ASSIGNMENT_COUNTS, (now - ABANDONED_AFTER_S,))}
    return min(networks, key=lambda n: (*counts.get(n, (0, 0)), networks.index(n)))


def register(
    conn: sqlite3.Connection, email: str, bundle: Bundle, rng: random.Random
) -> tuple[int, str]:
    """A new volunteer with their own trial sequence; returns (id, token). 409 when the
    (normalized) e-mail address already took part."""
    token = new_token()
    with transaction(conn):
        if conn.execute("SELECT 1 FROM volunteers WHERE email = ?", (email,)).fetchone():
            raise StudyError(409, f"{email} is already registered: each volunteer takes one "
                             "test; use your token to resume it")
        network = choose_network(conn, list(bundle.networks))
        cursor = conn.execute(
            "INSERT INTO volunteers (email, token_hash, network, consent_at) VALUES (?, ?, ?, ?)",
            (email, token_hash(token), network, now_iso()))
        volunteer = cursor.lastrowid
        trials = trial_sequence(bundle.networks[network], bundle.reals, rng,
                                bundle.training_per_class)
        conn.executemany(
            "INSERT INTO trials (volunteer_id, position, image, kind, training) "
            "VALUES (?, ?, ?, ?, ?)",
            [(volunteer, t.position, t.image, t.kind, int(t.training)) for t in trials])
    return volunteer, token


def volunteer_for_token(conn: sqlite3.Connection, token: str) -> Volunteer | None:
    row = conn.execute(
        "SELECT id, network, token_hash, finished_at FROM volunteers WHERE token_hash = ?",
        (token_hash(token),)).fetchone()
    if row is None:
        return None
    return Volunteer(row["id"], row["network"], row["token_hash"], row["finished_at"] is not None)


def _current(conn: sqlite3.Connection, volunteer_id: int) -> sqlite3.Row | None:
    return conn.execute(
        "SELECT position, training, kind, served_at, "
        "(SELECT COUNT(*) FROM trials WHERE volunteer_id = ?) AS total "
        "FROM trials WHERE volunteer_id = ? AND answer IS NULL ORDER BY position LIMIT 1",
        (volunteer_id, volunteer_id)).fetchone()


def current_trial(conn: sqlite3.Connection, volunteer_id: int) -> CurrentTrial | None:
    """The first unanswered trial (None when the test is finished). While its image has
    not been served, each call replaces the image nonce, so only the newest URL works."""
    with transaction(conn):
        row = _current(conn, volunteer_id)
        if row is None:
            return None
        nonce = None
        if row["served_at"] is None:
            nonce = new_token()
            conn.execute(
                "UPDATE trials SET nonce_hash = ? WHERE volunteer_id = ? AND position = ?",
                (token_hash(nonce), volunteer_id, row["position"]))
        return CurrentTrial(row["position"], row["total"], bool(row["training"]), nonce)


def take_image(conn: sqlite3.Connection, volunteer_id: int, nonce: str) -> str:
    """The image id of the current trial if ``nonce`` is its live nonce; marks it served
    (the nonce dies, the answer clock starts). 404 for anything else."""
    with transaction(conn):
        row = conn.execute(
            "SELECT position, image FROM trials WHERE volunteer_id = ? AND nonce_hash = ? "
            "AND served_at IS NULL AND answer IS NULL", (volunteer_id, token_hash(nonce))
        ).fetchone()
        if row is None:
            raise StudyError(404, "no image here: an image URL serves once, for the current "
                             "trial of the volunteer it was issued to")
        conn.execute(
            "UPDATE trials SET served_at = ?, nonce_hash = NULL "
            "WHERE volunteer_id = ? AND position = ?",
            (time.time(), volunteer_id, row["position"]))
        return row["image"]


def record_answer(
    conn: sqlite3.Connection, volunteer_id: int, answer: str, index: int | None
) -> tuple[bool, bool]:
    """Record ``answer`` for the current trial; returns (training, correct). ``index``, when
    given, must be the current trial's position (a repeated or stale answer gets 409)."""
    with transaction(conn):
        row = _current(conn, volunteer_id)
        if row is None:
            raise StudyError(409, "the test is already finished")
        if index is not None and index != row["position"]:
            raise StudyError(409, f"answer for trial {index}, but the current trial is "
                             f"{row['position']}")
        if row["served_at"] is None:
            raise StudyError(409, f"the image of trial {row['position']} has not been shown "
                             "yet: fetch its image_url first")
        answered = time.time()
        conn.execute(
            "UPDATE trials SET answer = ?, answered_at = ?, response_ms = ? "
            "WHERE volunteer_id = ? AND position = ? AND answer IS NULL",
            (answer, answered, round((answered - row["served_at"]) * 1000), volunteer_id,
             row["position"]))
        if row["position"] == row["total"]:
            conn.execute("UPDATE volunteers SET finished_at = ? WHERE id = ?",
                         (now_iso(), volunteer_id))
        return bool(row["training"]), answer == row["kind"]


def progress(conn: sqlite3.Connection) -> dict[str, dict[str, int]]:
    """Per network: finished tests and tests in progress."""
    rows = conn.execute(
        "SELECT network, SUM(finished_at IS NOT NULL) AS finished, "
        "SUM(finished_at IS NULL) AS in_progress FROM volunteers GROUP BY network")
    return {row["network"]: {"finished": row["finished"], "in_progress": row["in_progress"]}
            for row in rows}


def study_results(
    conn: sqlite3.Connection, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[NetworkResult]:
    """Perceptual error rate of every network of the bundle, from finished tests only."""
    networks = json.loads(_meta(conn, "networks") or "[]")
    votes = [
        Vote(row["id"], row["network"], row["image"], row["answer"])
        for row in conn.execute(
            "SELECT v.id, v.network, t.image, t.answer FROM trials AS t "
            "JOIN volunteers AS v ON v.id = t.volunteer_id "
            "WHERE v.finished_at IS NOT NULL AND t.training = 0 AND t.kind = 'fake'")
    ]
    finished = {network: counts["finished"] for network, counts in progress(conn).items()}
    return network_results(networks, votes, finished, samples, seed)


def results_from_file(
    path: str | Path, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[NetworkResult]:
    """:func:`study_results` of a database file, opened read-only (the server may run)."""
    try:
        with closing(connect(path, readonly=True)) as conn:
            check_schema(conn, path)
            return study_results(conn, samples, seed)
    except sqlite3.DatabaseError as error:
        raise DatabaseError(f"{path}: cannot read the study database ({error})") from None
