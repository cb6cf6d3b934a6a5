"""Who may call what: one auth policy over every route of the app.

Every route belongs to one endpoint group, declared where the route is declared
(`openapi_extra={"x-llmtriage-auth": GROUP}`; the docs routes FastAPI adds are the
`docs` group). The policy (`ServeSettings.auth`) gives each group an access level:

    client  a client key (`client_key_hashes`, or the routing config's
            `auth.api_key_hashes`) when any is configured; open while none is
    admin   an admin key (`admin_key_hashes`) when any key at all is configured;
            open while none is, refused (401) while only client keys are
    open    anyone

Defaults: inference and scoring `client`, stats, metrics and admin `admin`, health and docs
`open`. Keys are sent as `Authorization: Bearer <key>` and checked against sha256
digests in constant time (routing/auth.py), before any byte of the body is read
(Anthropic clients send theirs as `x-api-key`, taken when there is no bearer token). A
missing or wrong key is a 401; a client key on an admin endpoint a 403.

The app refuses to start when a route names no group (or an unknown one): a new route
cannot slip past the policy unnoticed. `tests/server/test_server_auth_policy.py` walks
every route of the app and checks the policy with real requests.

The check leaves the sha256 digest of an accepted client key in the scope
(`TENANT_SCOPE_KEY`): the decision cache partitions `/v1/score` entries by it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from llmtriage.routing.auth import ClientKeys, bearer_token
from llmtriage.server.errors import ApiError, send_error
from llmtriage.server.metrics import Metrics

if TYPE_CHECKING:
    from llmtriage.server.ratelimit import TokenBucket

Access = Literal["client", "admin", "open"]
Group = Literal["inference", "scoring", "stats", "metrics", "admin", "health", "docs"]
GROUPS: tuple[str, ...] = get_args(Group)
OPENAPI_KEY = "x-llmtriage-auth"
TENANT_SCOPE_KEY = "llmtriage.tenant"
AUTH_SCOPE_KEY = "llmtriage.auth"  # set once the policy admitted the request
RATE_SCOPE_KEY = "llmtriage.rate"  # the rate limit's verdict: a Denial, or False
_SHA256 = re.compile(r"[0-9a-f]{64}")


def flat_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """Every route of an app, included routers flattened (FastAPI nests them lazily)."""
    return cast(list[BaseRoute], list(iter_route_contexts(routes)))


def group(name: Group, example: dict[str, Any] | None = None) -> dict[str, Any]:
    """`openapi_extra` for a route of endpoint group `name` (and a request body example)."""
    extra: dict[str, Any] = {OPENAPI_KEY: name}
    if example is not None:
        extra["requestBody"] = {"content": {"application/json": {"example": example}}}
    return extra


class AuthPolicy(BaseModel):
    """Access level per endpoint group (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    inference: Access = "client"  # /v1/chat/completions, /v1/route, /v1/models
    scoring: Access = "client"  # /v1/score, /v1/score/batch
    stats: Access = "admin"  # /v1/stats (costs, token counts, cache state)
    metrics: Access = "admin"  # /metrics
    admin: Access = "admin"  # /v1/admin/reload (swaps the served model)
    health: Access = "open"  # /healthz, /readyz
    docs: Access = "open"  # /openapi.json, /docs, /redoc


def check_digests(value: list[str]) -> list[str]:
    for digest in value:
        if not _SHA256.fullmatch(digest):
            raise ValueError(
                "each entry must be a lowercase sha256 hex digest (64 chars), not a key"
            )
    return value


@dataclass(frozen=True, slots=True)
class Denial:
    status: int
    code: str
    message: str
    retry_after_s: int | None = None

    def error(self) -> ApiError:
        return ApiError(self.message, status=self.status, code=self.code)

    def headers(self) -> dict[str, str] | None:
        if self.status == 401:
            return {"www-authenticate": "Bearer"}
        if self.retry_after_s is not None:
            return {"retry-after": str(self.retry_after_s)}
        return None


_MISSING = Denial(
    401, "invalid_api_key", "Incorrect or missing API key: send 'Authorization: Bearer <key>'"
)
_NEED_ADMIN = Denial(403, "admin_key_required", "this endpoint needs an admin key")
_NO_ADMIN = Denial(
    401,
    "admin_key_required",
    "this endpoint needs an admin key and none is configured (admin_key_hashes)",
)


class Gate:
    """The policy applied to requests: which group a path is in, and who may call it."""

    # Set while the app runs (its lifespan): the per-client-key rate limit, if on.
    bucket: TokenBucket | None = None

    def __init__(
        self,
        policy: AuthPolicy,
        *,
        client_keys: Sequence[str],
        admin_keys: Sequence[str],
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics
        self.policy = policy
        self.client = ClientKeys(client_keys)
        self.admin = ClientKeys(admin_keys)
        self.any_keys = self.client.required or self.admin.required
        self._paths: dict[str, tuple[BaseRoute, str]] = {}
        self._patterns: list[tuple[BaseRoute, str]] = []

    @property
    def client_auth(self) -> bool:
        """Whether scoring/inference requests carry a tenant (a client key is required)."""
        return self.client.required

    def bind(self, routes: Iterable[BaseRoute], docs_paths: Iterable[str | None]) -> None:
        """Learn each route's group; raises ValueError for a route without one."""
        docs = {p for p in docs_paths if p}
        paths: dict[str, tuple[BaseRoute, str]] = {}
        patterns: list[tuple[BaseRoute, str]] = []
        for route in flat_routes(list(routes)):
            path = getattr(route, "path", None)
            extra = getattr(route, "openapi_extra", None) or {}
            name = extra.get(OPENAPI_KEY)
            if name is None and path in docs:
                name = "docs"
            if name not in GROUPS:
                raise ValueError(
                    f"route {path!r} declares no auth group (openapi_extra {OPENAPI_KEY}: "
                    f"one of {', '.join(GROUPS)}), got {name!r}"
                )
            if isinstance(path, str) and "{" not in path:
                paths.setdefault(path, (route, name))
            else:
                patterns.append((route, name))
        self._paths, self._patterns = paths, patterns

    def route_of(self, scope: Scope) -> tuple[BaseRoute, str] | None:
        """The route a request is for and its group; None: no such route (a 404)."""
        found = self._paths.get(scope["path"])
        if found is not None:
            return found
        for route, name in self._patterns:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route, name
        return None

    def group_of(self, scope: Scope) -> str | None:
        found = self.route_of(scope)
        return None if found is None else found[1]

    def access(self, group: str) -> Access:
        level: Access = getattr(self.policy, group)
        return level

    def check(self, scope: Scope) -> Denial | None:
        """None when the request may go on (the tenant, if any, is left in the scope)."""
        if not self.any_keys:
            return None
        name = self.group_of(scope)
        if name is None:
            return None
        level = self.access(name)
        if level == "open":
            return None
        token = bearer_token(_header(scope, b"authorization")) or _header(scope, b"x-api-key")
        if level == "client":
            if not self.client.required:
                return None
            tenant = self.client.match(token)
            if tenant is None:
                return _MISSING
            scope[TENANT_SCOPE_KEY] = tenant
            return None
        if not self.admin.required:
            return _NO_ADMIN
        if token is not None and self.admin.verify(token):
            return None
        if token is not None and self.client.required and self.client.verify(token):
            return _NEED_ADMIN
        return _MISSING

    async def throttle(self, scope: Scope) -> Denial | None:
        """The per-client-key rate limit (after `check`): a 429 Denial, else None. The
        verdict is kept in the scope, so a request is counted once whichever way it takes."""
        verdict = scope.get(RATE_SCOPE_KEY)
        if verdict is not None:
            return verdict or None
        denial = None
        tenant = scope.get(TENANT_SCOPE_KEY)
        bucket = self.bucket
        if tenant is not None and bucket is not None:
            wait = await bucket.take(tenant)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                denial = Denial(
                    429,
                    "rate_limit_exceeded",
                    f"rate limit of this key exceeded ({bucket.rate:g} requests/s, burst "
                    f"{bucket.burst}): retry in {seconds} s",
                    retry_after_s=seconds,
                )
                if self.metrics is not None:
                    name = self.group_of(scope) or "unmatched"
                    self.metrics.child(self.metrics.rate_limited, name).inc()
        scope[RATE_SCOPE_KEY] = denial or False
        return denial

    def admit(self, scope: Scope) -> bool:
        """True when the request may go on; marks the scope as checked."""
        if self.check(scope) is not None:
            return False
        scope[AUTH_SCOPE_KEY] = True
        return True


class AuthMiddleware:
    """Pure ASGI: answers a request the policy refuses before its body is read."""

    def __init__(self, app: ASGIApp, *, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            denial = None
            if not scope.get(AUTH_SCOPE_KEY):
                denial = self.gate.check(scope)
                if denial is None:
                    scope[AUTH_SCOPE_KEY] = True
            if denial is None:
                denial = await self.gate.throttle(scope)
            if denial is not None:
                found = self.gate.route_of(scope)
                shape = None
                if found is not None:
                    scope["route"] = found[0]  # the metrics' endpoint label
                    # A route speaking another API's error format answers in it (ingress/).
                    route = getattr(found[0], "route", found[0])  # FastAPI's RouteContext
                    shape = getattr(route, "error_shape", None)
                await send_error(send, denial.error(), headers=denial.headers(), shape=shape)
                return
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None
