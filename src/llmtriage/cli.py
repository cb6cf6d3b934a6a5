"""`llmtriage` command line: one subcommand per module, registered explicitly.

Heavy imports (training, the web server) happen inside each command so that
`llmtriage --help` stays instant. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from llmtriage.errors import LlmtriageError

# name -> "module:function" that adds the subparser and returns the handler.
COMMANDS: dict[str, str] = {
    "serve": "llmtriage.server.cli:register",
    "score": "llmtriage.scoring.cli:register",
    "train": "llmtriage_train.cli:register_train",
    "evaluate": "llmtriage_train.cli:register_evaluate",
    "tune": "llmtriage_train.tune_cli:register",
}

Handler = Callable[[argparse.Namespace], int]


def _load(
    spec: str,
) -> Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None:
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None  # optional part not installed (e.g. training extras)
    registered: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = getattr(
        module, func
    )
    return registered


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmtriage", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for spec in COMMANDS.values():
        register = _load(spec)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except LlmtriageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
