"""`llmtriage score`: score one prompt, or JSONL prompts from stdin, in-process."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from llmtriage.errors import InputError
from llmtriage.scoring.scorer import Scorer
from llmtriage.text import scored_text

CHUNK = 256  # lines scored per embedder call when reading stdin


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "score",
        help="score prompts with a trained artifact",
        description="Print {score, tier, model_version} as JSON. With '-', read JSONL from "
        'stdin: each line a JSON string, {"prompt": ...} or {"messages": [...]} (an "id" '
        "field is echoed back); one JSON line is written per input line.",
    )
    parser.add_argument("text", help="the prompt, or '-' for JSONL on stdin")
    parser.add_argument(
        "--model",
        type=Path,
        default=Path(os.environ.get("LLMTRIAGE_MODEL", "models/default")),
        help="artifact folder (default $LLMTRIAGE_MODEL or models/default)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    scorer = Scorer.load(args.model)
    if args.text != "-":
        print(json.dumps(_result(scorer, scorer.score(args.text))))
        return 0
    for chunk in _chunks(sys.stdin):
        texts = [text for _, text in chunk]
        for (record_id, _), value in zip(chunk, scorer.score_batch(texts), strict=True):
            out = _result(scorer, value)
            if record_id is not None:
                out = {"id": record_id, **out}
            print(json.dumps(out))
    return 0


def _result(scorer: Scorer, value: float) -> dict[str, Any]:
    return {"score": value, "tier": scorer.tier(value), "model_version": scorer.model_version}


def _chunks(stream: TextIO) -> Iterator[list[tuple[Any, str]]]:
    chunk: list[tuple[Any, str]] = []
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        chunk.append(parse_line(line, number))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def parse_line(line: str, number: int) -> tuple[Any, str]:
    """(id or None, text to score) of one JSONL line; InputError names the line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"stdin line {number}: not JSON ({exc.msg})") from exc
    if isinstance(record, str):
        return None, record
    if isinstance(record, dict):
        if isinstance(record.get("prompt"), str):
            return record.get("id"), record["prompt"]
        if isinstance(record.get("messages"), list):
            return record.get("id"), scored_text(record["messages"])
    raise InputError(
        f'stdin line {number}: expected a JSON string, {{"prompt": str}} or {{"messages": [...]}}'
    )
