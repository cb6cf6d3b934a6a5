"""When a route may skip FastAPI's request handler, and the log line when it may not.

The scoring and proxy routes parse their bodies in one pydantic-core call and call the
endpoint with exactly what it declares (JSONBodyRoute, ProxyRoute), which saves FastAPI's
dependency solving and second validation pass (~0.1 ms a request). That is sound only
while the endpoint declares nothing else: a `Depends` added to it or to its router, or a
query, header or cookie parameter, would be skipped silently. So each route checks its
own signature once, at start-up, and takes FastAPI's handler whenever it declares more.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from fastapi.dependencies.models import Dependant

log = logging.getLogger("llmtriage.server")


def declares_only(
    dependant: Dependant, body: str, dependencies: Sequence[Callable[..., Any]] = ()
) -> bool:
    """True when the endpoint takes the body parameter `body`, the request as `request`,
    and exactly `dependencies` (in order, by their callables), and nothing else."""
    others = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    return (
        not any(others)
        and [p.name for p in dependant.body_params] == [body]
        and dependant.request_param_name == "request"
        and dependant.response_param_name is None
        and dependant.background_tasks_param_name is None
        and [d.call for d in dependant.dependencies] == list(dependencies)
    )


def log_framework_handler(path: str) -> None:
    log.info(
        "route %s declares dependencies or parameters beyond its body: FastAPI's own "
        "request handler serves it (about 0.1 ms more a request)",
        path,
    )
