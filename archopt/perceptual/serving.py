"""The HTTP server around the study app: waitress, with the request limits set where
they protect anything.

Flask's ``MAX_CONTENT_LENGTH`` only looks at a request once waitress has received all of
it, and waitress on its own buffers bodies of up to 1 GiB (in a temporary file). So the
16 KiB cap is set in waitress as well: a request that declares a larger body is refused
(413) as soon as its headers are read, a chunked body as soon as it grows past the cap,
and a connection that goes quiet is closed after ``request_timeout_s``. Waitress's own
refusals answer with the API's JSON error body, which the page's script expects.

Waitress's timeout only closes connections that send nothing; a client trickling one
header line a second would hold its connection for ever, and 100 of them held all of
waitress's. So a request must also arrive whole (headers and body) within
``request_timeout_s`` of its first byte (408 otherwise), and one client address may hold
at most ``max_connections_per_address`` of the server's :data:`CONNECTION_LIMIT`
connections at once (503 for the next): a few slow clients can no longer take every
connection from the others.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from flask import Flask
from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.task import ErrorTask

from archopt.perceptual.server import MAX_REQUEST_BYTES

# A connection that sends nothing for this long is closed (waitress's default: 120 s), and
# a request must arrive whole within it.
REQUEST_TIMEOUT_S = 30
# Open connections in all (waitress's default: 100) and per client address. A browser
# taking the test holds one to three connections at a time, so a lab of 20 to 30
# volunteers behind one NAT address fits, and a client needs 5 addresses, each of its
# requests arriving whole within the request timeout, to hold every connection.
CONNECTION_LIMIT = 500
MAX_CONNECTIONS_PER_ADDRESS = 100
MAX_PORT = 65535


def error_body(status: int, message: str) -> bytes:
    """The API's JSON error body, also for refusals made before the app sees a request."""
    return json.dumps({"error": message, "status": status}).encode()


class JsonErrorTask(ErrorTask):
    """Waitress's refusals (body over the cap, malformed HTTP) as ``{"error", "status"}``."""

    def execute(self) -> None:
        error = self.request.error
        message = (f"request too large: the body may have at most {MAX_REQUEST_BYTES} bytes"
                   if error.code == 413 else f"{error.reason}: {error.body}")
        body = error_body(error.code, message)
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()  # the rest of a refused body is never read
        self.content_length = len(body)
        self.write(body)


@dataclass(frozen=True)
class ConnectionLimits:
    """What each connection of one server is held to."""

    request_timeout_s: float  # a whole request (headers and body) arrives within this
    max_per_address: int  # open connections per client address
    exempt: str | None = None  # the trusted proxy: every client arrives from its address


class StudyChannel(HTTPChannel):
    """Waitress's connection with the study's limits (see the module's docstring)."""

    error_task_class = JsonErrorTask
    limits: ClassVar[ConnectionLimits] = ConnectionLimits(REQUEST_TIMEOUT_S,
                                                          MAX_CONNECTIONS_PER_ADDRESS)
    request_started: float | None = None  # when the first byte of the request being received came

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map)
        if self._over_address_limit():
            self.refuse(503, f"too many connections from this address (at most "
                             f"{self.limits.max_per_address} at once); retry shortly")

    def _over_address_limit(self) -> bool:
        host = self._host()
        if host is None or host == self.limits.exempt:
            return False
        # Runs on waitress's main thread, which alone adds and removes channels.
        same = sum(1 for channel in self.server.active_channels.values()
                   if isinstance(channel, StudyChannel) and channel._host() == host)
        return same > self.limits.max_per_address

    def _host(self) -> str | None:
        # A TCP client's (host, port); a Unix socket's peer has no address to count.
        return self.addr[0] if isinstance(self.addr, tuple) and self.addr else None

    def received(self, data: bytes) -> bool:
        if data and self.request is None and self.request_started is None:
            self.request_started = time.monotonic()
        accepted = super().received(data)
        if self.request is None:  # every request in data arrived whole
            self.request_started = None
        return accepted

    def readable(self) -> bool:
        # Waitress asks every channel this about once a second (its loop's timeout):
        # the place to end a request that is taking too long to arrive.
        if self._request_overdue():
            self.refuse(408, f"the request did not arrive within "
                             f"{self.limits.request_timeout_s:g} s")
            return False
        return super().readable()

    def _request_overdue(self) -> bool:
        return (self.request_started is not None and not self.requests
                and not (self.will_close or self.close_when_flushed)
                and time.monotonic() - self.request_started > self.limits.request_timeout_s)

    def refuse(self, status: int, message: str) -> None:
        """Answer ``status`` with the API's JSON error body and close the connection."""
        body = error_body(status, message)
        reason = {408: "Request Timeout", 503: "Service Unavailable"}[status]
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
        self.request = None
        self.request_started = None
        self.write_soon(head.encode() + body)
        self.close_when_flushed = True


def channel_class(limits: ConnectionLimits) -> type[StudyChannel]:
    """A :class:`StudyChannel` with ``limits`` (waitress builds a channel from its class)."""
    return type("StudyChannel", (StudyChannel,), {"limits": limits})


def check_trusted_proxy(address: str) -> str:
    """``address`` as waitress compares it with a client's (``::0001`` -> ``::1``);
    ValueError unless it is an IP address: waitress would accept a host name or a typo
    and then never trust the proxy, silently."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise ValueError(f"trusted proxy {address!r} is not an IP address (e.g. 127.0.0.1 or "
                         "::1: the address the proxy connects from)") from None


def check_serve_options(port: int, threads: int, request_timeout_s: int,
                        max_connections_per_address: int = MAX_CONNECTIONS_PER_ADDRESS) -> None:
    """ValueError for settings waitress accepts but cannot serve with (it listens with 0
    threads and never answers, and wraps a port above 65535 to another one)."""
    if max_connections_per_address < 1:
        raise ValueError("max connections per address must be at least 1, got "
                         f"{max_connections_per_address}")
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
        "connection_limit": CONNECTION_LIMIT,
        # poll(), not select(): select() cannot watch descriptors above 1023.
        "asyncore_use_poll": True,
    }
    if trusted_proxy is not None:
        # Only this address may tell the client's address and scheme (for the rate limit
        # and Secure cookies behind a TLS reverse proxy).
        options.update(trusted_proxy=check_trusted_proxy(trusted_proxy), trusted_proxy_count=1,
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
    max_connections_per_address: int = MAX_CONNECTIONS_PER_ADDRESS,
) -> None:
    """Serve ``app`` with waitress until interrupted; ``on_ready`` gets each URL it
    listens on. ValueError for unusable settings or an address it cannot listen on."""
    check_serve_options(port, threads, request_timeout_s, max_connections_per_address)
    options = waitress_options(threads, request_timeout_s, trusted_proxy)
    limits = ConnectionLimits(request_timeout_s, max_connections_per_address,
                              options.get("trusted_proxy"))
    try:
        server = create_server(app, host=host, port=port, **options)
    # OSError: address in use, no permission for the port; ValueError: unknown host.
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise ValueError(f"cannot listen on {host}:{port}: {reason}") from None
    sockets = listeners(server)
    for listener in sockets:
        listener.channel_class = channel_class(limits)  # read by waitress at each accept
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
