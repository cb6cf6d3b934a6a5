"""Anthropic Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

Requests are routed as chat completions are (rules, classifier, cascade, fallback
chains; llmtriage.server.ingress.messages translates), with the same `x-llmtriage-*` headers.
An Anthropic deployment receives the client's body and `anthropic-version` /
`anthropic-beta` headers unchanged (model replaced) and its answer comes back as it
came; an OpenAI-format deployment gets the translation, and its answer is translated
back. Keys: `x-api-key` or `Authorization: Bearer`. Errors, malformed bodies included,
are Anthropic's `{"type": "error", "error": {"type", "message"}}` with its statuses.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from llmtriage.providers.anthropic_passthrough import FORWARDED_HEADERS, raw_message
from llmtriage.server.auth import group
from llmtriage.server.ingress.count_tokens import COUNT_HEADER, count_tokens
from llmtriage.server.ingress.dialect import ANTHROPIC, Dialect, anthropic_error_responses
from llmtriage.server.ingress.handling import IngressRoute, json_body, validated
from llmtriage.server.ingress.messages import (
    CountTokensBody,
    MessagesBody,
    to_chat_request,
    to_message,
)
from llmtriage.server.ingress.messages_stream import MessagesEvents
from llmtriage.server.ingress.serving import complete, open_stream, relay
from llmtriage.server.ingress.turns import routing_headers
from llmtriage.server.routes.proxy import Routing, _check_bounds, decision_headers


class MessagesRoute(IngressRoute):
    dialect: ClassVar[Dialect] = ANTHROPIC


router = APIRouter(route_class=MessagesRoute, tags=["anthropic"])

MESSAGES_EXAMPLE = {
    "model": "auto",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Prove that the square root of 2 is irrational."}],
}
COUNT_EXAMPLE = {k: v for k, v in MESSAGES_EXAMPLE.items() if k != "max_tokens"}


def _forwarded(request: Request) -> dict[str, str]:
    return {name: value for name in FORWARDED_HEADERS if (value := request.headers.get(name))}


@router.post(
    "/v1/messages",
    response_model=None,
    openapi_extra=group("inference", MESSAGES_EXAMPLE),
    responses=anthropic_error_responses(),
)
async def messages(request: Request, service: Routing) -> Response:
    raw = await json_body(request)
    body: MessagesBody = validated(MessagesBody, raw)
    chat = to_chat_request(body, raw, _forwarded(request))
    _check_bounds(chat, service)
    headers = routing_headers(request.headers.items(), chat.messages)
    if body.stream:
        stream, seen, out = await open_stream(request, service, chat, headers)
        events = relay(stream, seen, MessagesEvents(model=stream.deployment.model))
        return StreamingResponse(events, media_type="text/event-stream", headers=out)
    done, out = await complete(request, service, chat, headers)
    kept = raw_message(done.response)  # an Anthropic deployment's answer, as it came
    if kept is not None:
        return Response(kept, media_type="application/json", headers=out)
    return JSONResponse(to_message(done.response), headers=out)


@router.post(
    "/v1/messages/count_tokens",
    response_model=None,
    openapi_extra=group("inference", COUNT_EXAMPLE),
    responses=anthropic_error_responses(),
)
async def messages_count_tokens(request: Request, service: Routing) -> Response:
    raw = await json_body(request)
    body: CountTokensBody = validated(CountTokensBody, raw)
    chat = to_chat_request(body, raw, _forwarded(request))
    decision = await service.decide(chat, routing_headers(request.headers.items(), chat.messages))
    deployment = service.deployments[decision.deployment]
    tokens, how = await count_tokens(deployment, chat, raw, _forwarded(request))
    headers = decision_headers(decision) | {COUNT_HEADER: how}
    return JSONResponse({"input_tokens": tokens}, headers=headers)
