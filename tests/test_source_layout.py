"""The shape of src/llmtriage: no import circle between its modules or its sub-packages
(the request path runs one way: routing decides, execution runs, nothing calls back),
and imports inside functions only where a comment says why (an optional dependency)."""

from __future__ import annotations

from pathlib import Path

from tests.layout import Tree, cycle

SOURCE = Tree(Path(__file__).resolve().parents[1] / "src" / "llmtriage", "llmtriage")


def test_no_import_circle_between_modules() -> None:
    assert cycle(SOURCE.graph()) is None


def test_routing_decides_without_knowing_who_executes() -> None:
    graph = SOURCE.package_graph()
    assert "llmtriage.execution" not in graph["llmtriage.routing"]
    assert "llmtriage.server" not in graph["llmtriage.execution"]
    assert "llmtriage.server" not in graph["llmtriage.routing"]


def test_imports_inside_functions_say_why() -> None:
    assert SOURCE.unexplained_function_imports() == []
