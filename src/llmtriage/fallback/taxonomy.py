"""What one failed call means for the chain: retry here, move on, go wider, or stop.

One table, keyed by the provider error's `kind` (providers/errors.py), never by its text:

    kind            upstream                             action          breaker
    rate_limited    429                                  RETRY           down
    overloaded      503, 529                             RETRY           down
    server          500, 502, 504, other 5xx, 408        RETRY           down
    connection      refused, reset, dropped mid-body     RETRY           down
    timeout         connect / first token / read / total NEXT            down
    stream          error event inside a 200 stream      NEXT            down
    protocol        unparseable body, a stream cut short NEXT            down
    key_missing     no API key here: nothing was sent    NEXT            (nothing learnt)
    context_window  400 "context length exceeded"        LARGER_CONTEXT  up
    bad_request     400 / 409 / 413 / 422, content policy FAIL_FAST      up
    not_found       404                                  FAIL_FAST       up
    auth            401, 403                             FAIL_FAST       up

RETRY waits for `Retry-After` / `retry-after-ms` (else a jittered backoff) and calls the
same deployment again, at most `max_retries` times (default 1); a wait past
`max_retry_wait_s` or the request deadline moves on at once instead (retry.py). A lone
5xx or reset is usually gone a moment later, and the deployment the router chose is the
one that should answer; a timeout has already cost its bound, so it moves on.
LARGER_CONTEXT makes one attempt only and keeps, of the rest of the chain, the
deployments with a larger context window.
FAIL_FAST ends the request with the provider's error: another deployment would refuse
the same request. "up" means the deployment answered properly, so a half-open breaker
closes on it; "down" counts against the breaker.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from llmtriage.providers.errors import ErrorKind, ProviderCallError


class Action(StrEnum):
    RETRY = "retry"  # same deployment after a wait, else NEXT
    NEXT = "next"  # the chain's next deployment
    LARGER_CONTEXT = "larger_context"  # the next deployment with a larger context window
    FAIL_FAST = "fail_fast"  # stop: the client gets this error


class Health(StrEnum):
    """What the failure says about the deployment, for its circuit breaker."""

    DOWN = "down"
    UP = "up"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Rule:
    action: Action
    health: Health


TABLE: dict[ErrorKind, Rule] = {
    ErrorKind.RATE_LIMITED: Rule(Action.RETRY, Health.DOWN),
    ErrorKind.OVERLOADED: Rule(Action.RETRY, Health.DOWN),
    ErrorKind.SERVER: Rule(Action.RETRY, Health.DOWN),
    ErrorKind.CONNECTION: Rule(Action.RETRY, Health.DOWN),
    ErrorKind.TIMEOUT: Rule(Action.NEXT, Health.DOWN),
    ErrorKind.STREAM: Rule(Action.NEXT, Health.DOWN),
    ErrorKind.PROTOCOL: Rule(Action.NEXT, Health.DOWN),
    ErrorKind.KEY_MISSING: Rule(Action.NEXT, Health.UNKNOWN),
    ErrorKind.CONTEXT_WINDOW: Rule(Action.LARGER_CONTEXT, Health.UP),
    ErrorKind.BAD_REQUEST: Rule(Action.FAIL_FAST, Health.UP),
    ErrorKind.NOT_FOUND: Rule(Action.FAIL_FAST, Health.UP),
    ErrorKind.AUTH: Rule(Action.FAIL_FAST, Health.UP),
}


def classify(error: ProviderCallError) -> Rule:
    return TABLE[error.kind]
