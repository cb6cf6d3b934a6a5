"""Routing metrics with RouteLLM's definitions (Ong et al. 2024, arXiv 2406.18665).

A router gives every prompt a score (higher = more deserving of the strong model) and
sends the top-scored share ``c`` of prompts to the strong model. With ``weak``/``strong``
the per-prompt quality of each model (1/0 correctness or a normalised judge score):

* ``q(c)``   mean quality when the top ``round(c*n)`` prompts go to strong, the rest to weak.
* ``PGR(c) = (q(c) - q_weak) / (q_strong - q_weak)`` (performance gap recovered).
* ``APGR``   area under PGR over c in [0, 1]. Random routing has PGR(c) = c, so APGR 0.5.
* ``CPT(x)`` smallest strong-call share with PGR >= x (call-performance threshold).

Two flavours are provided:

* Full resolution (``pgr_curve``, ``apgr``, ``cpt``): every share k/n, and prompts with tied
  scores at the cut each get their *expected* quality, so the result does not depend on
  row order and a constant scorer is exactly the random baseline.
* RouteLLM's 10-bin computation (``routellm_curve``, ``apgr_routellm``, ``cpt_routellm``),
  a transcription of ``routellm/evals/benchmarks.py`` + ``routellm/evals/evaluate.py`` so
  our numbers are comparable with their published table; see ``routellm_curve``.

PGR is invariant to an affine rescaling of quality, so any real scale works, but keep
``weak`` and ``strong`` on the same scale.

No library defines APGR or CPT, so they are computed here; AUC and the Brier score are
scikit-learn's (``auc``, ``brier`` only validate inputs and define the one-class case).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from sklearn.metrics import brier_score_loss, roc_auc_score

FloatArray = npt.NDArray[np.float64]

# Slack for ``PGR >= target``: a PGR that is exactly the target on paper can come out a
# few ulps short after the division.
_PGR_EPS = 1e-12


# --------------------------------------------------------------------------- validation


def _as_1d(name: str, values: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _check_inputs(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    s, w, st = _as_1d("scores", scores), _as_1d("weak", weak), _as_1d("strong", strong)
    if not s.size == w.size == st.size:
        raise ValueError(
            f"scores, weak and strong must have the same length, got {s.size}, {w.size}, {st.size}"
        )
    return s, w, st


def _gap(weak: FloatArray, strong: FloatArray) -> tuple[float, float]:
    """(q_weak, q_strong), refusing a zero gap because PGR divides by it."""
    q_weak, q_strong = float(weak.mean()), float(strong.mean())
    if q_strong == q_weak:
        raise ValueError(
            f"PGR is undefined: the strong and weak models have the same mean quality "
            f"({q_strong:.6g}), so there is no performance gap to recover"
        )
    return q_weak, q_strong


def _count_for_share(share: float, n: int) -> int:
    """Prompts sent to strong for a share: nearest integer, halves rounded up.

    Half-up rather than Python's round() so the count never depends on the parity of n*c.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be in [0, 1], got {share}")
    return min(n, math.floor(share * n + 0.5))


# --------------------------------------------------------------- full-resolution curve


