"""Import-graph checks shared by the layout tests of src/llmtriage and training/: one
import graph per tree (every import anywhere: top level, functions, TYPE_CHECKING), a
cycle finder, and whether an import inside a function says why."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tree:
    root: Path  # the folder holding the package's files
    package: str  # the name it is imported as

    def module(self, path: Path) -> str:
        parts = list(path.relative_to(self.root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join([self.package, *parts])

    def sources(self) -> dict[str, Path]:
        return {self.module(p): p for p in sorted(self.root.rglob("*.py"))}

    def graph(self) -> dict[str, set[str]]:
        """Module -> the modules of this tree it imports."""
        sources = self.sources()
        return {m: self._imports(p, set(sources)) - {m} for m, p in sources.items()}

    def package_graph(self, depth: int = 2) -> dict[str, set[str]]:
        """The same graph between sub-packages (module names cut to `depth` parts)."""

        def package(module: str) -> str:
            return ".".join(module.split(".")[:depth])

        packages: dict[str, set[str]] = {}
        for module, deps in self.graph().items():
            packages.setdefault(package(module), set()).update(
                package(d) for d in deps if package(d) != package(module)
            )
        return packages

    def unexplained_function_imports(self) -> list[str]:
        """`path:line` of each import inside a function with no comment saying why."""
        unexplained = []
        for path in self.sources().values():
            lines = path.read_text(encoding="utf-8").splitlines()
            for fn in ast.walk(ast.parse("\n".join(lines))):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import | ast.ImportFrom) and not _explained(
                        lines, node
                    ):
                        unexplained.append(f"{path.relative_to(self.root)}:{node.lineno}")
        return unexplained

    def _imports(self, path: Path, modules: set[str]) -> set[str]:
        out: set[str] = set()
        prefix = self.package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and _within(node.module, prefix):
                for alias in node.names:  # `from pkg import module` names a module
                    full = f"{node.module}.{alias.name}"
                    out.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names if _within(a.name, prefix)}
        return out


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
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


def _explained(lines: list[str], node: ast.Import | ast.ImportFrom) -> bool:
    """The import, or the block of imports it belongs to, carries a comment: on one of
    its lines, or on the line above the block (past blank lines and a `try:`)."""
    i = node.lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if text.startswith(("import ", "from ", "try:")) or not text:
            if "#" in text:
                return True
            i -= 1
            continue
        return text.startswith("#")
    return False
