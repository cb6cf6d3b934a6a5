"""`llmtriage` command line: one subcommand per module, registered explicitly.

Heavy imports (training, the web server) happen inside each command so that
`llmtriage --help` stays instant. Errors the user can fix (llmtriage's own, a missing or
unreadable file, the training package's data errors) print one line and exit 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Iterator, Sequence

from llmtriage.errors import LlmtriageError

# name -> "module:function" that adds the subparser and returns the handler.
COMMANDS: dict[str, str] = {
    "serve": "llmtriage.server.cli:register",
    "score": "llmtriage.scoring.cli:register",
    "train": "llmtriage_train.cli:register_train",
    "evaluate": "llmtriage_train.cli:register_evaluate",
    "tune": "llmtriage_train.tuning.cli:register",
    "calibrate": "llmtriage_train.generalisation.calibrate_cli:register",
    "outcomes": "llmtriage.learning.cli:register_outcomes",
    "replay": "llmtriage.learning.cli:register_replay",
}

Handler = Callable[[argparse.Namespace], int]
PROJECT_PACKAGES = frozenset({"llmtriage", "llmtriage_train"})
# Errors of the optional training package that mean "fix your data or flags", looked up
# only once that package is loaded (importing it here would cost `--help` its speed).
OPTIONAL_USER_ERRORS = (
    ("llmtriage_train.data.datasets", "DataError"),
    ("llmtriage_train.data.outcomes", "OutcomesError"),
)


def _load(
    spec: str,
) -> Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] | None:
    module_name, func = spec.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not optional_part_missing(exc.name or "", module_name):
            raise
        return None
    registered: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = getattr(
        module, func
    )
    return registered


def optional_part_missing(missing: str, module_name: str) -> bool:
    """Whether `missing` (ModuleNotFoundError.name) means an optional part is not installed:
    the command's own top-level package (training, installed apart) or a third-party
    dependency (torch, scikit-learn). A module of our own that an installed package
    lacks is a bug, and is not hidden."""
    if missing.split(".")[0] not in PROJECT_PACKAGES:
        return True
    return missing == module_name.split(".")[0]


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
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not isinstance(exc, user_errors()):
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2


def user_errors() -> tuple[type[BaseException], ...]:
    return (LlmtriageError, OSError, *_loaded(OPTIONAL_USER_ERRORS))


def _loaded(names: Sequence[tuple[str, str]]) -> Iterator[type[BaseException]]:
    for module_name, name in names:
        module = sys.modules.get(module_name)
        error = getattr(module, name, None) if module is not None else None
        if isinstance(error, type) and issubclass(error, BaseException):
            yield error


def one_line(exc: BaseException) -> str:
    """A config error lists every problem on its own line: here they share one."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    for line in lines[1:]:
        text += (" " if text.endswith(":") else "; ") + line
    return text


if __name__ == "__main__":
    sys.exit(main())
