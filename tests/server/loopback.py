"""The service under uvicorn on a loopback port, in a background thread, configured as
`llmtriage serve` configures it (`uvicorn_options`); raw-socket helpers for clients
that misbehave."""

from __future__ import annotations

import select
import socket
import time
from typing import Any

from starlette.types import ASGIApp

from llmtriage.server.cli import uvicorn_options
from llmtriage.server.settings import ServeSettings
from tests.providers.serving import ServerThread


class Loopback(ServerThread):
    def __init__(self, app: ASGIApp, settings: ServeSettings, *, http: str | None = None) -> None:
        options: dict[str, Any] = uvicorn_options(settings) | {"log_level": "warning"}
        options.pop("host"), options.pop("port")
        if http is not None:  # one of server/protocol.py's classes, by import path
            options["http"] = http
        super().__init__(app, **options)

    def connect(self, timeout_s: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)


def head(path: str, length: int, *, content_type: str = "application/json") -> bytes:
    """A POST request's head announcing a `length`-byte body."""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def trickle(
    sock: socket.socket, data: bytes, *, every_s: float, limit_s: float
) -> tuple[float, bytes, bool]:
    """Sends `data` a byte every `every_s` (then waits) until the server closes the
    connection or `limit_s` passes: (seconds taken, bytes received, closed by the server)."""
    started = time.monotonic()
    received = bytearray()
    sent = 0
    while time.monotonic() - started < limit_s:
        if sent < len(data):
            try:
                sock.send(data[sent : sent + 1])
                sent += 1
            except OSError:
                return time.monotonic() - started, bytes(received), True
        ready, _, _ = select.select([sock], [], [], every_s)
        if ready:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                return time.monotonic() - started, bytes(received), True
            received += chunk
    return time.monotonic() - started, bytes(received), False


def closed_by_peer(sock: socket.socket) -> bool:
    """Reads until the server closes the connection (True) or the socket times out (False)."""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except TimeoutError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
