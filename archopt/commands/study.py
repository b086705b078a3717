"""``archopt study serve|results``: the perceptual real-vs-fake study (docs/pix2pix.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from archopt.io import write_text_atomic
from archopt.paths import STUDY_BUNDLE, STUDY_RESULTS
from archopt.perceptual.results import BOOTSTRAP_SAMPLES, NetworkResult, results_csv

MAX_PORT = 65535
# archopt.perceptual.serving's REQUEST_TIMEOUT_S, MAX_CONNECTIONS_PER_ADDRESS and
# CONNECTION_LIMIT (not imported: it pulls in Flask and waitress, which `archopt --help`
# does not need)
DEFAULT_REQUEST_TIMEOUT_S = 30
DEFAULT_CONNECTIONS_PER_ADDRESS = 100
SERVER_CONNECTIONS = 500


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        value = _integer(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 to 65535 (0: any free port)."""
    value = _integer(text)
    if not 0 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 to {MAX_PORT} (0: any free port), got {value}")
    return value


def proxy_address(text: str) -> str:
    """An argparse type: the trusted proxy's IP address, as waitress compares it."""
    from archopt.perceptual.serving import check_trusted_proxy

    try:
        return check_trusted_proxy(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("study", help="run the perceptual study server, compute results")
    commands = parser.add_subparsers(dest="study_command", required=True)

    serve = commands.add_parser("serve", help="serve the real-vs-fake test to volunteers")
    serve.add_argument("--bundle", required=True, type=Path,
                       help=f"bundle folder ({STUDY_BUNDLE})")
    serve.add_argument("--db", required=True, type=Path,
                       help="SQLite file with volunteers and votes (created on first start)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (0.0.0.0: every interface; default 127.0.0.1)")
    serve.add_argument("--port", type=port_number, default=8000,
                       help="port (0: any free port; default 8000)")
    serve.add_argument("--display-ms", type=at_least(1), default=1000,
                       help="how long each image stays visible (default 1000, the paper's 1 s)")
    serve.add_argument("--feedback-ms", type=at_least(1), default=1500,
                       help="how long the feedback of a practice trial stays visible")
    serve.add_argument("--register-limit", type=at_least(1), default=10,
                       help="registrations accepted per client address per minute (default "
                            "10; refused attempts have their own limit, 6 times this)")
    serve.add_argument("--threads", type=at_least(1), default=8, help="worker threads (default 8)")
    serve.add_argument("--request-timeout", type=at_least(1), default=DEFAULT_REQUEST_TIMEOUT_S,
                       metavar="SECONDS",
                       help="a request must arrive whole (headers and body) within this "
                            "long, and a connection that sends nothing is closed after it "
                            f"(default {DEFAULT_REQUEST_TIMEOUT_S})")
    serve.add_argument("--max-connections-per-address", type=at_least(1),
                       default=DEFAULT_CONNECTIONS_PER_ADDRESS, metavar="N",
                       help="open connections one client address may hold at once, of the "
                            f"server's {SERVER_CONNECTIONS} (default {DEFAULT_CONNECTIONS_PER_ADDRESS}; the "
                            "trusted proxy is exempt)")
    serve.add_argument("--trusted-proxy", default=None, metavar="ADDRESS", type=proxy_address,
                       help="IP address of a reverse proxy whose X-Forwarded-For/-Proto/-Host "
                            "headers are trusted (e.g. 127.0.0.1 behind nginx)")
    serve.set_defaults(func=run_serve)

    results = commands.add_parser("results", help="perceptual error rate per network")
    results.add_argument("--db", required=True, type=Path, help="the study's SQLite file")
    results.add_argument("--out", default=STUDY_RESULTS, type=Path,
                         help=f"CSV to write (default {STUDY_RESULTS})")
    results.add_argument("--bootstrap", type=int, default=BOOTSTRAP_SAMPLES,
                         help=f"bootstrap resamples of volunteers (default {BOOTSTRAP_SAMPLES})")
    results.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    results.set_defaults(func=run_results)


def run_serve(args: argparse.Namespace) -> int:
    from archopt.perceptual.server import ADMIN_TOKEN_ENV, ServerSettings, create_app
    from archopt.perceptual.serving import serve

    # Unset or empty: the admin endpoint is off. Anything else is checked as it is
    # (ServerSettings refuses whitespace at the ends rather than silently strip it).
    admin = os.environ.get(ADMIN_TOKEN_ENV) or None
    settings = ServerSettings(
        bundle=args.bundle, db=args.db, admin_token=admin, display_ms=args.display_ms,
        feedback_ms=args.feedback_ms, register_limit=args.register_limit)
    app = create_app(settings)
    study = app.extensions["archopt_study"]
    bundle = study.bundle
    print(f"archopt study: bundle {args.bundle} ({len(bundle.networks)} networks: "
          f"{', '.join(bundle.networks)}; {bundle.trials} trials per test), votes in {args.db}",
          file=sys.stderr)
    if bundle.warning:
        print(f"archopt study: warning: {bundle.warning}", file=sys.stderr)
    if admin is None:
        print(f"archopt study: {ADMIN_TOKEN_ENV} is not set: /api/results is disabled "
              "(`archopt study results --db` still works)", file=sys.stderr)

    def announce(url: str) -> None:
        print(f"archopt study: serving on {url} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    serve(app, args.host, args.port, args.threads, args.trusted_proxy, announce,
          args.request_timeout, args.max_connections_per_address)
    return 0


def format_table(results: list[NetworkResult]) -> str:
    lines = [f"{'model':<18} {'volunteers':>10} {'images':>6} {'error rate':>10}  95% CI"]
    for r in results:
        if r.error_rate is None:
            lines.append(f"{r.model:<18} {r.volunteers:>10} {r.images:>6} {'-':>10}  -")
        else:
            lines.append(f"{r.model:<18} {r.volunteers:>10} {r.images:>6} "
                         f"{r.error_rate:>10.1%}  [{r.ci95_low:.1%}, {r.ci95_high:.1%}]")
    return "\n".join(lines)


def run_results(args: argparse.Namespace) -> int:
    from archopt.perceptual.store import results_from_file

    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap must be at least 1, got {args.bootstrap}")
    results = results_from_file(args.db, args.bootstrap, args.seed)
    try:
        write_text_atomic(args.out, results_csv(results))
    except OSError as error:  # a read-only folder, a file where a folder should be, a full disk
        raise ValueError(f"cannot write {args.out}: {error.strerror or error}") from None
    print(format_table(results))
    print(f"wrote {args.out} (networks with at least one finished test)")
    return 0
