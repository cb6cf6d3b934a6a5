"""Routing: rules, then the classifier, then a tier and a deployment.

load_routing_config(path) -> RoutingConfig        (loading.py, config.py)
build_routing(config, scorer, http_client=, env=) -> RoutingService   (service.py)
RoutingService.decide(request, headers) -> Decision                     (router.py)
"""

from __future__ import annotations

from llmtriage.routing.config import RoutingConfig
from llmtriage.routing.decision import Decision, Reason
from llmtriage.routing.loading import DEFAULT_CONFIG, load_routing_config, parse_routing_config
from llmtriage.routing.router import Router
from llmtriage.routing.service import Completion, RoutingService, build_routing, open_routing
from llmtriage.routing.streaming import RoutedStream

__all__ = [
    "DEFAULT_CONFIG",
    "Completion",
    "Decision",
    "Reason",
    "RoutedStream",
    "Router",
    "RoutingConfig",
    "RoutingService",
    "build_routing",
    "load_routing_config",
    "open_routing",
    "parse_routing_config",
]
