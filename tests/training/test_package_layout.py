"""The shape of training/: sub-packages by stage, no import circle, and imports inside
functions only where a comment says why (an optional or heavy dependency, or keeping the
`llmtriage` CLI light)."""

from __future__ import annotations

from pathlib import Path

from tests.layout import Tree, cycle

TRAINING = Tree(Path(__file__).resolve().parents[2] / "training", "llmtriage_train")
SUB_PACKAGES = {
    "data",
    "features",
    "evaluation",
    "model",
    "tuning",
    "savings",
    "verifier",
    "generalisation",
    "adaptation",
}


def test_top_level_holds_only_the_cli_and_sub_packages() -> None:
    entries = {p.name for p in TRAINING.root.iterdir() if p.name != "__pycache__"}
    assert entries == {"__init__.py", "cli.py", *SUB_PACKAGES}
    for name in SUB_PACKAGES:
        assert (TRAINING.root / name / "__init__.py").is_file(), name


def test_no_import_circle_between_modules_or_sub_packages() -> None:
    assert cycle(TRAINING.graph()) is None
    assert cycle(TRAINING.package_graph()) is None


def test_imports_inside_functions_say_why() -> None:
    assert TRAINING.unexplained_function_imports() == []
