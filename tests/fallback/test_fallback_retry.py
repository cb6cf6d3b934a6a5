"""Retry waits: provider hints first, full-jitter backoff otherwise, never past limits."""

from __future__ import annotations

import email.utils
import time

import pytest

from llmtriage.fallback.retry import RetryPolicy
from tests.fallback.fakes import TRANSPORT, status

POLICY = RetryPolicy(max_retries=3, max_wait_s=5.0, backoff_base_s=0.5, backoff_max_s=4.0)


def wait(
    error: Exception, *, retry: int = 0, remaining: float = 60.0, rng: float = 0.5
) -> float | None:
    return POLICY.wait(
        error,  # type: ignore[arg-type]
        retry=retry,
        max_retries=3,
        remaining_s=remaining,
        rng=lambda: rng,
    )


def test_retry_after_seconds_is_honoured() -> None:
    assert wait(status(429, {"retry-after": "2"})) == 2.0


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert wait(status(429, {"retry-after-ms": "150", "retry-after": "9"})) == 0.15


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 3, usegmt=True)
    waited = wait(status(429, {"retry-after": when}))
    assert waited is not None and 1.0 < waited <= 3.0


def test_hint_longer_than_max_wait_moves_on() -> None:
    assert wait(status(429, {"retry-after": "30"})) is None


def test_wait_that_would_pass_the_deadline_moves_on() -> None:
    assert wait(status(429, {"retry-after": "2"}), remaining=1.5) is None
    assert wait(status(429, {"retry-after": "2"}), remaining=2.5) == 2.0


def test_retries_are_bounded() -> None:
    assert wait(status(429), retry=2) is not None
    assert wait(status(429), retry=3) is None


@pytest.mark.parametrize("retry", [0, 1, 2, 3, 8])
def test_backoff_is_full_jitter_under_a_cap(retry: int) -> None:
    cap = min(4.0, 0.5 * 2**retry)
    assert POLICY.backoff(retry, lambda: 0.0) == 0.0
    assert POLICY.backoff(retry, lambda: 0.999999) == pytest.approx(cap, rel=1e-5)
    assert POLICY.backoff(retry, lambda: 0.5) == pytest.approx(cap / 2)


def test_without_a_hint_the_backoff_is_used() -> None:
    assert wait(status(429), retry=1, rng=0.25) == pytest.approx(0.25 * 1.0)
    assert wait(TRANSPORT["connection"](), retry=0, rng=0.5) == pytest.approx(0.25)


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="backoff"):
        RetryPolicy(backoff_base_s=2.0, backoff_max_s=1.0)
    with pytest.raises(ValueError, match="negative"):
        RetryPolicy(max_retries=-1)
