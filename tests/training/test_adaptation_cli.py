"""`llmtriage train --base DIR --data FILE` end to end on a small outcomes file: a new
artifact with its lineage, which serves different scores; bad input is one line, exit 2."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from llmtriage.cli import main
from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring import Scorer
from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.generalisation.default_model import train_default
from tests.training.generalisation.test_default_model_artifact import _table


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "base"
    table, _ = _table()
    pairs = {"routellm": (WEAK, STRONG)}
    train_default(table, HashingEmbedder(), None, out, fixed_pairs=pairs, loto=False, jobs=1)
    return out


def _outcomes(path: Path, n: int = 120) -> Path:
    """Two models (one the base's strong model); long prompts are the easy ones here."""
    rng = np.random.default_rng(0)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "small", STRONG, "split"])
        for i in range(n):
            k = int(rng.integers(1, 30))
            prompt = f"item {i}: " + " ".join(["word"] * k)
            easy = k / 30.0
            w.writerow(
                [prompt, int(rng.random() < easy), int(rng.random() < 0.5 + easy / 2), "train"]
            )
        w.writerow(["held out row", 1, 1, "test"])
    return path


def test_train_base_writes_an_adapted_artifact_with_lineage(base: Path, tmp_path: Path) -> None:
    data = _outcomes(tmp_path / "mine.csv")
    out = tmp_path / "adapted"
    rc = main(["train", "--base", str(base), "--data", str(data), "--out", str(out),
               "--weak", "small"])  # fmt: skip
    assert rc == 0
    old, new = Scorer.load(base), Scorer.load(out)
    lineage = new.manifest.lineage
    assert lineage is not None and old.manifest.lineage is None
    assert new.model_version != old.model_version
    assert lineage.base_version == old.model_version and lineage.base_path == str(base)
    assert lineage.base_weights_sha256 == old.manifest.weights.sha256
    assert lineage.rows == 120  # the "test" row is left out
    assert lineage.data[0].sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
    assert "lambda" in lineage.parameters
    assert new.manifest.label.weak_model == "small" and "small" in new.manifest.label.calibration
    prompts = ["item: word word", "item: " + " ".join(["word"] * 25), "Prove 2 + 2 = 4"]
    assert new.score_batch(prompts) != old.score_batch(prompts)
    assert all(0.0 <= s <= 1.0 for s in new.score_batch(prompts))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--base needs --data"),
        (["--data", "missing.csv"], "missing.csv"),
        (["--data", "SMALL"], "labelled rows"),
        (["--data", "GOOD", "--out", "BASE"], "--out must differ from --base"),
        (["--data", "GOOD", "--weak", "nobody"], "nobody"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    small = _outcomes(tmp_path / "small.csv", n=5)
    good = _outcomes(tmp_path / "good.csv")
    names = {"SMALL": str(small), "GOOD": str(good), "BASE": str(base)}
    args = [names.get(a, str(tmp_path / a) if a.endswith(".csv") else a) for a in extra]
    rc = main(["train", "--base", str(base), *args, *([] if "--out" in extra else
               ["--out", str(tmp_path / "out")])])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("error: ") and "\n" not in err and message in err
