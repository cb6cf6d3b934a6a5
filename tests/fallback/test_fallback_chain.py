"""The chain loop on scripted targets and a virtual clock: order, retries, deadline,
fail-fast, larger context, breakers, settle-later streams and metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from llmtriage.fallback import (
    Breakers,
    BreakerSettings,
    Chain,
    ChainExhausted,
    ChainSettings,
    FallbackMetrics,
    RetryPolicy,
)
from llmtriage.providers.errors import (
    ContextWindowExceeded,
    ProviderBadRequest,
    ProviderHTTPError,
    ProviderTimeout,
)
from llmtriage.store import MemoryStore
from tests.fallback.fakes import TRANSPORT, Dep, Scripted, VirtualTime, status

A, B, C = Dep("a"), Dep("b"), Dep("c")
A0 = Dep("a", max_retries=0)  # for tests of what follows a failure, not of retries
RETRY = RetryPolicy(max_retries=2, max_wait_s=5.0, backoff_base_s=0.1, backoff_max_s=1.0)


@pytest.fixture
def time() -> VirtualTime:
    return VirtualTime()


def chain(time: VirtualTime, *, breakers: Breakers | None = None, **kw: object) -> Chain:
    settings = ChainSettings(**{"deadline_s": 30.0, "retry": RETRY, **kw})  # type: ignore[arg-type]
    return Chain(settings, breakers=breakers, clock=time, sleep=time.sleep, rng=lambda: 0.5)


def breakers(time: VirtualTime, store: MemoryStore | None = None) -> Breakers:
    settings = BreakerSettings(window_s=60, min_calls=2, failure_rate=0.5, cooldown_s=10)
    return Breakers(store or MemoryStore(clock=time), settings, clock=time)


async def test_first_answer_wins(time: VirtualTime) -> None:
    call = Scripted(time)
    answered = await chain(time).run([A, B], call)
    assert answered.value == "ok from a" and answered.target is A
    assert call.called() == ["a"] and [x.kind for x in answered.attempts] == ["ok"]


@pytest.mark.parametrize("failure", [500, 502, 503, 529, "connection"])
async def test_a_lone_transient_failure_is_retried_on_the_same(
    time: VirtualTime, failure: int | str
) -> None:
    """Retry before fallback: the deployment the router chose answers after a backoff."""
    error = status(failure) if isinstance(failure, int) else TRANSPORT[failure]()
    call = Scripted(time, {"a": [error]})
    answered = await chain(time).run([A, B], call)
    assert answered.target is A and call.called() == ["a", "a"]
    assert time.slept == [pytest.approx(0.05)]  # rng 0.5 × base 0.1
    assert [x.kind for x in answered.attempts] == [error.kind.value, "ok"]


async def test_a_persistent_5xx_is_retried_then_moves_on(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(500)] * 5})
    answered = await chain(time).run([A, B], call)
    assert call.called() == ["a", "a", "a", "b"] and answered.target is B


async def test_a_5xx_retry_after_is_honoured_when_it_fits(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(503, {"retry-after": "2"})]})
    answered = await chain(time).run([A, B], call)
    assert answered.target is A and time.slept == [2.0]


@pytest.mark.parametrize("failure", ["timeout", "protocol", "stream"])
async def test_timeouts_and_broken_answers_move_on_at_once(
    time: VirtualTime, failure: str
) -> None:
    error = TRANSPORT[failure]()
    call = Scripted(time, {"a": [error]})
    answered = await chain(time).run([A, B], call)
    assert answered.target is B and call.called() == ["a", "b"] and time.slept == []
    assert [x.kind for x in answered.attempts] == [error.kind.value, "ok"]


async def test_429_waits_for_retry_after_then_retries_the_same(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429, {"retry-after-ms": "300"})]})
    answered = await chain(time).run([A, B], call)
    assert answered.target is A and call.called() == ["a", "a"] and time.slept == [0.3]


async def test_persistent_429_retries_max_retries_then_moves_on(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429)] * 5})  # no hint: jittered backoff
    answered = await chain(time).run([A, B], call)
    assert call.called() == ["a", "a", "a", "b"] and answered.target is B
    assert time.slept == [pytest.approx(0.05), pytest.approx(0.1)]  # rng 0.5 × 0.1·2^n


async def test_429_with_a_long_retry_after_moves_on_without_waiting(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429, {"retry-after": "60"})]})
    answered = await chain(time).run([A, B], call)
    assert call.called() == ["a", "b"] and time.slept == [] and answered.target is B


async def test_per_deployment_max_retries(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429)] * 5})
    await chain(time).run([Dep("a", max_retries=0), B], call)
    assert call.called() == ["a", "b"]


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
async def test_4xx_fail_fast_with_the_provider_error(time: VirtualTime, code: int) -> None:
    call = Scripted(time, {"a": [status(code, code="content_policy_violation")]})
    with pytest.raises(ProviderHTTPError) as info:
        await chain(time).run([A, B, C], call)
    assert info.value.status == code
    assert call.called() == ["a"]


async def test_context_length_goes_straight_to_a_larger_window(time: VirtualTime) -> None:
    small, same, large = Dep("small", 8_000), Dep("same", 8_000), Dep("large", 200_000)
    call = Scripted(time, {"small": [status(400, code="context_length_exceeded")]})
    answered = await chain(time).run([small, same, large], call)
    assert call.called() == ["small", "large"] and answered.target is large


async def test_context_length_with_nothing_larger_passes_through(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(400, code="context_length_exceeded")]})
    with pytest.raises(ContextWindowExceeded):
        await chain(time).run([A, B], call)
    assert call.called() == ["a"]


async def test_whole_chain_down_lists_every_attempt(time: VirtualTime) -> None:
    call = Scripted(
        time,
        {"a": [status(500)], "b": [TRANSPORT["connection"]()], "c": [status(503)]},
    )
    deps = [Dep(name, max_retries=0) for name in "abc"]
    with pytest.raises(ChainExhausted) as info:
        await chain(time).run(deps, call)
    kinds = [(x.deployment, x.kind, x.status) for x in info.value.attempts]
    assert kinds == [("a", "server", 500), ("b", "connection", None), ("c", "overloaded", 503)]
    assert "a: HTTP 500 (server)" in str(info.value) and "c: HTTP 503" in str(info.value)


async def test_deadline_bounds_the_chain_and_each_attempt(time: VirtualTime) -> None:
    timeout = ProviderTimeout("ReadTimeout", deployment="x")
    call = Scripted(time, {"a": [timeout], "b": [timeout], "c": [timeout]})
    call.latency = {"a": 4.0, "b": 4.0, "c": 4.0}
    with pytest.raises(ChainExhausted) as info:
        await chain(time, deadline_s=10.0).run([A, B, C, Dep("d")], call)
    totals = [t.total for _, t in call.calls]
    assert totals == [10.0, 6.0, 2.0]  # each call gets at most what is left
    assert [x.kind for x in info.value.attempts][-1] == "deadline"
    assert call.called() == ["a", "b", "c"]


async def test_a_retry_never_waits_past_the_deadline(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429, {"retry-after": "3"})]})
    call.latency = {"a": 8.0}
    await chain(time, deadline_s=10.0).run([A, B], call)
    assert time.slept == [] and call.called() == ["a", "b"]


async def test_disabled_is_one_call_and_the_error_unchanged(time: VirtualTime) -> None:
    call = Scripted(time, {"a": [status(429, {"retry-after-ms": "10"})]})
    with pytest.raises(type(status(429))):
        await chain(time, enabled=False).run([A, B], call)
    assert call.called() == ["a"]


async def test_open_breaker_skips_without_calling(time: VirtualTime) -> None:
    shared = breakers(time)
    call = Scripted(time, {"a": [status(500), status(500)]})
    c = chain(time, breakers=shared)
    await c.run([A0, B], call)
    await c.run([A0, B], call)  # 2/2 failed: a is open now
    answered = await c.run([A0, B], call)
    assert call.called() == ["a", "b", "a", "b", "b"]
    assert [x.kind for x in answered.attempts] == ["breaker_open", "ok"]
    time.now += 10.5  # cooldown over: one probe, it answers, closed again
    answered = await c.run([A0, B], call)
    assert answered.target is A0


async def test_retries_count_against_the_breaker_and_stop_when_it_opens(
    time: VirtualTime,
) -> None:
    call = Scripted(time, {"a": [status(500)] * 5})
    c = chain(time, breakers=breakers(time))
    answered = await c.run([A, B], call)  # 2 failures of 2: open after the first retry
    assert call.called() == ["a", "a", "b"] and answered.target is B
    assert [x.kind for x in (await c.run([A, B], call)).attempts] == ["breaker_open", "ok"]


async def test_4xx_on_a_probe_closes_the_breaker(time: VirtualTime) -> None:
    shared = breakers(time)
    c = chain(time, breakers=shared)
    await c.run([A0, B], Scripted(time, {"a": [status(500)]}))
    await c.run([A0, B], Scripted(time, {"a": [status(500)]}))
    time.now += 10.5
    with pytest.raises(ProviderBadRequest):
        await c.run([A0, B], Scripted(time, {"a": [status(400)]}))
    assert (await c.run([A0, B], Scripted(time))).target is A0


async def test_stream_failure_after_the_first_chunk_reaches_the_breaker(
    time: VirtualTime,
) -> None:
    shared = breakers(time)
    c = chain(time, breakers=shared)
    for _ in range(2):
        answered = await c.run([A, B], Scripted(time), settle_later=True)
        assert answered.target is A
        await answered.settle(TRANSPORT["connection"]())  # cut mid-stream
        await answered.settle(None)  # only the first report counts
        assert answered.attempts[-1].kind == "connection"
    answered = await c.run([A, B], Scripted(time))
    assert answered.target is B  # a is open


async def test_metrics(time: VirtualTime) -> None:
    registry = CollectorRegistry()
    metrics = FallbackMetrics(registry)
    settings = ChainSettings(deadline_s=30.0, retry=RETRY)
    shared = Breakers(
        MemoryStore(clock=time),
        BreakerSettings(window_s=60, min_calls=2, cooldown_s=10),
        clock=time,
        on_state=metrics.breaker,
    )
    c = Chain(settings, breakers=shared, metrics=metrics, clock=time, sleep=time.sleep)
    await c.run([A0, B], Scripted(time, {"a": [status(503)]}))
    await c.run([A0, B], Scripted(time, {"a": [status(503)]}))
    await c.run([A0, B], Scripted(time))

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("llmtriage_fallback_attempts_total", deployment="a", outcome="error") == 2
    assert value("llmtriage_fallback_attempts_total", deployment="a", outcome="skipped") == 1
    assert value("llmtriage_fallback_attempts_total", deployment="b", outcome="ok") == 3
    assert value("llmtriage_fallback_failures_total", deployment="a", kind="overloaded") == 2
    assert value("llmtriage_fallback_failures_total", deployment="a", kind="breaker_open") == 1
    assert value("llmtriage_fallback_requests_total", result="fallback") == 3
    assert value("llmtriage_breaker_state", deployment="a") == 2  # open
    assert value("llmtriage_breaker_state", deployment="b") == 0
