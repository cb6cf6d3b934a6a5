"""Threshold tuning: the search against brute force, the held-out report, the row plan,
the score log and drift, the CLI, and (with real data and the trained artifact) that tuned
cut-points hit their targets on held-out benchmark rows."""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import itertools
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from llmtriage.cli import build_parser, main
from llmtriage.errors import InputError
from llmtriage.routing.config import ClassifierConfig
from llmtriage.scoring import Scorer
from llmtriage.scoring.score_log import (
    SCORE_BINS,
    ScoreHistogram,
    ks_distance,
    psi,
    read_histogram,
    record_score,
    score_bin,
)
from llmtriage.store import KeySpace, MemoryStore
from llmtriage_train.tuning import tune
from llmtriage_train.tuning.cli import run_traffic
from llmtriage_train.tuning.tune import Target, choose_cutpoints, parse_target

REPO = Path(__file__).resolve().parents[2]


def _synthetic(n: int, tiers: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores and per-tier 0/1 quality where higher tiers and lower scores do better."""
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    skill = np.linspace(0.2, 0.9, tiers)
    p_good = np.clip(skill[None, :] + 0.6 * (0.5 - scores[:, None]) * (1 - skill[None, :]), 0, 1)
    return scores, (rng.random((n, tiers)) < p_good).astype(np.float64)


# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [("quality=0.95", "quality", 0.95), ("cost=2.5", "cost", 2.5),
     ("Strong-Share=0.3", "strong-share", 0.3)],
)
def test_parse_target(text: str, kind: str, value: float) -> None:
    assert parse_target(text) == Target(kind, value)


@pytest.mark.parametrize(
    ("text", "says"),
    [("speed=1", "must be one of"), ("quality", "must be one of"), ("quality=abc", "number"),
     ("quality=0", "above 0"), ("strong-share=1.5", "[0, 1]"), ("strong-share=-0.1", "[0, 1]"),
     ("cost=-1", "non-negative"), ("quality=nan", "finite")],
)
def test_parse_target_rejects(text: str, says: str) -> None:
    with pytest.raises(InputError, match=None) as err:
        parse_target(text)
    assert says in str(err.value)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------- search


def _brute_two_tier(scores: np.ndarray, quality: np.ndarray, target: Target,
                    price: np.ndarray) -> tuple[float, float]:
    """(best objective, its quality share) over every cut, by direct routing."""
    top = quality[:, 1].mean()
    best: tuple[float, float] | None = None
    for cut in [0.0, *sorted(scores), 1.0 + 1e-9]:
        t = tune.assign(scores, [cut])
        share, cost = tune.routed_quality(t, quality) / top, price[t].mean()
        if target.kind == "quality" and share >= target.value - 1e-12:
            cand = (cost, -share)
        elif target.kind == "cost" and cost <= target.value + 1e-12:
            cand = (-share, cost)
        else:
            continue
        best = cand if best is None or cand < best else best
    assert best is not None
    return best


@pytest.mark.parametrize("target", [Target("quality", 0.95), Target("quality", 0.9),
                                    Target("cost", 4.0), Target("cost", 1.0)])
def test_two_tier_search_matches_brute_force(target: Target) -> None:
    scores, quality = _synthetic(300)
    price = np.array([0.6, 10.0])
    tuned = choose_cutpoints(scores, quality, target, price)
    t = tune.assign(scores, tuned.cutpoints)
    got = ((price[t].mean(), -tune.quality_share(t, quality)) if target.kind == "quality"
           else (-tune.quality_share(t, quality), price[t].mean()))
    assert got == pytest.approx(_brute_two_tier(scores, quality, target, price))
    assert tuned.tuning_rows == 300


def test_quality_target_without_prices_means_fewest_strong_calls() -> None:
    scores, quality = _synthetic(200)
    tuned = choose_cutpoints(scores, quality, Target("quality", 0.95))
    t = tune.assign(scores, tuned.cutpoints)
    assert tune.quality_share(t, quality) >= 0.95
    assert tuned.tuning_value == pytest.approx(tune.quality_share(t, quality))
    # one more prompt to weak (the lowest-scored strong one) would break the target
    strong = np.flatnonzero(t == 1)
    fewer = t.copy()
    fewer[strong[np.argmin(scores[strong])]] = 0
    assert tune.quality_share(fewer, quality) < 0.95


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 0.77, 1.0])
def test_strong_share_target(share: float) -> None:
    scores, quality = _synthetic(500)
    tuned = choose_cutpoints(scores, quality, Target("strong-share", share))
    got = float((tune.assign(scores, tuned.cutpoints) == 1).mean())
    assert got == pytest.approx(share, abs=1 / 500)
    assert 0.0 <= tuned.cutpoints[0] <= 1.0


def test_cutpoints_sit_between_scores_and_match_the_served_rule() -> None:
    scores = np.array([0.1, 0.2, 0.4, 0.8])
    quality = np.array([[1, 1], [1, 1], [0, 1], [0, 1]], dtype=float)
    tuned = choose_cutpoints(scores, quality, Target("quality", 1.0))
    assert tuned.cutpoints == [pytest.approx(0.3)]  # midpoint of 0.2 and 0.4
    # a score equal to the cut goes up, as Scorer.tier's bisect_right does
    cut = tuned.cutpoints[0]
    assert tune.assign(np.array([cut, np.nextafter(cut, 0)]), tuned.cutpoints).tolist() == [1, 0]
    assert bisect.bisect_right(tuned.cutpoints, cut) == 1


def test_three_tiers_exact_on_small_data() -> None:
    # with 30 rows the 41-quantile grid covers every position, so the search is exhaustive
    scores, quality = _synthetic(30, tiers=3, seed=3)
    price = np.array([1.0, 3.0, 10.0])
    target = Target("quality", 0.9)
    tuned = choose_cutpoints(scores, quality, target, price)
    assert tuned.cutpoints == sorted(tuned.cutpoints)
    top = quality[:, 2].mean()
    cuts = [0.0, *sorted(scores), 1.0]
    feasible = []
    for a, b in itertools.combinations_with_replacement(cuts, 2):
        t = tune.assign(scores, [a, b])
        if tune.routed_quality(t, quality) / top >= 0.9 - 1e-12:
            feasible.append(price[t].mean())
    t = tune.assign(scores, tuned.cutpoints)
    assert price[t].mean() == pytest.approx(min(feasible))
    assert tune.quality_share(t, quality) >= 0.9 - 1e-12


def test_three_tiers_larger_data_meets_target_and_beats_two_tier_cost() -> None:
    scores, quality = _synthetic(2000, tiers=3, seed=1)
    price = np.array([1.0, 3.0, 10.0])
    tuned = choose_cutpoints(scores, quality, Target("quality", 0.9), price)
    t = tune.assign(scores, tuned.cutpoints)
    assert tune.quality_share(t, quality) >= 0.9 - 1e-12
    # skipping the middle tier is one of the candidates, so three tiers cost no more
    two = choose_cutpoints(scores, quality[:, [0, 2]], Target("quality", 0.9), price[[0, 2]])
    t2 = tune.assign(scores, two.cutpoints) * 2
    assert price[t].mean() <= price[t2].mean() + 1e-9


def test_three_tier_strong_share_splits_the_rest_evenly() -> None:
    scores, quality = _synthetic(900, tiers=3)
    tuned = choose_cutpoints(scores, quality, Target("strong-share", 0.4))
    shares = np.bincount(tune.assign(scores, tuned.cutpoints), minlength=3) / 900
    assert shares == pytest.approx([0.3, 0.3, 0.4], abs=2 / 900)


def test_unreachable_targets_say_what_to_do() -> None:
    scores, quality = _synthetic(200)
    with pytest.raises(InputError, match=r"out of reach.*at most"):
        choose_cutpoints(scores, quality, Target("quality", 1.5))
    with pytest.raises(InputError, match="cheapest possible cost"):
        choose_cutpoints(scores, quality, Target("cost", 0.1), np.array([0.6, 10.0]))
    with pytest.raises(InputError, match="--prices"):
        choose_cutpoints(scores, quality, Target("cost", 1.0))


# ----------------------------------------------------------------- report and plan


def test_held_out_report_has_consistent_cis() -> None:
    scores, quality = _synthetic(400)
    price = np.array([0.6, 10.0])
    report = tune.held_out_report(scores, quality, [0.5], ["weak", "strong"], price, n_boot=200)
    for ci in (report.quality, report.quality_share, report.pgr, report.cost_per_1k,
               *report.tier_shares.values()):
        assert ci is not None
        assert ci.low <= ci.estimate <= ci.high
    shares = [c.estimate for c in report.tier_shares.values()]
    assert sum(shares) == pytest.approx(1.0)
    assert report.cost_per_1k is not None
    assert report.cost_per_1k.estimate == pytest.approx(0.6 * shares[0] + 10 * shares[1])
    top_share = report.tier_shares["strong"]
    assert report.hits(Target("strong-share", top_share.estimate))
    assert not report.hits(Target("strong-share", top_share.high + 0.05))
    assert json.loads(json.dumps(report.to_dict()))["rows"] == 400
    assert "within the held-out 95% CI" in tune.format_report(
        report, Target("strong-share", top_share.estimate))


def test_plan_uses_split_column_then_cross_fits_when_train_was_seen() -> None:
    prompts = [f"prompt {i}" for i in range(300)]
    split: list[str | None] = ["train"] * 180 + ["test"] * 120
    plan = tune.plan_rows(prompts, split)
    assert plan.final.tolist() == list(range(180))
    assert plan.held_out.tolist() == list(range(180, 300))
    rng = np.random.default_rng(0)
    quality = (rng.random((300, 2)) < [0.6, 0.8]).astype(float)
    cross = tune.plan_rows(prompts, split, quality=quality, seen=lambda rows: rows.size == 180)
    assert "cross-fitted" in cross.how
    assert sorted(cross.held_out) == list(range(180, 300)) == sorted(cross.final)
    assert sorted(set(cross.fold.tolist())) == list(range(tune.FOLDS))
    again = tune.plan_rows(prompts, split, quality=quality, seen=lambda rows: True)
    assert again.fold.tolist() == cross.fold.tolist()  # stable: hash order, not random


def test_folds_are_stratified_and_keep_repeated_prompts_together() -> None:
    rng = np.random.default_rng(1)
    prompts = [f"p{i % 450}" for i in range(500)]  # 50 repeats
    quality = (rng.random((450, 2)) < [0.5, 0.8]).astype(float)[[i % 450 for i in range(500)]]
    fold = tune.stratified_folds(prompts, quality, 5)
    for i in range(50):
        assert fold[i] == fold[i + 450]
    weak_rate = [quality[fold == k, 0].mean() for k in range(5)]
    assert max(weak_rate) - min(weak_rate) < 0.03


def test_plan_without_split_uses_the_fixed_hash_split() -> None:
    from llmtriage_train.data.splits import stable_split

    prompts = [f"question number {i}" for i in range(300)]
    plan = tune.plan_rows(prompts, [None] * 300)
    expected = np.array(stable_split(prompts))
    assert (expected[plan.held_out] == "test").all()
    assert (expected[plan.final] == "train").all()
    with pytest.raises(InputError, match="too few rows"):
        tune.plan_rows(prompts[:30], [None] * 30)


def test_tune_rows_reports_held_out_rows_routed_without_them() -> None:
    scores, quality = _synthetic(1000, seed=4)
    prompts = [f"row {i}" for i in range(1000)]
    by_text = dict(zip(prompts, scores, strict=True))
    result = tune.tune_rows(lambda ps: np.array([by_text[p] for p in ps]), prompts, quality,
                            [None] * 1000, Target("strong-share", 0.3), ["weak", "strong"])
    report = result.report
    assert report.rows == result.plan.held_out.size
    assert report.retuned is not None
    assert report.retuned.low <= report.tier_shares["strong"].low
    assert report.hits(Target("strong-share", 0.3), retuned=True)


# ----------------------------------------------------------- score log and drift


def test_score_bins() -> None:
    scores = (0.0, 0.005, 0.01, 0.555, 0.999, 1.0, 1.5, -1)
    assert [score_bin(s, 100) for s in scores] == [0, 0, 1, 55, 99, 99, 99, 0]
    assert [score_bin(s) for s in (0.0, 0.5555, 1.0)] == [0, int(0.5555 * SCORE_BINS),
                                                          SCORE_BINS - 1]


async def test_record_and_read_back_by_time_window() -> None:
    store, keys = MemoryStore(), KeySpace(prefix="t:")
    t0 = 1_700_000_000.0
    for s in (0.1, 0.1, 0.5, 0.95, math.nan):
        await record_score(store, keys, s, t0)
    await record_score(store, keys, 0.5, t0 + 7200)  # two buckets later
    hist = await read_histogram(store, keys, start=t0, end=t0 + 10)
    assert hist.total == 4  # NaN not counted, later bucket outside the window
    assert hist.counts[score_bin(0.1)] == 2
    assert hist.counts[score_bin(0.5)] == 1 and hist.counts[score_bin(0.95)] == 1
    both = await read_histogram(store, keys, start=t0, end=t0 + 7200)
    assert both.total == 5
    # only counts are stored: no prompt, one small hash per hour
    raw = await store.hgetall(keys.metrics("scores", int(t0 // 3600) * 3600))
    assert set(raw) == {str(score_bin(x)) for x in (0.1, 0.5, 0.95)}


def test_histogram_cut_for_top_share_matches_quantiles() -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(2, 5, 20_000)
    hist = ScoreHistogram.from_scores(scores.tolist())
    for share in (0.05, 0.3, 0.5, 0.9):
        cut = hist.cut_for_top_share(share)
        assert cut == pytest.approx(np.quantile(scores, 1 - share), abs=1 / SCORE_BINS)
        assert hist.share_at_or_above(cut) == pytest.approx(share, abs=1e-9)
    assert ScoreHistogram.from_dict(hist.to_dict()) == hist


def test_drift_measures() -> None:
    rng = np.random.default_rng(1)
    ref = ScoreHistogram.from_scores(rng.beta(2, 5, 5000).tolist())
    same = ScoreHistogram.from_scores(rng.beta(2, 5, 5000).tolist())
    shifted = ScoreHistogram.from_scores(rng.beta(5, 2, 5000).tolist())
    assert psi(ref, same) < 0.05 and ks_distance(ref, same) < 0.05
    assert psi(ref, shifted) > 0.25 and ks_distance(ref, shifted) > 0.3
    assert psi(ref, ref) == 0 and ks_distance(ref, ref) == 0
    # scores in a narrow band: a shift of 0.03 is visible because PSI bins by reference deciles
    band = ScoreHistogram.from_scores(rng.normal(0.57, 0.04, 5000).tolist())
    moved = ScoreHistogram.from_scores(rng.normal(0.60, 0.04, 5000).tolist())
    assert psi(band, moved) > 0.25


# ----------------------------------------------------------------------------- CLI


def _outcomes_csv(path: Path, n: int = 400) -> Path:
    """Prompts whose length drives the tiny artifact's score; long ones defeat 'small'."""
    rng = np.random.default_rng(7)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["prompt", "small", "medium", "big"])
        for i in range(n):
            words = int(rng.integers(1, 80))
            prompt = f"q{i} " + " ".join(["word"] * words) + " = 3 + 4" * (words % 3)
            hard = words / 80
            w.writerow([prompt, int(rng.random() > hard), int(rng.random() > hard * 0.6),
                        int(rng.random() > 0.1)])
    return path


