"""`llmtriage calibrate` points a difficulty artifact at a new pair without retraining."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from llmtriage.cli import main
from llmtriage.embedding.hashing import HashingEmbedder
from llmtriage.scoring import Scorer
from llmtriage_train.data.loaders import STRONG, WEAK
from llmtriage_train.generalisation.default_model import train_default
from tests.training.generalisation.test_default_model_artifact import _prompts, _table


def test_calibrate_writes_the_pair_and_improves_its_routing(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    table, _ = _table(seed=3)
    artifact = tmp_path / "model"
    train_default(
        table, HashingEmbedder(), None, artifact, fixed_pairs={"routellm": (WEAK, STRONG)},
        loto=False, jobs=1,
    )  # fmt: skip
    # a pair whose gain sits on the EASY prompts: "tiny" fails nearly everything, "huge"
    # answers the easy ones, so the default pair's score (gain on harder prompts) is wrong
    rng = np.random.default_rng(4)
    prompts, hard = _prompts(rng, 600)
    p_tiny = np.clip(0.05 - 0.05 * hard, 0, 1)
    p_huge = np.clip(1.0 - 1.2 * hard, 0, 1)
    path = tmp_path / "mine.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "tiny", "huge", "split"])
        for i, (p, a, b) in enumerate(zip(prompts, p_tiny, p_huge, strict=True)):
            w.writerow(
                [p, int(rng.random() < a), int(rng.random() < b), "train" if i < 400 else "test"]
            )

    code = main(
        [
            "calibrate",
            "--model",
            str(artifact),
            "--data",
            str(path),
            "--weak",
            "tiny",
            "--strong",
            "huge",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    before, after = (float(x.split()[0]) for x in out.split("APGR ")[1].split(",")[:2])
    assert after > before + 0.1 and after > 0.6
    label = Scorer.load(artifact, embedder=HashingEmbedder()).manifest.label
    assert (label.weak_model, label.strong_model) == ("tiny", "huge")
    assert WEAK in label.calibration and label.calibration["huge"].slope > 0


def test_calibrate_refuses_a_pair_artifact(tiny_artifact: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "o.csv"
    path.write_text("prompt,a,b\nhi,1,0\n")
    assert (
        main(
            [
                "calibrate",
                "--model",
                str(tiny_artifact),
                "--data",
                str(path),
                "--weak",
                "a",
                "--strong",
                "b",
            ]
        )
        != 0
    )
    assert "difficulty artifact" in capsys.readouterr().err
