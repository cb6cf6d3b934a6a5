"""Connection limits handed from the app (its lifespan state) to the server's protocol
(server/protocol.py); kept apart so that importing the app does not import uvicorn."""

from __future__ import annotations

from dataclasses import dataclass

from llmtriage.server.metrics import Metrics

LIMITS_STATE_KEY = "llmtriage.connection_limits"


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    header_timeout_s: float
    body_timeout_s: float
    max_connections: int
    metrics: Metrics | None = None

    def closed(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.child(self.metrics.connections_closed, reason).inc()

    def opened(self, delta: int) -> None:
        if self.metrics is not None:
            self.metrics.connections_open.inc(delta)
