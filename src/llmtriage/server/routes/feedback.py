"""`POST /v1/feedback`: a client's judgement of one answered request, joined to the
decision log by the `x-llmtriage-decision-id` the answer carried.

    {"decision_id": "…", "score": 0.8}                  a quality score in [0, 1]
    {"decision_id": "…", "label": "bad", "comment": "…"}  or a label: good = 1, bad = 0

Idempotent per decision id: sending it again replaces the earlier verdict (one
"feedback" verdict per decision). An unknown id, one pruned by retention, one of
another client key, or any id while the decision log is off: 404. The log's store
unreachable: 503. Authenticated like the inference endpoints.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtriage.learning.capture import client_digest
from llmtriage.learning.log import DecisionLog
from llmtriage.learning.record import FEEDBACK, LABEL_SCORES, Verdict
from llmtriage.learning.store import DecisionStoreError
from llmtriage.server.auth import group
from llmtriage.server.errors import BODY_ERRORS, RATE_ERRORS, ApiError, error_responses
from llmtriage.server.routes.score import JSONBodyRoute, json_response
from llmtriage.server.state import request_telemetry

router = APIRouter(tags=["learning"], route_class=JSONBodyRoute)


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    decision_id: str = Field(min_length=1, max_length=64)
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    label: Literal["good", "bad"] | None = None
    comment: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _one_judgement(self) -> FeedbackRequest:
        if (self.score is None) == (self.label is None):
            raise ValueError("give exactly one of score (0..1) or label (good|bad)")
        return self


class FeedbackResponse(BaseModel):
    object: Literal["feedback"] = "feedback"
    decision_id: str
    source: str
    score: float
    label: Literal["good", "bad"] | None
    comment: str | None


EXAMPLE = {"decision_id": "9f0c2d0e6a1b4c3d8e7f6a5b4c3d2e1f", "label": "good"}


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    openapi_extra=group("inference", EXAMPLE),
    responses=error_responses(
        BODY_ERRORS,
        RATE_ERRORS,
        {
            404: "No logged decision has this id (unknown, pruned, another client's, or the "
            "decision log is off)",
            503: "The decision log's store is not reachable",
        },
    ),
)
async def feedback(body: FeedbackRequest, request: Request) -> Response:
    telemetry = request_telemetry(request)
    log = telemetry.decision_log if telemetry is not None else None
    if log is None:
        raise _unknown(body.decision_id, " (the decision log is off)")
    score = body.score if body.score is not None else LABEL_SCORES[str(body.label)]
    verdict = Verdict(
        decision_id=body.decision_id,
        source=FEEDBACK,
        score=score,
        label=body.label,
        comment=body.comment,
    )
    try:
        await _check_owner(log, body.decision_id, request)
        stored = await log.put_verdict(verdict)
    except DecisionStoreError as exc:
        raise ApiError(
            "the decision log's store is not reachable; try again later",
            status=503,
            code="decision_log_unavailable",
        ) from exc
    if not stored:  # pruned between the two calls
        raise _unknown(body.decision_id)
    return json_response(
        FeedbackResponse(
            decision_id=verdict.decision_id,
            source=verdict.source,
            score=verdict.score,
            label=verdict.label,
            comment=verdict.comment,
        ).model_dump()
    )


async def _check_owner(log: DecisionLog, decision_id: str, request: Request) -> None:
    record = await log.find(decision_id)
    # Another client's decision looks unknown: ids are not to be probed across tenants.
    if record is None or (
        record.client is not None and record.client != client_digest(log.hash_key, request.headers)
    ):
        raise _unknown(decision_id)


def _unknown(decision_id: str, why: str = "") -> ApiError:
    shown = decision_id if decision_id.isalnum() else "the given id"
    return ApiError(
        f"no logged decision has id {shown}{why}",
        status=404,
        param="decision_id",
        code="decision_not_found",
    )
