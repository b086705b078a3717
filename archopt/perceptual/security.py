"""Tokens, request forgery protection, input checks and a registration rate limit."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque

# The WHATWG HTML form rule for e-mail addresses, plus a dot in the domain.
EMAIL_PATTERN = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
EMAIL_MAX_LENGTH = 254
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{20,100}")


def new_token() -> str:
    """A random URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps instead of a token. Tokens are 256-bit random strings,
    so a plain SHA-256 (no salt, no slow hash) cannot be reversed by guessing."""
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_token(value: str) -> bool:
    return TOKEN_PATTERN.fullmatch(value) is not None


def normalize_email(value: object) -> str:
    """The address trimmed and lower-cased (one person, one test); ValueError if invalid."""
    if not isinstance(value, str):
        raise ValueError("email must be a string")
    email = value.strip().lower()
    if len(email) > EMAIL_MAX_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        raise ValueError(f"email {value[:80]!r} is not a valid e-mail address")
    return email


def form_signature(secret: str, purpose: str, subject: str) -> str:
    """An HMAC binding a form or header token to one cookie (signed double submit)."""
    return hmac.new(secret.encode(), f"{purpose}:{subject}".encode(), hashlib.sha256).hexdigest()


def same(a: str | None, b: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class RateLimiter:
    """At most ``limit`` events per ``window_s`` seconds per key (sliding window).

    :meth:`take` records an event only if the window has room, and :meth:`release` forgets
    it again, so a caller can hold a slot while it finds out whether the event counts
    (a registration that turns out to be refused gives its slot back) without letting
    concurrent requests slip past the limit between a check and a record.

    Only keys with events inside the window are kept: once a window's time has passed,
    the next call drops every key whose events all left it (200,000 client addresses
    kept for ever used 164 MiB). Asking (:meth:`wait`) records nothing.
    """

    def __init__(self, limit: int, window_s: float = 60.0) -> None:
        if limit < 1:
            raise ValueError(f"rate limit must be at least 1 per window, got {limit}")
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = float("-inf")

    def take(self, key: str, now: float | None = None) -> float | None:
        """Record an event for ``key`` if allowed: its time stamp (for :meth:`release`),
        or None when ``key`` already had ``limit`` events in the window."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._current(key, now)
            if len(events) >= self.limit:
                return None
            self._events.setdefault(key, events).append(now)
            return now

    def release(self, key: str, stamp: float) -> None:
        """Forget an event recorded by :meth:`take` that turned out not to count."""
        with self._lock:
            events = self._events.get(key)
            if events is not None and stamp in events:
                events.remove(stamp)
                if not events:
                    del self._events[key]

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until ``key`` may have another event (0 if it may now); records nothing."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._current(key, now)
            if len(events) < self.limit:
                return 0.0
            return events[0] + self.window_s - now

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Record an event for ``key``: 0 if allowed, else the seconds until one is."""
        now = time.monotonic() if now is None else now
        return 0.0 if self.take(key, now) is not None else self.wait(key, now)

    def tracked(self) -> int:
        """How many keys have an entry (events inside the window, or not yet swept)."""
        with self._lock:
            return len(self._events)

    def _current(self, key: str, now: float) -> deque[float]:
        """The events of ``key`` still inside the window (the caller holds the lock); a
        key without any is not stored."""
        self._sweep(now)
        events = self._events.get(key, deque())
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            self._events.pop(key, None)
        return events

    def _sweep(self, now: float) -> None:
        """Drop every key whose events all left the window; at most once per window, so
        each event is looked at a bounded number of times (the caller holds the lock)."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window_s
        cutoff = now - self.window_s
        for key in [key for key, events in self._events.items() if events[-1] <= cutoff]:
            del self._events[key]
