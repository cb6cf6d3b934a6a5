"""`previous_response_id`: each stored response's conversation, in the app's shared store.

A response is stored (unless the request says `store: false`) as the chat messages of
its conversation, input and output, without `instructions` (which the API does not
carry over). Keys are digests of the client key and the response id, so one client
cannot read another's conversations; entries expire after `TTL_S`. Apps without a
shared store (a bare proxy app) cannot chain responses: a 400 says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from fastapi import Request

from llmtriage.providers.types import JSONObject
from llmtriage.server.errors import ApiError
from llmtriage.server.state import STATE_KEY, AppState
from llmtriage.store.base import Store
from llmtriage.store.keys import KeySpace

TTL_S = 24 * 3600.0


@dataclass(frozen=True)
class ResponseStore:
    store: Store
    keys: KeySpace
    ttl_s: float = TTL_S

    def _key(self, tenant: str, response_id: str) -> str:
        return f"{self.keys.prefix}resp:{self.keys.digest('response', tenant, response_id)}"

    async def load(self, tenant: str, response_id: str) -> list[JSONObject]:
        raw = await self.store.get(self._key(tenant, response_id))
        if raw is None:
            raise ApiError(
                f"Previous response with id '{response_id}' not found.",
                status=400,
                param="previous_response_id",
                code="previous_response_not_found",
            )
        messages: list[JSONObject] = json.loads(raw)
        return messages

    async def save(self, tenant: str, response_id: str, messages: list[JSONObject]) -> None:
        blob = json.dumps(messages, separators=(",", ":")).encode()
        await self.store.set(self._key(tenant, response_id), blob, ttl_s=self.ttl_s)


def store_of(request: Request) -> ResponseStore | None:
    state = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(state, AppState) or state.shared is None:
        return None
    return ResponseStore(state.shared.store, state.shared.keys)


def no_store() -> ApiError:
    return ApiError(
        "previous_response_id needs a response store, and this server has none (run it "
        "with `llmtriage serve`, whose shared store keeps responses)",
        status=400,
        param="previous_response_id",
        code="previous_response_unsupported",
    )