def _expected_gain_curve(scores: FloatArray, weak: FloatArray, strong: FloatArray) -> FloatArray:
    """Expected total gain (strong - weak) from sending the top k prompts to strong, k=0..n.

    Within a group of tied scores the prompts taken at the cut are a uniformly random
    subset, so each contributes the group's mean gain in expectation: replacing gains by
    their tie-group mean before the cumulative sum gives that expectation exactly.
    """
    order = np.argsort(-scores, kind="stable")
    s_sorted, gain = scores[order], (strong - weak)[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    sizes = np.diff(np.r_[starts, s_sorted.size])
    group_mean = np.add.reduceat(gain, starts) / sizes
    return np.concatenate(([0.0], np.cumsum(np.repeat(group_mean, sizes))))


def quality_at(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike, share: float
) -> float:
    """Mean quality when the top-scored ``round(share*n)`` prompts go to the strong model.

    Ties at the cut are averaged (each tied prompt gets its expected quality).
    """
    s, w, st = _check_inputs(scores, weak, strong)
    k = _count_for_share(share, s.size)
    return float((w.sum() + _expected_gain_curve(s, w, st)[k]) / s.size)


def pgr_curve(
    scores: npt.ArrayLike,
    weak: npt.ArrayLike,
    strong: npt.ArrayLike,
    *,
    shares: npt.ArrayLike | None = None,
) -> tuple[FloatArray, FloatArray]:
    """(shares, PGR) at every k/n, k=0..n, or at the given shares (each rounded to k/n).

    Raises ValueError when q_strong == q_weak, where PGR is undefined.
    """
    s, w, st = _check_inputs(scores, weak, strong)
    q_weak, q_strong = _gap(w, st)
    n = s.size
    gain = _expected_gain_curve(s, w, st)
    if shares is None:
        grid = np.arange(n + 1, dtype=np.float64) / n
        counts = np.arange(n + 1)
    else:
        grid = np.asarray(shares, dtype=np.float64).reshape(-1)
        counts = np.array([_count_for_share(float(c), n) for c in grid], dtype=np.int64)
    pgr = (gain[counts] / n) / (q_strong - q_weak)
    return grid, pgr


def apgr(scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike) -> float:
    """Area under the full-resolution PGR curve over c in [0, 1] (trapezoid rule)."""
    shares, pgr = pgr_curve(scores, weak, strong)
    return float(np.trapezoid(pgr, shares))


def cpt(scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike, target: float) -> float:
    """Smallest share k/n with PGR(k/n) >= target, at full resolution; NaN if never reached.

    PGR(1) = 1, so any target <= 1 is reached; a good router can pass 1 earlier (PGR > 1
    means it beats the strong model), hence targets above 1 may also be reached.
    """
    shares, pgr = pgr_curve(scores, weak, strong)
    hit = np.flatnonzero(pgr >= target - _PGR_EPS)
    return float(shares[hit[0]]) if hit.size else math.nan


# ------------------------------------------------------------ RouteLLM's 10-bin variant


def _routellm_points(
    scores: FloatArray, weak: FloatArray, strong: FloatArray, num_results: int
) -> tuple[FloatArray, FloatArray]:
    """(realised strong share, realised mean quality) per RouteLLM cutoff, sorted by share."""
    if num_results < 1:
        raise ValueError(f"num_results must be >= 1, got {num_results}")
    # pd.qcut(x, q, retbins=True) edges in pandas 2.x are Series.quantile(linspace(0, 1, q+1)),
    # which calls np.percentile(x, 100*q, "linear"); the same call reproduces them to the
    # ulp, which matters when a cutoff lands exactly on a score.
    cutoffs = np.percentile(scores, np.linspace(0.0, 1.0, num_results + 1) * 100.0)
    shares: list[float] = []
    quality: list[float] = []
    for i, cutoff in enumerate(cutoffs):
        # Their rule: >= at every cutoff except the last (the max), which uses > so the
        # sweep ends at 0% strong. Ties at a cutoff therefore all go to strong together.
        strong_mask = scores >= cutoff if i != len(cutoffs) - 1 else scores > cutoff
        shares.append(float(strong_mask.mean()))
        quality.append(float(np.where(strong_mask, strong, weak).mean()))
    share_arr, quality_arr = np.asarray(shares), np.asarray(quality)
    order = np.argsort(share_arr, kind="stable")
    return share_arr[order], quality_arr[order]


def routellm_curve(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike, *, num_results: int = 10
) -> tuple[FloatArray, FloatArray]:
    """(shares, PGR) at RouteLLM's ``num_results + 1`` cutoffs, sorted by share.

    Transcribes ``Benchmark.evaluate`` in routellm/evals/benchmarks.py: cutoffs are the
    score deciles (``pd.qcut(scores, 10, retbins=True)``), prompts with score >= cutoff go
    to strong (> for the last cutoff), and the x value is the *realised* strong share,
    which is within one prompt of 0%, 10%, ..., 100% when scores are distinct (ties can
    move it further). Differences from their code: pandas raises on duplicate decile
    edges (many tied scores) where we keep them, which only repeats points and leaves
    the area unchanged; quality is a fraction, not a percentage. Cutoffs follow pandas
    2.x; pandas 3 nudges the deciles up by an ulp, which changes a point only when a
    cutoff lands exactly on a score (one prompt moves across).
    """
    s, w, st = _check_inputs(scores, weak, strong)
    q_weak, q_strong = _gap(w, st)
    shares, quality = _routellm_points(s, w, st, num_results)
    return shares, (quality - q_weak) / (q_strong - q_weak)


def apgr_routellm(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike, *, num_results: int = 10
) -> float:
    """RouteLLM's APGR: trapezoid area of ``routellm_curve`` over the realised shares.

    Their ``apgr_metric`` is (trapz(acc) - trapz(weak)) / (trapz(strong) - trapz(weak))
    over the same x values; those span exactly [0, 1] (first cutoff = min sends everyone
    to strong, last sends no one), so it equals the trapezoid area of PGR computed here.
    """
    shares, pgr = routellm_curve(scores, weak, strong, num_results=num_results)
    return float(np.trapezoid(pgr, shares))


def cpt_routellm(
    scores: npt.ArrayLike,
    weak: npt.ArrayLike,
    strong: npt.ArrayLike,
    target: float,
    *,
    num_results: int = 10,
) -> float:
    """RouteLLM's CPT: linear interpolation of the 11-point curve, as a share in [0, 1].

    Their ``pct_call_metric`` is ``np.interp(q_weak + target*(q_strong - q_weak),
    accuracy, strong_percentage)`` with points sorted by share. np.interp assumes the
    accuracy column increases; RouteLLM does not check, and on a flat stretch it returns
    the *right* end, so this can exceed the full-resolution ``cpt``. Kept as-is so the
    numbers compare with their published table.
    """
    s, w, st = _check_inputs(scores, weak, strong)
    q_weak, q_strong = _gap(w, st)
    shares, quality = _routellm_points(s, w, st, num_results)
    return float(np.interp(q_weak + target * (q_strong - q_weak), quality, shares))


# ------------------------------------------------------------------ reference routers


def random_curve(weak: npt.ArrayLike, strong: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Expected PGR of random routing at every k/n: PGR(c) = c, hence APGR 0.5."""
    w, st = _as_1d("weak", weak), _as_1d("strong", strong)
    if w.size != st.size:
        raise ValueError(f"weak and strong differ in length: {w.size} vs {st.size}")
    _gap(w, st)
    shares = np.arange(w.size + 1, dtype=np.float64) / w.size
    return shares, shares.copy()


def oracle_scores(weak: npt.ArrayLike, strong: npt.ArrayLike) -> FloatArray:
    """Scores of the oracle router: strong - weak, so prompts where strong wins most go first.

    For every share it attains the best possible mean quality, so its APGR bounds any
    scorer's from above.
    """
    return _as_1d("strong", strong) - _as_1d("weak", weak)


# ------------------------------------------------------------- ranking and calibration


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC (scikit-learn's, ties counted half); NaN when the labels hold one class only,
    where scikit-learn would warn and AUC is undefined."""
    s = _as_1d("scores", scores)
    y = np.asarray(labels).astype(bool).reshape(-1)
    if y.size != s.size:
        raise ValueError(f"scores and labels differ in length: {s.size} vs {y.size}")
    if y.all() or not y.any():
        return math.nan
    return float(roc_auc_score(y, s))


def _check_probs(probs: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    p = _as_1d("probs", probs)
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("probs must lie in [0, 1]")
    y = np.asarray(labels).astype(np.float64).reshape(-1)
    if y.size != p.size:
        raise ValueError(f"probs and labels differ in length: {p.size} vs {y.size}")
    return p, y


def brier(probs: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Brier score (scikit-learn's): mean squared error between the predicted probability
    and the 0/1 outcome."""
    p, y = _check_probs(probs, labels)
    return float(brier_score_loss(y, p))


def reliability_curve(
    probs: npt.ArrayLike, labels: npt.ArrayLike, bins: int = 10
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """(mean predicted, observed positive rate, count) per equal-width bin on [0, 1].

    Always ``bins`` entries so curves line up across models; empty bins give NaN.
    Bin i is [i/bins, (i+1)/bins), the last one closed so that p = 1 is counted.
    """
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    p, y = _check_probs(probs, labels)
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    counts = np.bincount(idx, minlength=bins).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_pred = np.bincount(idx, weights=p, minlength=bins) / counts
        frac_pos = np.bincount(idx, weights=y, minlength=bins) / counts
    return mean_pred, frac_pos, counts


# ------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class RoutingMetrics:
    """One scorer on one benchmark. Shares (cpt*) are fractions in [0, 1]."""

    n: int
    q_weak: float
    q_strong: float
    apgr: float
    apgr_10bin: float
    cpt50: float
    cpt80: float
    cpt50_10bin: float
    cpt80_10bin: float
    auc: float
    oracle_apgr: float
    random_apgr: float = 0.5

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class RoutingCurves:
    """The curves behind RoutingMetrics, for plotting (random routing is PGR = share)."""

    shares: FloatArray
    pgr: FloatArray
    oracle_pgr: FloatArray
    shares_10bin: FloatArray
    pgr_10bin: FloatArray


def evaluate_scores(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike
) -> RoutingMetrics:
    """All headline metrics for one scorer; AUC labels are ``strong > weak``."""
    s, w, st = _check_inputs(scores, weak, strong)
    q_weak, q_strong = _gap(w, st)
    return RoutingMetrics(
        n=int(s.size),
        q_weak=q_weak,
        q_strong=q_strong,
        apgr=apgr(s, w, st),
        apgr_10bin=apgr_routellm(s, w, st),
        cpt50=cpt(s, w, st, 0.5),
        cpt80=cpt(s, w, st, 0.8),
        cpt50_10bin=cpt_routellm(s, w, st, 0.5),
        cpt80_10bin=cpt_routellm(s, w, st, 0.8),
        auc=auc(s, st > w),
        oracle_apgr=apgr(oracle_scores(w, st), w, st),
    )


def routing_curves(
    scores: npt.ArrayLike, weak: npt.ArrayLike, strong: npt.ArrayLike
) -> RoutingCurves:
    """Full-resolution PGR of the scorer and the oracle, plus RouteLLM's 11 points."""
    s, w, st = _check_inputs(scores, weak, strong)
    shares, pgr = pgr_curve(s, w, st)
    _, oracle_pgr = pgr_curve(oracle_scores(w, st), w, st)
    shares_10, pgr_10 = routellm_curve(s, w, st)
    return RoutingCurves(shares, pgr, oracle_pgr, shares_10, pgr_10)


# ------------------------------------------------------------------------- bootstrap


class BootstrapCI(NamedTuple):
    estimate: float
    low: float
    high: float


def bootstrap_ci(
    fn: Callable[..., float],
    *arrays: npt.ArrayLike,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> BootstrapCI:
    """Percentile bootstrap of ``fn(*arrays)``, resampling rows jointly across arrays.

    Resamples where ``fn`` raises ValueError (e.g. PGR undefined because the resample
    has no quality gap) or returns NaN are dropped; if all are, the bounds are NaN.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    cols = [np.asarray(a) for a in arrays]
    n = len(cols[0])
    if n == 0 or any(len(c) != n for c in cols):
        raise ValueError("arrays must be non-empty and share their first dimension")
    rng = np.random.default_rng(seed)
    stats = np.full(n_boot, np.nan)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        try:
            stats[b] = fn(*(c[idx] for c in cols))
        except ValueError:
            continue
    estimate = float(fn(*cols))
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return BootstrapCI(estimate, math.nan, math.nan)
    low, high = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    return BootstrapCI(estimate, float(low), float(high))
