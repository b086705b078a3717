"""The HTTP server around the study app: waitress, with the request limits set where
they protect anything.

Flask's ``MAX_CONTENT_LENGTH`` only looks at a request once waitress has received all of
it, and waitress on its own buffers bodies of up to 1 GiB (in a temporary file). So the
16 KiB cap is set in waitress as well: a request that declares a larger body is refused
(413) as soon as its headers are read, a chunked body as soon as it grows past the cap,
and a connection that goes quiet is closed after ``request_timeout_s``. Waitress's own
refusals answer with the API's JSON error body, which the page's script expects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from archopt.perceptual.server import MAX_REQUEST_BYTES

# A connection that sends nothing for this long is closed: a stalled or trickling client
# would otherwise hold a connection (and a slot of waitress's 100) for 120 s.
REQUEST_TIMEOUT_S = 30
MAX_PORT = 65535


class JsonErrorTask(ErrorTask):
    """Waitress's refusals (body over the cap, malformed HTTP) as ``{"error", "status"}``."""

    def execute(self) -> None:
        error = self.request.error
        message = (f"request too large: the body may have at most {MAX_REQUEST_BYTES} bytes"
                   if error.code == 413 else f"{error.reason}: {error.body}")
        body = json.dumps({"error": message, "status": error.code}).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()  # the rest of a refused body is never read
        self.content_length = len(body)
        self.write(body)


class StudyChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def check_serve_options(port: int, threads: int, request_timeout_s: int) -> None:
    """ValueError for settings waitress accepts but cannot serve with (it listens with 0
    threads and never answers, and wraps a port above 65535 to another one)."""
    if not 0 <= port <= MAX_PORT:
        raise ValueError(f"port must be 0 to {MAX_PORT} (0: any free port), got {port}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if request_timeout_s < 1:
        raise ValueError(f"request timeout must be at least 1 s, got {request_timeout_s}")


def waitress_options(threads: int, request_timeout_s: int,
                     trusted_proxy: str | None) -> dict[str, Any]:
    """The waitress adjustments of the study server."""
    options: dict[str, Any] = {
        "threads": threads,
        "ident": "archopt-study",
        # Waitress refuses a body of max_request_body_size bytes or more; Flask refuses
        # more than MAX_REQUEST_BYTES: the same cap, so neither cuts what the other allows.
        "max_request_body_size": MAX_REQUEST_BYTES + 1,
        "channel_timeout": request_timeout_s,
        # Idle connections are only looked for every cleanup_interval seconds (30).
        "cleanup_interval": min(30, request_timeout_s),
    }
    if trusted_proxy:
        # Only this address may tell the client's address and scheme (for the rate limit
        # and Secure cookies behind a TLS reverse proxy).
        options.update(trusted_proxy=trusted_proxy, trusted_proxy_count=1,
                       trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto",
                                              "x-forwarded-host"})
    return options


def listeners(server: Any) -> list[BaseWSGIServer]:
    """The listening servers: waitress returns one, or a ``MultiSocketServer`` holding
    several in its map when the host resolves to more than one address (``localhost``
    to 127.0.0.1 and ::1)."""
    if isinstance(server, BaseWSGIServer):
        return [server]
    return [item for item in server.map.values() if isinstance(item, BaseWSGIServer)]


def serve(
    app: Flask,
    host: str = "127.0.0.1",
    port: int = 8000,
    threads: int = 8,
    trusted_proxy: str | None = None,
    on_ready: Callable[[str], None] = print,
    request_timeout_s: int = REQUEST_TIMEOUT_S,
) -> None:
    """Serve ``app`` with waitress until interrupted; ``on_ready`` gets each URL it
    listens on. ValueError for unusable settings or an address it cannot listen on."""
    check_serve_options(port, threads, request_timeout_s)
    try:
        server = create_server(app, host=host, port=port,
                               **waitress_options(threads, request_timeout_s, trusted_proxy))
    # OSError: address in use, no permission for the port; ValueError: unknown host.
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ValueError(f"cannot listen on {host}:{port}: {reason}") from None
    sockets = listeners(server)
    for listener in sockets:
        listener.channel_class = StudyChannel  # read by waitress at each accept
    try:
        for listener in sockets:
            address = host if len(sockets) == 1 else listener.effective_host
            address = f"[{address}]" if ":" in address else address
            on_ready(f"http://{address}:{listener.effective_port}/")
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
