"""`POST /v1/score` and `POST /v1/score/batch`.

Bodies are parsed and validated in one pydantic-core call (`JSONBodyRoute`), not
by FastAPI's generic request handler: that handler (dependency solving, exit
stacks, telemetry hooks, then `json.loads` and a second validation pass) costs
about 70 µs more a request on the 2-core dev machine (measured with the tiny model).
Routing, the OpenAPI schema and the exception handlers stay FastAPI's.

Scoring runs inline in the async handler. It is CPU-bound (0.3–0.6 ms for a short
prompt with the static embedder on the 2-core dev machine) and holds the GIL, so a
threadpool would add no parallelism, only a hand-off that costs 0.1–0.2 ms more
per request (`python -m bench.run --only threadpool`). Batches are bounded by
`max_batch` and prompts by `max_prompt_chars`, which bounds how long one request
can hold the event loop.

`/v1/score` asks the decision cache first (key: the whitespace-normalised text, the
artifact version, its thresholds and the truncation limit): a hit, from this replica or
another one sharing Redis, skips embedding and scoring and answers `cached: true`.
Batches are scored without the cache: one store round trip per item would cost more
than the batched scoring it saves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Annotated, Any, cast, get_type_hints

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import from_json, to_json

from llmtriage.scoring.manifest import Thresholds
from llmtriage.scoring.scorer import Assessment
from llmtriage.server.auth import TENANT_SCOPE_KEY, group
from llmtriage.server.errors import BODY_ERRORS, RATE_ERRORS, ApiError, error_responses
from llmtriage.server.routes.direct import declares_only, log_framework_handler
from llmtriage.server.state import AppState, ModelState, request_state
from llmtriage.store.decision_cache import CachedScore
from llmtriage.text import content_text, truncate


class JSONBodyRoute(APIRoute):
    """An APIRoute whose endpoint is `async def f(body: Model, request: Request)`.

    The body is parsed with `Model.model_validate_json` (JSON parsing and
    validation in Rust, one pass); errors raise the same exceptions FastAPI's own
    handler would, so `install_error_handlers` shapes them. The endpoint's
    signature still documents the body in OpenAPI. An endpoint (or router) that
    declares anything more, such as a `Depends`, gets FastAPI's own handler
    (routes/direct.py), so nothing it declares is skipped.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        if not declares_only(self.dependant, "body"):
            log_framework_handler(self.path)
            return super().get_route_handler()
        model: type[BaseModel] = get_type_hints(self.endpoint)["body"]
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            body = parse_json_body(model, request.headers.get("content-type"), await request.body())
            return cast(Response, await endpoint(body, request))

        return handler


def parse_json_body(
    model: type[BaseModel], content_type: str | None, raw: bytes, *, strict: bool = False
) -> BaseModel:
    """`raw` validated as `model`. `strict`: no coercion (a bool is no number, a string no
    bool) and no NaN or Infinity anywhere in the body, for bodies passed on upstream."""
    if content_type is None or not _is_json(content_type):
        raise ApiError(
            "request body must be JSON sent with 'Content-Type: application/json'",
            status=415,
            code="unsupported_media_type",
        )
    try:
        if strict:
            return model.model_validate(_strict_json(raw), strict=True)
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid" and not _is_utf8(raw):
            raise ApiError(
                "request body is not valid UTF-8", status=400, code="invalid_utf8"
            ) from exc
        located = [{**e, "loc": ("body", *e["loc"])} for e in errors]
        raise RequestValidationError(located) from exc


def _strict_json(raw: bytes) -> Any:
    try:
        return from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        if not _is_utf8(raw):
            raise ApiError(
                "request body is not valid UTF-8", status=400, code="invalid_utf8"
            ) from exc
        raise ApiError(
            f"request body is not valid JSON: {exc}", status=400, code="invalid_json"
        ) from exc


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


router = APIRouter(tags=["scoring"], route_class=JSONBodyRoute)


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must contain text to score")
    return text


Prompt = Annotated[str, AfterValidator(_not_blank)]


class Message(BaseModel):
    """An OpenAI chat message; only `role` and text `content` matter for scoring."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ScoreItem(BaseModel):
    """Exactly one of `prompt` or `messages` (the last user turn is scored)."""

    model_config = ConfigDict(extra="forbid")

    prompt: Prompt | None = None
    messages: list[Message] | None = Field(default=None, min_length=1)

    @field_validator("messages")
    @classmethod
    def _has_user_text(cls, messages: list[Message] | None) -> list[Message] | None:
        if messages is not None and not last_user_text(messages).strip():
            raise ValueError("has no user turn with text to score")
        return messages

    @model_validator(mode="after")
    def _exactly_one(self) -> ScoreItem:
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("give exactly one of 'prompt' or 'messages'")
        return self

    def text(self) -> str:
        return self.prompt if self.prompt is not None else last_user_text(self.messages or [])


class BatchRequest(BaseModel):
    """Exactly one of `prompts` (strings) or `items` (each a `ScoreItem`), at most `max_batch`."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[Prompt] | None = Field(default=None, min_length=1)
    items: list[ScoreItem] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchRequest:
        if (self.prompts is None) == (self.items is None):
            raise ValueError("give exactly one of 'prompts' or 'items'")
        return self

    def texts(self) -> tuple[str, list[str]]:
        if self.prompts is not None:
            return "prompts", self.prompts
        return "items", [item.text() for item in self.items or []]


