"""uvicorn's HTTP/1.1 protocols with deadlines for slow clients and a connection cap.

uvicorn times out only an idle keep-alive connection after a response: a connection
that never sends a byte, sends its head a byte at a time, or trickles its body, stays
open for as long as the client likes (slow loris), and its parser answers a malformed
request with a plain-text 400. These subclasses (h11 and httptools alike) add:

    header_timeout_s  the request head must be complete this long after the connection
                      opened or the previous answer ended; else 408 (or a plain close
                      for a connection that sent nothing) - the reason `header_timeout`
                      (`idle` for nothing sent)
    body_timeout_s    the whole body must have arrived this long after the head; else
                      408 and close (`body_timeout`); the handler sees a disconnect
    keepalive_timeout_s  uvicorn's own idle timeout between requests (`keepalive`)
    max_connections   one connection more is answered 503 and closed (`limit`)

and the parser's 400 in the `{"error": {...}}` shape. Each close is counted in
`llmtriage_connections_closed_total{reason}`, open connections in
`llmtriage_connections_open`. The limits and metrics come from the app's lifespan state
(`LIMITS_STATE_KEY`), so every worker process takes its own app's; an app without them
gets plain uvicorn behaviour. `llmtriage serve` selects these classes
(`cli.uvicorn_options`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from llmtriage.server.errors import error_body
from llmtriage.server.limits import LIMITS_STATE_KEY, ConnectionLimits

H11 = "llmtriage.server.protocol:LimitedH11Protocol"
HTTPTOOLS = "llmtriage.server.protocol:LimitedHttpToolsProtocol"


def _raw_error(status: int, reason: str, message: str, code: str) -> bytes:
    body = json.dumps(error_body(message, status=status, code=code), separators=(",", ":"))
    data = body.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(data)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + data


HEAD_TIMEOUT = _raw_error(
    408, "Request Timeout", "the request head did not arrive in time", "header_timeout"
)
BODY_TIMEOUT = _raw_error(
    408, "Request Timeout", "the request body did not arrive in time", "body_timeout"
)
TOO_MANY = _raw_error(
    503, "Service Unavailable", "too many open connections", "too_many_connections"
)
BAD_REQUEST = _raw_error(400, "Bad Request", "invalid HTTP request", "invalid_http")


class _Limited:
    """The deadlines, mixed into either uvicorn protocol (see the module docstring)."""

    # Provided by the uvicorn protocol this is mixed into.
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    cycle: Any
    connections: set[Any]
    app_state: dict[str, Any]

    _limits: ConnectionLimits | None = None
    _head_timer: asyncio.TimerHandle | None = None
    _body_timer: asyncio.TimerHandle | None = None
    _seen_cycle: Any = None
    _partial = False  # bytes of a request head received, no request started yet
    _counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        limits = self.app_state.get(LIMITS_STATE_KEY)
        if not isinstance(limits, ConnectionLimits):
            return
        self._limits = limits
        limits.opened(1)
        self._counted = True
        if len(self.connections) > limits.max_connections:
            self._refuse(TOO_MANY, "limit")
            return
        self._arm_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._counted and self._limits is not None:
            self._counted = False
            self._limits.opened(-1)
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._limits is not None:
            self._partial = True
            self._sync()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._limits is None or self.transport.is_closing():
            return
        self._partial = False
        self._cancel(body=True)
        self._sync()
        if self.cycle is self._seen_cycle:  # no pipelined request started: wait for one
            self._arm_head()

    def timeout_keep_alive_handler(self) -> None:
        if self._limits is not None and not self.transport.is_closing():
            self._limits.closed("keepalive")
        super().timeout_keep_alive_handler()  # type: ignore[misc]

    def send_400_response(self, msg: str) -> None:
        if self._limits is not None:
            self._limits.closed("invalid_http")
        self._refuse(BAD_REQUEST, None)

    # -- internals

    def _sync(self) -> None:
        """Follow the request cycle: a new one means its head is complete."""
        cycle = self.cycle
        limits = self._limits
        if cycle is None or limits is None:
            return
        if cycle is not self._seen_cycle:
            self._seen_cycle = cycle
            self._partial = False
            self._cancel(head=True)
            self._cancel(body=True)
            if cycle.more_body:
                self._body_timer = self.loop.call_later(
                    limits.body_timeout_s, self._body_expired, cycle
                )
        elif not cycle.more_body:
            self._cancel(body=True)

    def _arm_head(self) -> None:
        assert self._limits is not None
        self._cancel(head=True)
        self._head_timer = self.loop.call_later(self._limits.header_timeout_s, self._head_expired)

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle is not self._seen_cycle:
            return  # a request started in the meantime
        if self._partial:
            self._refuse(HEAD_TIMEOUT, "header_timeout")
        else:
            self._refuse(None, "idle")

    def _body_expired(self, cycle: Any) -> None:
        self._body_timer = None
        if self.transport.is_closing() or cycle is not self.cycle or not cycle.more_body:
            return
        self._refuse(None if cycle.response_started else BODY_TIMEOUT, "body_timeout")

    def _refuse(self, answer: bytes | None, reason: str | None) -> None:
        if reason is not None and self._limits is not None:
            self._limits.closed(reason)
        self._cancel_timers()
        if answer is not None:
            self.transport.write(answer)
        self.transport.close()

    def _cancel(self, *, head: bool = False, body: bool = False) -> None:
        if head and self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        if body and self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None

    def _cancel_timers(self) -> None:
        self._cancel(head=True, body=True)


class LimitedH11Protocol(_Limited, H11Protocol):
    pass


class LimitedHttpToolsProtocol(_Limited, HttpToolsProtocol):
    pass
