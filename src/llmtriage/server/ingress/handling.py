"""The route class of the ingress endpoints, and what both of them share.

`IngressRoute` calls its endpoint (`f(request, service)`) directly: each ingress reads
and validates its own body, so FastAPI's body parsing and dependency solving would be
work done twice. Every error the endpoint raises is answered in the route's `dialect`
(dialect.py), and so are the auth middleware's refusals (`error_shape`): a client of the
Anthropic API never sees an OpenAI-shaped error, nor a 500 for a malformed body.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, cast

from fastapi import Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.requests import ClientDisconnect

from llmtriage.server.auth import AUTH_SCOPE_KEY, TENANT_SCOPE_KEY
from llmtriage.server.errors import ApiError, log_crash
from llmtriage.server.ingress.dialect import Dialect, Failure, failure_of
from llmtriage.server.routes.proxy import get_routing
from llmtriage.service import RoutingService

log = logging.getLogger(__name__)
Endpoint = Callable[[Request, RoutingService], Coroutine[Any, Any, Response]]


class IngressRoute(APIRoute):
    dialect: ClassVar[Dialect]

    @property
    def error_shape(self) -> Callable[[ApiError], tuple[int, dict[str, Any]]]:
        return self.dialect.shape

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = cast(Endpoint, self.endpoint)
        dialect = self.dialect

        async def handle(request: Request) -> Response:
            try:
                service = await authorized(request)
                return await endpoint(request, service)
            except ClientDisconnect:
                raise
            except Exception as exc:
                failure = failure_of(exc)
                if failure is None:  # a crash: logged without its text, answered in dialect
                    log_crash(request.scope, exc)
                    failure = Failure(500, "internal error while handling the request")
                return dialect.response(failure)

        return handle


async def authorized(request: Request) -> RoutingService:
    """The routing service, once the client's key is known good. Under create_app the auth
    policy (server/auth.py) has checked it already; a bare app checks the routing
    config's client keys here, as bearer token or `x-api-key`."""
    service = await get_routing(request)
    if not request.scope.get(AUTH_SCOPE_KEY):
        authorization = request.headers.get("authorization")
        key = request.headers.get("x-api-key")
        if not authorization and key:
            authorization = f"Bearer {key}"
        service.authorize(authorization)
    return service


def tenant_of(request: Request) -> str:
    """Whose request this is, for keys of per-client state ("" without client keys)."""
    tenant = request.scope.get(TENANT_SCOPE_KEY)
    if tenant:
        return str(tenant)
    return request.headers.get("authorization") or request.headers.get("x-api-key") or ""


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object (NaN and Infinity refused), or a 400/415 ApiError."""
    content_type = request.headers.get("content-type", "application/json")
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            "request body must be JSON sent with 'Content-Type: application/json'",
            status=415,
            code="unsupported_media_type",
        )
    raw = await request.body()
    try:
        value = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        message = f"request body is not valid JSON: {exc}"
        raise ApiError(message, status=400, code="invalid_json") from exc
    if not isinstance(value, dict):
        raise ApiError("request body must be a JSON object", status=400, code="invalid_json")
    return value


def validated(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """`body` as `model`, or a 400 naming the first wrong field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        raise ApiError(message, status=400, param=where or None, code="invalid_request") from exc