class ScoreResult(BaseModel):
    score: float = Field(description="Complexity in [0, 1]; higher favours the strong model.")
    tier: str
    truncated: bool = Field(description="The text was cut to max_prompt_chars (head + tail kept).")
    scored_chars: int
    novelty: float | None = Field(
        description="How unlike the scorer's training data the text is (1 − cosine similarity "
        "to the nearest training centroid); null when the artifact has no novelty model."
    )
    novel: bool = Field(
        description="novelty is above the artifact's threshold (calibrated so that about 5% "
        "of held-out in-distribution prompts exceed it): the score is an extrapolation."
    )


class ScoreResponse(ScoreResult):
    model_version: str
    thresholds: Thresholds
    cached: bool = Field(
        description="The score came from the decision cache (the same text scored before "
        "by this or another replica, within cache_ttl_s)."
    )


class BatchResponse(BaseModel):
    model_version: str
    thresholds: Thresholds
    results: list[ScoreResult]


ERRORS = error_responses(
    BODY_ERRORS,
    RATE_ERRORS,
    {
        422: "Wrong shape, empty prompt, or batch over max_batch",
        503: "Model not loaded (see /readyz)",
    },
)


@router.post(
    "/v1/score",
    response_model=ScoreResponse,
    responses=ERRORS,
    openapi_extra=group("scoring", {"prompt": "Prove that the square root of 2 is irrational."}),
)
async def score(body: ScoreItem, request: Request) -> Response:
    state = request_state(request)
    tenant = request.scope.get(TENANT_SCOPE_KEY)
    return json_response(await score_one(state, _model(state), body.text(), tenant))


async def score_one(
    state: AppState, model: ModelState, text: str, tenant: str | None = None
) -> dict[str, Any]:
    """The /v1/score answer for one text: from the decision cache when it has it.

    `tenant` (the client key's digest when client keys are required) partitions the
    cache: one client cannot learn from `cached` what another scored."""
    cache = state.shared.cache if state.shared is not None else None
    if cache is None:
        result = (await _score_texts(state, model, [text], kind="single"))[0]
        result["cached"] = False
    else:
        key, hit = await cache.lookup(model.cache_scope, text, tenant)
        if hit is not None:
            result = await _describe(state, model, text, Assessment(hit.score, hit.novelty))
            result["cached"] = True
        else:
            result = (await _score_texts(state, model, [text], kind="single"))[0]
            result["cached"] = False
            await cache.put(key, CachedScore(result["score"], result["tier"], result["novelty"]))
    result["model_version"] = model.scorer.model_version
    result["thresholds"] = model.thresholds
    return result


def json_body(content: Any) -> bytes:
    """Compact JSON encoded in Rust (pydantic-core), cheaper than `json.dumps` per request."""
    return to_json(content)


def json_response(content: Any) -> Response:
    return Response(json_body(content), media_type="application/json")


@router.post(
    "/v1/score/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra=group("scoring", {"prompts": ["What is 2 + 2?", "Prove Fermat's last theorem."]}),
)
async def score_batch(body: BatchRequest, request: Request) -> Response:
    state = request_state(request)
    model = _model(state)
    field, texts = body.texts()
    limit = state.settings.max_batch
    if len(texts) > limit:
        raise ApiError(
            f"{field}: {len(texts)} items exceed max_batch={limit}; split the batch",
            status=422,
            param=field,
            code="batch_too_large",
        )
    results = await _score_texts(state, model, texts, kind="batch")
    return json_response(
        {
            "model_version": model.scorer.model_version,
            "thresholds": model.thresholds,
            "results": results,
        }
    )


def last_user_text(messages: Sequence[Message]) -> str:
    """Same choice as `llmtriage.text.scored_text`, on validated messages."""
    for message in reversed(messages):
        if message.role == "user":
            return content_text(message.content)
    return ""


def _model(state: AppState) -> ModelState:
    if state.model is None:
        raise ApiError(state.not_ready_reason, status=503, code="not_ready")
    return state.model


async def _score_texts(
    state: AppState, model: ModelState, texts: list[str], *, kind: str
) -> list[dict[str, Any]]:
    limit = model.max_chars
    cut = [truncate(t, limit) for t in texts] if model.pre_truncate else texts
    started = time.perf_counter()
    assessments = model.scorer.assess_batch(cut)
    metrics = state.metrics
    metrics.child(metrics.scoring_latency, kind).observe(time.perf_counter() - started)
    return [
        await _describe(state, model, text, assessment)
        for text, assessment in zip(texts, assessments, strict=True)
    ]


async def _describe(
    state: AppState, model: ModelState, text: str, assessment: Assessment
) -> dict[str, Any]:
    """The result fields for one scored text (fresh or cached), counted in the metrics."""
    limit = model.max_chars
    value = assessment.score
    tier = model.scorer.tier(value)
    truncated = len(text) > limit
    novelty_model = model.scorer.novelty_model
    novel = (
        assessment.novelty is not None
        and novelty_model is not None
        and novelty_model.is_novel(assessment.novelty)
    )
    state.metrics.observe_score(value, tier, truncated, novel=novel)
    if state.shared is not None:
        await state.shared.telemetry.scored(value, tier)
    return {
        "score": value,
        "tier": tier,
        "truncated": truncated,
        "scored_chars": min(len(text), limit),
        "novelty": assessment.novelty,
        "novel": novel,
    }
