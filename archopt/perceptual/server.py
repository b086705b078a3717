"""The study web app (Flask, served by waitress): registration, the test, the results.

The HTTP server around the app (waitress, with its own request limits) is in
:mod:`archopt.perceptual.serving`.

Browser pages: ``/`` (register with e-mail and consent, or resume with a token),
``/test`` (the trials). The pages drive the JSON API that scripts and tests use too
(docs/pix2pix.md, "HTTP API"): ``POST /api/register``, ``GET /api/trial``, ``GET /api/image/<nonce>``,
``POST /api/answer``, ``GET /api/results`` (admin). A volunteer authenticates with
``Authorization: Bearer <token>`` or, in the browser, with the HttpOnly SameSite=Strict
cookie set at registration; cookie-authenticated writes also need the page's
``X-CSRF-Token`` header, and HTML forms carry a token signed against a cookie.
"""

from __future__ import annotations

import logging
import random
import secrets
import sqlite3
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from archopt.perceptual import store
from archopt.perceptual.bundle import Bundle, load_bundle
from archopt.perceptual.protocol import ANSWERS
from archopt.perceptual.security import (
    RateLimiter,
    form_signature,
    looks_like_token,
    normalize_email,
    same,
)
from archopt.perceptual.store import StudyError

ADMIN_TOKEN_ENV = "ARCHOPT_STUDY_ADMIN_TOKEN"
ADMIN_TOKEN_MIN_LENGTH = 16
VOLUNTEER_COOKIE = "archopt_study"
FORM_COOKIE = "archopt_form"
COOKIE_MAX_AGE_S = 30 * 24 * 3600
MAX_REQUEST_BYTES = 16 * 1024  # enforced by waitress too (serving.py), before it buffers
# Refused registration attempts (bad e-mail, no consent, already registered) have their
# own, larger limit: a typo must not lock a volunteer out, but probing e-mail addresses
# (409 tells whether one took part) or hammering the database stays bounded.
REFUSED_PER_ACCEPTED = 6
STATIC_FILES = {"study.js": "text/javascript", "study.css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "img-src 'self'; connect-src 'self'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on form
    # posts, which the cross-site check would have to accept.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

log = logging.getLogger("archopt.study")


@dataclass(frozen=True)
class ServerSettings:
    bundle: Path
    db: Path
    admin_token: str | None = None  # None: the admin endpoints are disabled
    display_ms: int = 1000  # how long each image stays visible (the paper: 1 s)
    feedback_ms: int = 1500  # how long the feedback of a training trial stays visible
    register_limit: int = 10  # registrations per client address per minute

    def __post_init__(self) -> None:
        if self.admin_token is not None:
            check_admin_token(self.admin_token)
        for name in ("display_ms", "feedback_ms", "register_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


def check_admin_token(token: str) -> None:
    """ValueError unless ``token`` can ever match an ``Authorization: Bearer`` header.

    Clients send the token stripped (and ``_bearer_token`` strips it too), and header
    values arrive as Latin-1, so a token with whitespace at either end (a newline from
    ``$(cat file)``) or non-ASCII characters would be accepted here and then refuse every
    request. The message never repeats the token: it is a secret.
    """
    if token != token.strip():
        raise ValueError(f"{ADMIN_TOKEN_ENV} starts or ends with whitespace (a newline from "
                         "a file?): remove it, or no request can ever match the token "
                         "(clients send it without)")
    if not (token.isascii() and token.isprintable()):
        raise ValueError(f"{ADMIN_TOKEN_ENV} must be printable ASCII (it is sent in an HTTP "
                         "header); it contains other characters")
    if len(token) < ADMIN_TOKEN_MIN_LENGTH:
        raise ValueError(f"{ADMIN_TOKEN_ENV} must be at least {ADMIN_TOKEN_MIN_LENGTH} "
                         f"characters long (got {len(token)})")


@dataclass(frozen=True)
class Study:
    """What every request needs: settings, the loaded bundle, the database secret."""

    settings: ServerSettings
    bundle: Bundle
    secret: str
    register_limiter: RateLimiter  # accepted registrations
    refused_limiter: RateLimiter  # refused registration attempts


def create_app(settings: ServerSettings) -> Flask:
    """The app for ``settings``: loads the bundle and creates/opens the database."""
    bundle = load_bundle(settings.bundle)
    study = Study(settings, bundle, store.initialize(settings.db, bundle),
                  RateLimiter(settings.register_limit, 60.0),
                  RateLimiter(REFUSED_PER_ACCEPTED * settings.register_limit, 60.0))
    # No static folder: nothing a request names is ever looked up on disk.
    app = Flask(__name__, static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.extensions["archopt_study"] = study
    static = {name: resources.files("archopt.perceptual").joinpath("static", name).read_bytes()
              for name in STATIC_FILES}
    _register_pages(app, study)
    _register_api(app, study)
    _register_hooks(app, static)
    return app


# --- request helpers -------------------------------------------------------------------

def _db() -> sqlite3.Connection:
    if "db" not in g:
        g.db = store.connect(_study().settings.db)
    return g.db


def _study() -> Study:
    return current_app.extensions["archopt_study"]


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _check_origin() -> None:
    """Refuse a write whose Origin (sent by browsers) is another site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        raise StudyError(403, f"cross-site request refused (Origin {origin[:100]})")


def _json_body() -> dict[str, Any]:
    if not request.is_json:
        raise StudyError(415, "send a JSON object with Content-Type: application/json")
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        # silent=True only covers ValueError; json's parser raises RecursionError for
        # deep nesting ("[" * 15000 fits in 16 KiB), which is the client's fault.
        raise StudyError(400, "the JSON body is nested too deeply") from None
    if not isinstance(body, dict):
        raise StudyError(400, "the request body must be a JSON object")
    return body


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise StudyError(401, "the Authorization header must be 'Bearer <token>'")
    return token.strip()


def _volunteer() -> tuple[store.Volunteer, bool]:
    """The authenticated volunteer, and whether the cookie (not a header) identified them."""
    token = _bearer_token()
    from_cookie = token is None
    if from_cookie:
        token = request.cookies.get(VOLUNTEER_COOKIE)
    if not token:
        raise StudyError(401, "missing volunteer token: send 'Authorization: Bearer <token>' "
                         "(or register at / in a browser)")
    volunteer = store.volunteer_for_token(_db(), token) if looks_like_token(token) else None
    if volunteer is None:
        raise StudyError(401, "unknown volunteer token")
    return volunteer, from_cookie


def _csrf_for(volunteer: store.Volunteer) -> str:
    return form_signature(_study().secret, "volunteer", volunteer.token_hash)


def _require_admin() -> None:
    expected = _study().settings.admin_token
    if expected is None:
        raise StudyError(403, f"admin endpoints are disabled: start the server with "
                         f"{ADMIN_TOKEN_ENV} set")
    if not same(_bearer_token(), expected):
        raise StudyError(401, "admin token required: send 'Authorization: Bearer <admin token>'")


def _too_many(what: str, wait: float) -> StudyError:
    seconds = max(1, round(wait))
    return StudyError(429, f"too many {what} from this address; retry in {seconds} s",
                      headers={"Retry-After": str(seconds)})


def _register(email_value: object, consent: object) -> tuple[int, str]:
    """Register a volunteer. Only accepted registrations count against
    ``--register-limit``: the slot taken up front (so concurrent requests cannot pass the
    limit together) is given back when the registration is refused, and the refusal
    counts against the separate limit of refused attempts instead."""
    study = _study()
    client = request.remote_addr or "unknown"
    if (wait := study.refused_limiter.wait(client)) > 0:
        raise _too_many("refused registration attempts", wait)
    stamp = study.register_limiter.take(client)
    if stamp is None:
        raise _too_many("registrations", study.register_limiter.wait(client))
    try:
        volunteer, token = _accept_registration(email_value, consent)
    except BaseException as error:
        study.register_limiter.release(client, stamp)
        if isinstance(error, StudyError):
            study.refused_limiter.take(client)
        raise
    log.info("volunteer %d registered", volunteer)
    return volunteer, token


def _accept_registration(email_value: object, consent: object) -> tuple[int, str]:
    try:
        email = normalize_email(email_value)
    except ValueError as error:
        raise StudyError(400, str(error)) from None
    if consent is not True:
        raise StudyError(400, "consent is required: the volunteer must agree to take part")
    return store.register(_db(), email, _study().bundle, random.Random(secrets.randbits(64)))


def _set_volunteer_cookie(response: Response, token: str) -> Response:
    response.set_cookie(VOLUNTEER_COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True,
                        samesite="Strict", secure=request.is_secure)
    return response


def _form_token() -> tuple[str, str | None]:
    """The form token for this browser, and a new cookie value when it has none yet."""
    cookie = request.cookies.get(FORM_COOKIE)
    fresh = None if cookie and looks_like_token(cookie) else secrets.token_urlsafe(32)
    return form_signature(_study().secret, "form", fresh or cookie), fresh


def _check_form() -> None:
    _check_origin()
    cookie = request.cookies.get(FORM_COOKIE)
    expected = form_signature(_study().secret, "form", cookie) if cookie else None
    if not same(request.form.get("csrf"), expected):
        raise StudyError(403, "this form has expired or was sent from another site: reload "
                         "the page and submit it again")


# --- pages -----------------------------------------------------------------------------

def _register_pages(app: Flask, study: Study) -> None:
    @app.get("/")
    def index() -> Response:
        csrf, fresh = _form_token()
        token = request.cookies.get(VOLUNTEER_COOKIE, "")
        returning = looks_like_token(token) and store.volunteer_for_token(_db(), token) is not None
        response = Response(render_template(
            "index.html", csrf=csrf, returning=returning, trials=study.bundle.trials,
            training=2 * study.bundle.training_per_class,
            display_s=study.settings.display_ms / 1000))
        if fresh:
            response.set_cookie(FORM_COOKIE, fresh, httponly=True, samesite="Strict",
                                secure=request.is_secure)
        return response

    @app.post("/register")
    def register_form() -> Response:
        _check_form()
        _, token = _register(request.form.get("email", ""), request.form.get("consent") == "yes")
        page = render_template("registered.html", token=token)
        return _set_volunteer_cookie(Response(page), token)

    @app.post("/resume")
    def resume_form() -> Response:
        _check_form()
        token = request.form.get("token", "").strip()
        if not looks_like_token(token) or store.volunteer_for_token(_db(), token) is None:
            raise StudyError(401, "unknown token: paste the token you were given at registration")
        return _set_volunteer_cookie(redirect("/test", code=303), token)

    @app.get("/test")
    def test_page() -> Response:
        token = request.cookies.get(VOLUNTEER_COOKIE)
        if not token:
            return redirect("/", code=303)
        volunteer, _ = _volunteer()
        return Response(render_template(
            "test.html", csrf=_csrf_for(volunteer), display_ms=study.settings.display_ms,
            feedback_ms=study.settings.feedback_ms))


# --- JSON API --------------------------------------------------------------------------

def _register_api(app: Flask, study: Study) -> None:
    @app.post("/api/register")
    def api_register() -> Response:
        _check_origin()
        body = _json_body()
        volunteer, token = _register(body.get("email"), body.get("consent"))
        return jsonify(volunteer=volunteer, token=token)

    @app.get("/api/trial")
    def api_trial() -> Response:
        volunteer, _ = _volunteer()
        trial = store.current_trial(_db(), volunteer.id)
        if trial is None:
            return jsonify(done=True)
        return jsonify(
            index=trial.position, of=trial.of, training=trial.training,
            image_url=None if trial.nonce is None else f"/api/image/{trial.nonce}",
            shown=trial.nonce is None, display_ms=study.settings.display_ms)

    @app.get("/api/image/<nonce>")
    def api_image(nonce: str) -> Response:
        volunteer, _ = _volunteer()
        if not looks_like_token(nonce):
            raise StudyError(404, "no image here: malformed image URL")
        image = store.take_image(_db(), volunteer.id, nonce)
        return Response(study.bundle.images[image], mimetype="image/png")

    @app.post("/api/answer")
    def api_answer() -> Response:
        _check_origin()
        volunteer, from_cookie = _volunteer()
        if from_cookie and not same(request.headers.get("X-CSRF-Token"), _csrf_for(volunteer)):
            raise StudyError(403, "missing or wrong X-CSRF-Token header (cookie sessions need "
                             "the token of the test page)")
        body = _json_body()
        answer = body.get("answer")
        if answer not in ANSWERS:
            raise StudyError(400, f"answer must be one of {list(ANSWERS)}, got {answer!r:.80}")
        index = body.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            raise StudyError(400, f"index must be an integer trial number, got {index!r:.80}")
        training, correct = store.record_answer(_db(), volunteer.id, answer, index)
        return jsonify(correct=correct) if training else jsonify({})

    @app.get("/api/results")
    def api_results() -> Response:
        _require_admin()
        counts = store.progress(_db())
        rows = [{**asdict(result), "in_progress": counts.get(result.model, {}).get(
            "in_progress", 0)} for result in store.study_results(_db())]
        return jsonify(networks=rows, trials_per_test=study.bundle.trials,
                       bundle_warning=study.bundle.warning)


# --- errors, headers, static files ------------------------------------------------------

def storage_refusal(error: sqlite3.OperationalError) -> StudyError | None:
    """What the client is told when the database cannot be written: the disk is full
    (507 Insufficient Storage) or failing (503). The transaction was rolled back, so
    nothing half-done is kept, and the client may retry once there is room; None for
    other database errors (a bug: 500)."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF  # the primary of an extended code
    if code == sqlite3.SQLITE_FULL:
        return StudyError(507, "the server's disk is full: this request was not recorded; "
                               "retry later (the study's operator must free disk space)")
    if code == sqlite3.SQLITE_IOERR:
        return StudyError(503, "the server cannot write its database (disk I/O error: a full "
                               "or failing disk): this request was not recorded; retry later")
    return None


def _error_response(status: int, message: str) -> Response:
    if _is_api():
        response = jsonify(error=message, status=status)
    else:
        response = Response(render_template("error.html", status=status, message=message))
    response.status_code = status
    return response


def _register_hooks(app: Flask, static: dict[str, bytes]) -> None:
    @app.get("/static/<name>")
    def static_file(name: str) -> Response:
        if name not in static:  # a fixed set held in memory
            raise StudyError(404, "not found")
        return Response(static[name], mimetype=STATIC_FILES[name])

    @app.get("/favicon.ico")
    def favicon() -> Response:  # browsers ask for it; no icon, and no 404 in their console
        return Response(status=204)

    @app.errorhandler(StudyError)
    def study_error(error: StudyError) -> Response:
        response = _error_response(error.status, error.message)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return _error_response(error.code or 400, error.description or error.name)

    @app.errorhandler(sqlite3.OperationalError)
    def storage_error(error: sqlite3.OperationalError) -> Response:
        refused = storage_refusal(error)
        if refused is None:
            return unexpected(error)
        log.error("%s %s: %s", request.method, request.path, error)
        return _error_response(refused.status, refused.message)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return _error_response(500, "internal error (see the server log)")

    @app.after_request
    def security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.teardown_appcontext
    def close_db(_: BaseException | None) -> None:
        db = g.pop("db", None)
        if db is not None:
            db.close()
