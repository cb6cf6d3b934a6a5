"""Routing: deciding. Rules, then the classifier, then a tier and a deployment.

load_routing_config(path) -> RoutingConfig          (loading.py, config.py)
Router.draft(request, headers) -> Draft             rules, evaluated once (router.py)
Router.finish(draft, known=None) -> Decision        the classifier when needed (decision.py)

Executing a decision lives in llmtriage.execution; the service that does one then the
other, in llmtriage.service.
"""

from __future__ import annotations

from llmtriage.routing.config import RoutingConfig
from llmtriage.routing.decision import Decision, Reason
from llmtriage.routing.loading import DEFAULT_CONFIG, load_routing_config, parse_routing_config
from llmtriage.routing.router import Draft, Router

__all__ = [
    "DEFAULT_CONFIG",
    "Decision",
    "Draft",
    "Reason",
    "Router",
    "RoutingConfig",
    "load_routing_config",
    "parse_routing_config",
]
