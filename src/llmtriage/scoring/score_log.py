"""Histograms of live classifier scores, kept in the shared store for threshold tuning.

Each scored request adds 1 to one of `SCORE_BINS` equal-width bins over [0, 1], in a hash
per time bucket (`KeySpace.metrics(name, bucket)`, one field per bin). Only counts are
kept, never prompts, so the log is safe to share between replicas and to keep for days.
`llmtriage tune --traffic` reads the buckets back to place cut-points on real traffic and
to measure drift against the scores the thresholds were tuned on.

Bin i holds scores in [i/bins, (i+1)/bins); the last bin is closed so that 1.0 counts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from llmtriage.store.base import Store
from llmtriage.store.keys import KeySpace, time_bucket

# Fine bins: scores crowd into a narrow band (0.45-0.75 for the default artifact), so 100
# bins would leave ~30 to place a cut-point with. A bucket's hash holds only the bins hit.
SCORE_BINS = 1000
LOG_NAME = "scores"
BUCKET_S = 3600  # hourly buckets: fine enough for a daily window, few keys for a week
RETENTION_S = 8 * 24 * 3600  # a week of history plus a day of slack


def score_bin(score: float, bins: int = SCORE_BINS) -> int:
    """Index of the bin holding `score`; out-of-range scores are clamped to the ends."""
    return min(bins - 1, max(0, math.floor(score * bins)))


async def record_score(
    store: Store,
    keys: KeySpace,
    score: float,
    now: float,
    *,
    name: str = LOG_NAME,
    bucket_s: int = BUCKET_S,
    ttl_s: float = RETENTION_S,
) -> None:
    """Count one score in the bucket holding `now` (epoch seconds). NaN is not counted."""
    if not math.isfinite(score):
        return  # a broken score must not land in an end bin and skew the cut-points
    key = keys.metrics(name, time_bucket(now, bucket_s))
    await store.hincr(key, str(score_bin(score)), 1.0, ttl_s=ttl_s)


@dataclass(frozen=True)
class ScoreHistogram:
    """Counts per equal-width bin over [0, 1]."""

    counts: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.counts:
            raise ValueError("a histogram needs at least one bin")
        if any(c < 0 or not math.isfinite(c) for c in self.counts):
            raise ValueError("histogram counts must be finite and non-negative")

    @classmethod
    def empty(cls, bins: int = SCORE_BINS) -> ScoreHistogram:
        return cls((0.0,) * bins)

    @classmethod
    def from_scores(cls, scores: Iterable[float], bins: int = SCORE_BINS) -> ScoreHistogram:
        counts = [0.0] * bins
        for s in scores:
            if math.isfinite(s):
                counts[score_bin(s, bins)] += 1.0
        return cls(tuple(counts))

    @classmethod
    def from_fields(cls, fields: Mapping[str, float], bins: int = SCORE_BINS) -> ScoreHistogram:
        """From one stored hash; fields that are not a bin index (another layout) are ignored."""
        counts = [0.0] * bins
        for field, value in fields.items():
            if field.isdigit() and int(field) < bins:
                counts[int(field)] += float(value)
        return cls(tuple(counts))

    @property
    def bins(self) -> int:
        return len(self.counts)

    @property
    def total(self) -> float:
        return float(sum(self.counts))

    def merged(self, other: ScoreHistogram) -> ScoreHistogram:
        if other.bins != self.bins:
            raise ValueError(f"cannot merge histograms of {self.bins} and {other.bins} bins")
        return ScoreHistogram(tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    def cdf(self) -> list[float]:
        """Share of scores below each upper bin edge (bins entries, the last is 1)."""
        total = self.total
        if total == 0:
            raise ValueError("the histogram is empty")
        out: list[float] = []
        running = 0.0
        for c in self.counts:
            running += c
            out.append(running / total)
        return out

    def share_at_or_above(self, cut: float) -> float:
        """Share of scores >= cut, taking scores as spread evenly within each bin."""
        total = self.total
        if total == 0:
            raise ValueError("the histogram is empty")
        x = min(1.0, max(0.0, cut)) * self.bins
        whole = math.floor(x)
        above = sum(self.counts[whole + 1 :]) if whole < self.bins else 0.0
        if whole < self.bins:
            above += self.counts[whole] * (1.0 - (x - whole))
        return above / total

    def cut_for_top_share(self, share: float) -> float:
        """Cut-point that sends about `share` of these scores to the top tier (>= cut).

        Interpolates linearly within the bin where the share is crossed, so the answer is
        accurate to a fraction of a bin (1/bins in score).
        """
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share must be in [0, 1], got {share}")
        total = self.total
        if total == 0:
            raise ValueError("the histogram is empty")
        need = share * total
        above = 0.0
        for i in range(self.bins - 1, -1, -1):
            c = self.counts[i]
            if c > 0 and above + c >= need:
                return (i + 1 - (need - above) / c) / self.bins
            above += c
        return 0.0

    def to_dict(self) -> dict[str, object]:
        return {"bins": self.bins, "counts": list(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ScoreHistogram:
        counts = data.get("counts")
        if not isinstance(counts, Sequence) or isinstance(counts, str):
            raise ValueError("a stored histogram needs a 'counts' list")
        return cls(tuple(float(c) for c in counts))


async def read_histogram(
    store: Store,
    keys: KeySpace,
    *,
    start: float,
    end: float,
    name: str = LOG_NAME,
    bucket_s: int = BUCKET_S,
    bins: int = SCORE_BINS,
) -> ScoreHistogram:
    """Sum of every bucket overlapping [start, end] (whole buckets: edges round outwards)."""
    if end < start:
        raise ValueError(f"end ({end}) is before start ({start})")
    hist = ScoreHistogram.empty(bins)
    bucket = time_bucket(start, bucket_s)
    while bucket <= end:
        fields = await store.hgetall(keys.metrics(name, bucket))
        if fields:
            hist = hist.merged(ScoreHistogram.from_fields(fields, bins))
        bucket += bucket_s
    return hist


# ------------------------------------------------------------------------- drift


def _quantile_groups(
    reference: ScoreHistogram, live: ScoreHistogram, k: int
) -> list[tuple[float, float]]:
    """(reference share, live share) in k groups of bins holding ~1/k of the reference each."""
    if reference.bins != live.bins:
        raise ValueError(f"histograms have {reference.bins} and {live.bins} bins")
    ref_total, live_total = reference.total, live.total
    if ref_total == 0 or live_total == 0:
        raise ValueError("drift needs two non-empty histograms")
    groups = [[0.0, 0.0] for _ in range(k)]
    below = 0.0
    for r, c in zip(reference.counts, live.counts, strict=True):
        middle = (below + r / 2) / ref_total  # reference CDF at the bin's middle
        g = min(k - 1, math.floor(middle * k))
        groups[g][0] += r / ref_total
        groups[g][1] += c / live_total
        below += r
    return [(a, b) for a, b in groups if a > 0 or b > 0]


def psi(reference: ScoreHistogram, live: ScoreHistogram, *, groups: int = 10) -> float:
    """Population stability index over the reference's deciles (bins merged so each group
    holds ~10 % of the reference: the usual PSI binning, robust to a narrow score band).

    Rules of thumb: < 0.1 stable, 0.1-0.25 a moderate shift, > 0.25 worth re-tuning for.
    """
    floor = 1e-4  # an empty group would make PSI infinite
    return sum(
        (max(floor, b) - max(floor, a)) * math.log(max(floor, b) / max(floor, a))
        for a, b in _quantile_groups(reference, live, groups)
    )


def ks_distance(reference: ScoreHistogram, live: ScoreHistogram) -> float:
    """Largest gap between the two CDFs at the bin edges (a lower bound on the exact KS)."""
    return max(abs(a - b) for a, b in zip(reference.cdf(), live.cdf(), strict=True))
