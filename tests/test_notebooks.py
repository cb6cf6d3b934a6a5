"""The tuning notebooks run headless end to end and write their figures.

Executed with nbclient on the venv's `python3` kernel, against the trained artifact
(`LLMTRIAGE_MODEL`, default models/default) and the benchmarks' held-out splits.
Figures go to a temporary folder unless LLMTRIAGE_FIGURES is set (set it to docs/tuning
to regenerate the published ones).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MODEL = Path(os.environ.get("LLMTRIAGE_MODEL", REPO / "models" / "default"))
FIGURES = {
    "threshold_tuning": ("pgr_cost.png", "reliability.png", "score_histograms.png",
                         "threshold_sweep.png"),
    "strategies": ("strategies.png",),
}
MAX_SECONDS = 120  # each notebook takes ~25 s on 2 busy cores; fail well before a hang


def _data_present() -> bool:
    from llmtriage_train.data.datasets import data_root

    return (data_root() / "routellm").is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_runs_and_writes_figures(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if not (MODEL / "manifest.json").is_file():
        pytest.skip(f"no trained artifact at {MODEL}: run `make train` first")
    if not _data_present():
        pytest.skip("benchmark data absent: run `make data`")
    figures = Path(os.environ.get("LLMTRIAGE_FIGURES") or tmp_path / "figures").resolve()
    for png in FIGURES[name]:
        (figures / png).unlink(missing_ok=True)
    # the kernel inherits this process's environment
    monkeypatch.setenv("LLMTRIAGE_MODEL", str(MODEL.resolve()))
    monkeypatch.setenv("LLMTRIAGE_FIGURES", str(figures))

    notebook = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=MAX_SECONDS, kernel_name="python3",
        resources={"metadata": {"path": str(REPO)}},
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start

    missing = [png for png in FIGURES[name] if not (figures / png).is_file()]
    assert not missing, f"{name}.ipynb did not write {missing} under {figures}"
    assert all((figures / png).stat().st_size > 10_000 for png in FIGURES[name])
    assert elapsed < MAX_SECONDS
