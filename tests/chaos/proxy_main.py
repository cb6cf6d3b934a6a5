"""The long run's proxy in its own process (uvicorn, uvloop, httptools), its breakers in
Redis behind a FailOpenStore, as a replica of the real service would have them.
`/metrics` serves the fallback metrics, `/_store` how often Redis was missed.

    python -m tests.chaos.proxy_main --config routing.json --redis-url URL --port P
"""

from __future__ import annotations

import argparse
import gc
import json
from pathlib import Path

import uvicorn
from pydantic import SecretStr

from llmtriage.routing import parse_routing_config
from llmtriage.store import FailOpenStore, KeySpace, MemoryStore, RedisConfig, Store
from llmtriage.store.redis import RedisStore
from tests.chaos.harness import proxy_app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    config = parse_routing_config(json.loads(Path(args.config).read_text()))

    def store() -> Store:
        redis = RedisStore(RedisConfig(url=SecretStr(args.redis_url), socket_timeout_s=0.5))
        return FailOpenStore(redis, MemoryStore(), op_timeout_s=0.25, retry_backoff_s=0.5)

    app = proxy_app(config, store=store, keys=KeySpace(prefix="chaos:"))
    # Start-up objects (pydantic schemas, FastAPI routes, …) never die: moved out of the
    # collector's reach, a full collection drops from ~140 ms to under 5 ms on this box,
    # which otherwise shows as a p99 spike every few seconds (see the report).
    gc.freeze()
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=3,
    )


if __name__ == "__main__":
    main()
