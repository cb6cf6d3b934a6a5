"""OpenAI Responses API: `POST /v1/responses`.

Routed as chat completions are (rules, classifier, cascade, fallback chains), with the
same `x-llmtriage-*` headers; no deployment speaks the Responses API, so the request is
translated to Chat Completions (the Anthropic provider goes on to Messages) and the answer
back (llmtriage.server.ingress.responses). `previous_response_id` reads the conversation from
the app's shared store (ingress/responses_store.py). Errors are OpenAI's shape.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from llmtriage.providers.types import JSONObject
from llmtriage.server.auth import group
from llmtriage.server.errors import BODY_ERRORS, error_responses
from llmtriage.server.ingress.dialect import OPENAI, Dialect
from llmtriage.server.ingress.handling import IngressRoute, json_body, tenant_of, validated
from llmtriage.server.ingress.responses import (
    ResponsesBody,
    assistant_message,
    conversation,
    new_id,
    output_of,
    response_object,
    to_chat_request,
)
from llmtriage.server.ingress.responses_store import ResponseStore, no_store, store_of
from llmtriage.server.ingress.responses_stream import ResponsesEvents
from llmtriage.server.ingress.serving import complete, open_stream, relay
from llmtriage.server.ingress.turns import routing_headers
from llmtriage.server.routes.proxy import CHAT_ERRORS, UPSTREAM_ERRORS, Routing, _check_bounds


class ResponsesRoute(IngressRoute):
    dialect: ClassVar[Dialect] = OPENAI


router = APIRouter(route_class=ResponsesRoute, tags=["openai-responses"])

RESPONSES_EXAMPLE = {
    "model": "auto",
    "instructions": "Answer briefly.",
    "input": "Prove that the square root of 2 is irrational.",
}


@router.post(
    "/v1/responses",
    response_model=None,
    openapi_extra=group("inference", RESPONSES_EXAMPLE),
    responses=error_responses(BODY_ERRORS, CHAT_ERRORS, UPSTREAM_ERRORS),
)
async def responses(request: Request, service: Routing) -> Response:
    body: ResponsesBody = validated(ResponsesBody, await json_body(request))
    store = store_of(request)
    tenant = tenant_of(request)
    prior: list[JSONObject] = []
    if body.previous_response_id is not None:
        if store is None:
            raise no_store()
        prior = await store.load(tenant, body.previous_response_id)
    messages = conversation(body, prior)
    chat = to_chat_request(body, messages)
    _check_bounds(chat, service)
    headers = routing_headers(request.headers.items(), chat.messages)
    response_id = new_id("resp")
    keep = store if body.store else None
    if body.stream:
        stream, seen, out = await open_stream(request, service, chat, headers)
        writer = ResponsesEvents(response_id, body, model=stream.deployment.model)

        async def save() -> None:
            await _save(keep, tenant, response_id, messages, writer.output)

        events = relay(stream, seen, writer, on_end=save)
        return StreamingResponse(events, media_type="text/event-stream", headers=out)
    done, out = await complete(request, service, chat, headers)
    output, finish = output_of(done.response)
    model = done.response.model or done.served.config.model
    answer = response_object(
        response_id, body, model=model, output=output, usage=done.response.usage,
        finish_reason=finish,
    )  # fmt: skip
    await _save(keep, tenant, response_id, messages, output)
    return JSONResponse(answer, headers=out)


async def _save(
    store: ResponseStore | None,
    tenant: str,
    response_id: str,
    messages: list[JSONObject],
    output: list[JSONObject],
) -> None:
    if store is None:
        return
    reply = assistant_message(output)
    await store.save(tenant, response_id, [*messages, reply] if reply else messages)
