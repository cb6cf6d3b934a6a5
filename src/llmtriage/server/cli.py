"""`llmtriage serve`: run the scoring service under uvicorn."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from llmtriage.scoring.artifact import read_manifest
from llmtriage.server.settings import SETTINGS_JSON_ENV, ServeSettings, load_settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the HTTP scoring service")
    parser.add_argument("--model", type=Path, help="artifact folder (default models/default)")
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 8080)")
    parser.add_argument("--config", type=Path, help="YAML settings file (or LLMTRIAGE_CONFIG)")
    parser.add_argument("--workers", type=int, help="uvicorn worker processes (default 1)")
    parser.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    parser.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="uvicorn access log (off by default; it never includes bodies)",
    )
    parser.add_argument("--routing-config", type=Path, help="routing YAML (default: packaged)")
    parser.add_argument("--redis-url", help="shared store, e.g. redis://127.0.0.1:6379/0")
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace) -> int:
    settings = load_settings(
        config=args.config,
        model=args.model,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=args.access_log,
        routing_config=args.routing_config,
        redis_url=args.redis_url,
        gc_freeze=True,
    )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    read_manifest(settings.model)  # one-line ArtifactError naming the path and `make train`
    import uvicorn  # here, not at the top: `llmtriage --help` stays fast

    options = uvicorn_options(settings)
    if settings.workers == 1:
        uvicorn.run(_single_app(settings), **options)
    else:
        # Each worker is a fresh process: hand it the resolved settings, not the flags.
        os.environ[SETTINGS_JSON_ENV] = settings.model_dump_json()
        uvicorn.run(
            "llmtriage.server.app:app_from_env", factory=True, workers=settings.workers, **options
        )
    return 0


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """uvicorn's options for these settings (the tests serve with the same ones)."""
    # Imported here: protocol subclasses uvicorn's, the optional 'serve' extra, and
    # `llmtriage --help` should not pay for loading it.
    from llmtriage.server import protocol

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "loop": "uvloop" if _installed("uvloop") else "asyncio",
        # uvicorn's protocols with the header/body deadlines and max_connections
        "http": protocol.HTTPTOOLS if _installed("httptools") else protocol.H11,
        "timeout_keep_alive": settings.keepalive_timeout_s,
    }


def _single_app(settings: ServeSettings) -> Any:
    # Imported here: the app needs fastapi (the optional 'serve' extra) and the scorer
    # numpy and the embedder; other CLI commands start without either.
    from llmtriage.scoring import Scorer
    from llmtriage.server.app import create_service

    # Load before binding the port so a broken artifact fails here with one line.
    return create_service(settings, scorer=Scorer.load(settings.model))


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None