@pytest.fixture
def artifact(tiny_artifact: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_artifact, tmp_path / "art"))


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["tune", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_tunes_and_writes_manifest(artifact: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = _outcomes_csv(tmp_path / "out.csv")
    code, out, _ = _run(capsys, "--model", str(artifact), "--data", str(data), "--weak", "small",
                        "--strong", "big", "--target", "strong-share=0.3", "--prices",
                        "small=0.6,big=10", "--write", "manifest")
    assert code == 0, out
    assert "held-out" in out and "cost USD / 1k requests" in out
    scorer = Scorer.load(artifact)  # weights checksum still valid after the rewrite
    th = scorer.thresholds
    assert th.tiers == ["cheap", "strong"] and th.chosen_for.startswith("strong-share=0.3")
    tuning = scorer.manifest.metrics["tuning"]
    assert tuning["cutpoints"] == th.cutpoints
    assert len(tuning["data"]["sha256"]) == 64 and tuning["data"]["sha256"][:16] in th.chosen_for
    assert sum(tuning["reference_histogram"]["counts"]) == 400
    assert tuning["held_out"]["rows"] == tuning["data"]["held_out_rows"]


def test_cli_three_tiers_yaml_fragment_fits_routing_config(
    artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _outcomes_csv(tmp_path / "out.csv")
    frag = tmp_path / "thresholds.yaml"
    code, out, _ = _run(capsys, "--model", str(artifact), "--data", str(data), "--tiers",
                        "cheap,mid,strong", "--models", "small,medium,big", "--target",
                        "quality=0.9", "--prices", "cheap=1,mid=3,strong=10",
                        "--write", str(frag))
    assert code == 0, out
    loaded = yaml.safe_load(frag.read_text())
    config = ClassifierConfig.model_validate(loaded["classifier"])
    assert config.thresholds is not None and list(config.thresholds) == ["mid", "strong"]
    assert config.thresholds["mid"] <= config.thresholds["strong"]
    assert frag.read_text().startswith("# llmtriage tune: quality=0.9")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--weak", "small", "--strong", "nope", "--target", "quality=0.9"],
         "model column 'nope' not found"),
        (["--weak", "small", "--strong", "big", "--target", "quality=1.5"], "out of reach"),
        (["--weak", "small", "--strong", "big", "--target", "strong-share=1.2"], "[0, 1]"),
        (["--weak", "small", "--strong", "big", "--target", "cost=1"], "needs --prices"),
        (["--weak", "small", "--strong", "big", "--target", "cost=1", "--prices", "small=1"],
         "no price for tier 'strong'"),
        (["--models", "small,big", "--tiers", "a,b,c", "--target", "quality=0.9"],
         "3 tiers but there are 2"),
        (["--weak", "small", "--strong", "big", "--target", "quality=0.9", "--write", "x.txt"],
         "--write takes"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    argv: list[str], says: str, artifact: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _outcomes_csv(tmp_path / "out.csv", n=120)
    code, _, err = _run(capsys, "--model", str(artifact), "--data", str(data), *argv)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and says in lines[0], err


def test_cli_traffic_without_scores_is_an_error(artifact: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--traffic", "--model", str(artifact), "--store", "memory",
                        "--target", "strong-share=0.3")
    assert code == 2 and "no scores recorded" in err
    code, _, err = _run(capsys, "--traffic", "--model", str(artifact),
                        "--target", "quality=0.9")
    assert code == 2 and "only --target strong-share" in err


def _traffic_args(artifact: Path, *extra: str) -> argparse.Namespace:
    return build_parser().parse_args(["tune", "--traffic", "--model", str(artifact),
                                      "--target", "strong-share=0.25", *extra])


def test_traffic_places_cut_and_reports_drift(
    artifact: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import time

    # a reference first: tune on data and store its score histogram in the manifest
    data = _outcomes_csv(tmp_path / "out.csv")
    assert main(["tune", "--model", str(artifact), "--data", str(data), "--weak", "small",
                 "--strong", "big", "--target", "quality=0.9", "--write", "manifest"]) == 0
    capsys.readouterr()
    store, keys = MemoryStore(), KeySpace()
    live = np.random.default_rng(2).beta(5, 2, 4000)  # far higher scores than the reference
    now = time.time()

    async def fill() -> None:
        for s in live:
            await record_score(store, keys, float(s), now)

    asyncio.run(fill())
    args = _traffic_args(artifact, "--write", "manifest")
    assert run_traffic(args, parse_target(args.target), store=store) == 0
    out = capsys.readouterr().out
    assert "4000 scores" in out and "PSI" in out and "KS" in out
    cut = Scorer.load(artifact).thresholds.cutpoints[-1]
    assert cut == pytest.approx(np.quantile(live, 0.75), abs=0.01)
    # the reference histogram survives a traffic re-tune
    assert "reference_histogram" in Scorer.load(artifact).manifest.metrics["tuning"]


# ------------------------------------------------------- real benchmarks, real model

MODEL = Path(os.environ.get("LLMTRIAGE_MODEL", REPO / "models" / "default"))


@pytest.fixture(scope="module")
def scorer() -> Scorer:
    if not (MODEL / "manifest.json").is_file():
        pytest.skip(f"no trained artifact at {MODEL}: run `make train` first")
    return Scorer.load(MODEL)


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", ["mmlu", "gsm8k"])
@pytest.mark.parametrize("target", ["quality=0.95", "strong-share=0.3"])
def test_tuned_thresholds_hit_target_on_held_out_benchmark(
    benchmark: str, target: str, scorer: Scorer
) -> None:
    from llmtriage_train.data.routing_sets import benchmark_set

    try:
        rs = benchmark_set(benchmark)
    except (OSError, ValueError) as exc:
        pytest.skip(f"benchmark data absent ({exc}): run `make data`")
    quality = np.column_stack([rs.weak, rs.strong])
    seen = tune.trained_on({d.sha256 for d in scorer.manifest.training_data}, rs.prompts,
                           quality)
    goal = parse_target(target)
    result = tune.tune_rows(
        lambda p: np.asarray(scorer.score_batch(p)), rs.prompts, quality, rs.split, goal,
        ["weak", "strong"], seen=seen,
    )
    report = result.report
    ci = report.for_target(goal)
    print(f"\n{benchmark} {target}: {result.plan.how}; tuning {result.tuned.tuning_value:.3f}, "
          f"held-out {ci.estimate:.3f} [{ci.low:.3f}, {ci.high:.3f}] (n={report.rows}), "
          f"cut-points {result.tuned.cutpoints}, re-tuned CI {report.retuned}")
    assert report.hits(goal, retuned=True), (ci, report.retuned, result.plan.how)
