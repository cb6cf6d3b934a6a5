"""The command line as a user meets it: every error they can fix is one line on stderr
and exit status 2; a module of our own that is missing is not passed off as an optional
part that is not installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from llmtriage.cli import _load, optional_part_missing

REPO = Path(__file__).resolve().parents[1]
BAD_ROUTING = """\
tiers:
  - name: cheap
    deployments:
      - {name: a, provider: nope, model: m, input_price_per_mtok: -1,
         output_price_per_mtok: 1, context_window: 10}
"""


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmtriage.cli", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for text in expected:
        assert text in lines[0]


def test_data_error_in_training_is_one_line(tmp_path: Path) -> None:
    result = cli("train", "--out", str(tmp_path / "m"), LLMTRIAGE_DATA_DIR=str(tmp_path))
    assert_one_line(result, "run `make data`")


def test_invalid_routing_config_is_one_line_naming_each_problem(
    tmp_path: Path, tiny_artifact: Path
) -> None:
    config = tmp_path / "routing.yaml"
    config.write_text(BAD_ROUTING)
    result = cli("serve", "--routing-config", str(config), "--model", str(tiny_artifact))
    assert_one_line(result, "unknown provider 'nope'", "input_price_per_mtok", f"{config}:4")


def test_missing_files_are_one_line(tmp_path: Path) -> None:
    assert_one_line(cli("score", "hi", "--model", str(tmp_path / "none")), "manifest.json")
    missing = str(tmp_path / "none.csv")
    assert_one_line(
        cli("train", "--data", missing, "--weak", "a", "--strong", "b", "--out", str(tmp_path)),
        missing,
    )


@pytest.mark.parametrize(
    ("missing", "module", "hidden"),
    [
        ("llmtriage_train", "llmtriage_train.cli", True),  # training not installed
        ("torch", "llmtriage_train.cli", True),  # its extras not installed
        ("llmtriage_train.generalisation", "llmtriage_train.cli", False),  # our own bug
        ("llmtriage.scoring.nothing", "llmtriage.scoring.cli", False),
    ],
)
def test_which_missing_modules_are_optional(missing: str, module: str, hidden: bool) -> None:
    assert optional_part_missing(missing, module) is hidden


def test_a_missing_module_of_our_own_is_raised() -> None:
    with pytest.raises(ModuleNotFoundError, match=r"llmtriage\.no_such_module"):
        _load("llmtriage.no_such_module:register")
    assert _load("no_such_third_party_package.cli:register") is None
