"""The long run's upstreams in their own process: a primary that fails a share of its
calls in mixed ways (every fault of the fake: before its first byte, and mid-stream,
where the proxy resumes on the healthy one) and a healthy deployment. Prints
{"primary": port, "healthy": port} and serves until its stdin closes.

    python -m tests.chaos.upstream_main --failure-rate 0.3 --latency-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys

from tests.chaos.upstream import (
    Act,
    FakeUpstream,
    cut,
    http,
    malformed,
    no_done,
    ok,
    reset,
    silent,
    slow,
    stall,
)

# (weight, act): the mix of the primary's failures.
FAILURES: list[tuple[float, Act]] = [
    (3, http(500, "internal error")),
    (2, http(503, "service unavailable")),
    (2, http(529, "overloaded")),
    (2, http(429, "rate limited", retry_after="30")),  # longer than max_retry_wait_s
    (2, reset()),
    (1, malformed(0)),
    (1, malformed(2, count=4)),  # past the limit of 3: the stream breaks midway
    (1, cut(0)),
    (1, cut(3)),  # after "answer from": resumed on healthy (a whole answer: retried)
    (1, stall(3)),  # costs the idle timeout (a whole answer: read)
    (1, no_done()),  # complete all the same
    (0.5, slow(1.5)),  # first token after first_token (a whole answer just waits)
    (0.5, silent()),  # costs its first_token timeout (a whole answer: read)
]


def chooser(rate: float, seed: int) -> object:
    rng = random.Random(seed)
    weights = [w for w, _ in FAILURES]
    acts = [a for _, a in FAILURES]

    def choose(_: int) -> Act:
        if rng.random() >= rate:
            return ok()
        return rng.choices(acts, weights)[0]

    return choose


async def serve(args: argparse.Namespace) -> None:
    primary = FakeUpstream("primary", latency_s=args.latency_ms / 1000)
    healthy = FakeUpstream("healthy", latency_s=args.latency_ms / 1000)
    primary.chooser = chooser(args.failure_rate, args.seed)  # type: ignore[assignment]
    await primary.start()
    await healthy.start()
    print(json.dumps({"primary": primary.port, "healthy": healthy.port}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    await primary.stop()
    await healthy.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--failure-rate", type=float, default=0.3)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(serve(args))
    except ImportError:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
