"""The auth policy over every route of the full service (server/auth.py).

The route table is read from the app's router, so a route added later without an auth
group fails `test_every_route_declares_a_known_group` (and the app's start), and one with
a group is walked by `test_every_route_follows_the_policy` with real requests.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from llmtriage.errors import ConfigError
from llmtriage.server.app import create_app, create_service
from llmtriage.server.auth import OPENAPI_KEY, AuthPolicy, flat_routes
from llmtriage.server.settings import ServeSettings
from tests.server.helpers import assert_openai_error, serve

CLIENT, OTHER_CLIENT, ADMIN = "client-key-1", "client-key-2", "admin-key-1"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# Who may call what, by path: the README's table. A new route must be added here.
EXPECTED_GROUPS = {
    "/v1/chat/completions": "inference",
    "/v1/route": "inference",
    "/v1/models": "inference",
    "/v1/messages": "inference",
    "/v1/messages/count_tokens": "inference",
    "/v1/responses": "inference",
    "/v1/score": "scoring",
    "/v1/score/batch": "scoring",
    "/v1/stats": "stats",
    "/v1/stats/traffic": "stats",
    "/v1/stats/scores": "stats",
    "/v1/stats/deployments": "stats",
    "/v1/stats/decisions": "stats",
    "/v1/stats/whatif": "stats",
    "/v1/feedback": "inference",
    "/console": "docs",
    "/console/static/{name}": "docs",
    "/metrics": "metrics",
    "/v1/admin/reload": "admin",
    "/healthz": "health",
    "/readyz": "health",
    "/openapi.json": "docs",
    "/docs": "docs",
    "/docs/oauth2-redirect": "docs",
    "/redoc": "docs",
}


def service(tiny_artifact: Path, **settings: Any) -> FastAPI:
    keys: dict[str, Any] = {
        "client_key_hashes": [digest(CLIENT), digest(OTHER_CLIENT)],
        "admin_key_hashes": [digest(ADMIN)],
    }
    return create_service(ServeSettings(model=tiny_artifact, **(keys | settings)), env={})


def routes_of(app: FastAPI) -> list[tuple[str, str, str]]:
    """(path, method, group) for every route of the app, from its router."""
    found = []
    for route in flat_routes(app.routes):
        path = getattr(route, "path", None)
        extra = getattr(route, "openapi_extra", None) or {}
        group = extra.get(OPENAPI_KEY) or ("docs" if path in EXPECTED_GROUPS else None)
        if EXPECTED_GROUPS.get(path) == "docs":
            group = "docs"
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                found.append((str(path), method, str(group)))
    return found


def test_every_route_declares_a_known_group(tiny_artifact: Path) -> None:
    routes = routes_of(service(tiny_artifact))
    assert {path for path, _, _ in routes} == set(EXPECTED_GROUPS)
    for path, _, group in routes:
        assert group == EXPECTED_GROUPS[path], path


def test_policy_defaults_are_the_documented_ones() -> None:
    assert AuthPolicy().model_dump() == {
        "inference": "client",
        "scoring": "client",
        "stats": "admin",
        "metrics": "admin",
        "admin": "admin",
        "health": "open",
        "docs": "open",
    }


def _auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"authorization": f"Bearer {key}"}


async def _call(client: httpx.AsyncClient, method: str, path: str, key: str | None) -> int:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], "prompt": "hi"}
    kwargs: dict[str, Any] = {"headers": _auth(key)}
    if method == "POST":
        kwargs["json"] = body
    return (await client.request(method, path, **kwargs)).status_code


@pytest.mark.parametrize(
    "policy",
    [{}, {"metrics": "open", "stats": "client", "scoring": "admin", "health": "admin"}],
    ids=["defaults", "custom"],
)
async def test_every_route_follows_the_policy(tiny_artifact: Path, policy: dict[str, str]) -> None:
    app = service(tiny_artifact, auth=AuthPolicy(**policy))
    levels = AuthPolicy(**policy)
    async with serve(app) as client:
        for path, method, group in routes_of(app):
            level = getattr(levels, group)
            seen = {
                who: await _call(client, method, path, key)
                for who, key in (
                    ("none", None),
                    ("wrong", "not-a-key"),
                    ("client", CLIENT),
                    ("admin", ADMIN),
                )
            }
            where = f"{method} {path} ({group}: {level}) -> {seen}"
            if level == "open":
                assert all(s not in (401, 403) for s in seen.values()), where
            elif level == "client":
                assert seen["none"] == seen["wrong"] == seen["admin"] == 401, where
                assert seen["client"] not in (401, 403), where
            else:
                assert seen["none"] == seen["wrong"] == 401, where
                assert seen["client"] == 403, where
                assert seen["admin"] not in (401, 403), where


async def test_refusals_are_openai_errors_and_counted(tiny_artifact: Path) -> None:
    app = service(tiny_artifact)
    async with serve(app) as client:
        missing = await client.post("/v1/score", json={"prompt": "hi"})
        assert_openai_error(missing, 401, "invalid_api_key")
        assert missing.headers["www-authenticate"] == "Bearer"
        forbidden = await client.get("/metrics", headers=_auth(CLIENT))
        assert_openai_error(forbidden, 403, "admin_key_required")
        ok = await client.post("/v1/score", json={"prompt": "hi"}, headers=_auth(CLIENT))
        assert ok.status_code == 200
        metrics = (await client.get("/metrics", headers=_auth(ADMIN))).text
    assert 'endpoint="/v1/score",method="POST",status="401"' in metrics
    assert 'endpoint="/metrics",method="GET",status="403"' in metrics
    assert 'endpoint="/v1/score",method="POST",status="200"' in metrics


async def test_no_keys_configured_leaves_every_route_open(tiny_artifact: Path) -> None:
    app = create_service(ServeSettings(model=tiny_artifact), env={})
    async with serve(app) as client:
        for path, method, _ in routes_of(app):
            assert await _call(client, method, path, None) not in (401, 403), path


async def test_admin_routes_refused_while_only_client_keys_exist(tiny_artifact: Path) -> None:
    app = service(tiny_artifact, admin_key_hashes=[])
    async with serve(app) as client:
        for key in (None, CLIENT):
            refused = await client.get("/v1/stats", headers=_auth(key))
            error = assert_openai_error(refused, 401, "admin_key_required")
            assert "admin_key_hashes" in error["message"]
        assert (await client.get("/healthz")).status_code == 200


async def test_routing_config_keys_are_client_keys(tiny_artifact: Path, tmp_path: Path) -> None:
    from llmtriage.routing.loading import DEFAULT_CONFIG

    config = tmp_path / "routing.yaml"
    packaged = DEFAULT_CONFIG.read_text()
    assert "  api_key_hashes: []" in packaged
    config.write_text(
        packaged.replace("  api_key_hashes: []", f"  api_key_hashes: [{digest(CLIENT)}]")
    )
    settings = ServeSettings(model=tiny_artifact, routing_config=config)
    async with serve(create_service(settings, env={})) as client:
        assert (await client.post("/v1/score", json={"prompt": "hi"})).status_code == 401
        scored = await client.post("/v1/score", json={"prompt": "hi"}, headers=_auth(CLIENT))
        assert scored.status_code == 200
        # Client keys but no admin key: stats are refused to everyone.
        assert (await client.get("/v1/stats", headers=_auth(CLIENT))).status_code == 401


def test_a_route_without_a_group_stops_the_app(tiny_artifact: Path) -> None:
    extra = APIRouter()

    @extra.get("/v1/forgotten")
    async def forgotten() -> dict[str, bool]:
        return {"ok": True}

    with pytest.raises(ConfigError, match="/v1/forgotten"):
        create_app(ServeSettings(model=tiny_artifact), routers=[extra])


def test_settings_refuse_a_plain_key() -> None:
    with pytest.raises(ValueError, match="sha256"):
        ServeSettings(admin_key_hashes=["my-plain-admin-key"])
