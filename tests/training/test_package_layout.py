"""The shape of training/: sub-packages by stage, no import circle, and imports inside
functions only where a comment says why (an optional or heavy dependency, or keeping the
`llmtriage` CLI light)."""

from __future__ import annotations

import ast
from pathlib import Path

TRAINING = Path(__file__).resolve().parents[2] / "training"
PACKAGE = "llmtriage_train"
SUB_PACKAGES = {
    "data",
    "features",
    "evaluation",
    "model",
    "tuning",
    "savings",
    "verifier",
    "generalisation",
}


def _module(path: Path) -> str:
    parts = list(path.relative_to(TRAINING).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _sources() -> dict[str, Path]:
    return {_module(p): p for p in sorted(TRAINING.rglob("*.py"))}


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Our modules that `path` imports anywhere (top level, functions, TYPE_CHECKING)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            for alias in node.names:  # `from pkg import module` names a module
                full = f"{node.module}.{alias.name}"
                out.add(full if full in modules else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith(PACKAGE)}
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` if it has any (depth-first search, colours)."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_top_level_holds_only_the_cli_and_sub_packages() -> None:
    entries = {p.name for p in TRAINING.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "cli.py", *SUB_PACKAGES}
    for name in SUB_PACKAGES:
        assert (TRAINING / name / "__init__.py").is_file(), name


def test_no_import_circle_between_modules_or_sub_packages() -> None:
    sources = _sources()
    graph = {m: _imports(p, set(sources)) - {m} for m, p in sources.items()}
    assert _cycle(graph) is None

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        packages.setdefault(package(module), set()).update(
            package(d) for d in deps if package(d) != package(module)
        )
    assert _cycle(packages) is None


def _explained(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    """The import, or the block of imports it belongs to, carries a comment: on one of
    its lines, or on the line above the block (past blank lines and a `try:`)."""
    i = node.lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if text.startswith(("import ", "from ")) or not text or text == "try:":
            if "#" in text:
                return True
            i -= 1
            continue
        return text.startswith("#")
    return False


def test_imports_inside_functions_say_why() -> None:
    unexplained = []
    for path in _sources().values():
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom) and not _explained(lines, node):
                    unexplained.append(f"{path.relative_to(TRAINING)}:{node.lineno}")
    assert unexplained == []
