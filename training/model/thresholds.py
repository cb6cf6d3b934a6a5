"""Turn out-of-fold scores into score cut-points for named operating points."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def quality_at_threshold(scores: F64, weak: F64, strong: F64, t: float) -> float:
    return float(np.where(scores >= t, strong, weak).mean())


def threshold_for_quality(scores: F64, weak: F64, strong: F64, share_of_strong: float) -> float:
    """Highest cut-point (fewest strong calls) whose quality reaches the target share
    of the all-strong quality."""
    target = share_of_strong * float(strong.mean())
    for t in np.unique(scores)[::-1]:
        if quality_at_threshold(scores, weak, strong, float(t)) >= target:
            return float(t)
    return float(scores.min())


def threshold_for_strong_share(scores: F64, share: float) -> float:
    """Cut-point that sends about `share` of prompts to the strong tier."""
    return float(np.quantile(scores, 1.0 - share))


def operating_points(scores: F64, weak: F64, strong: F64) -> dict[str, float]:
    return {
        "quality_0.95": threshold_for_quality(scores, weak, strong, 0.95),
        "quality_0.90": threshold_for_quality(scores, weak, strong, 0.90),
        "strong_share_0.5": threshold_for_strong_share(scores, 0.5),
        "strong_share_0.3": threshold_for_strong_share(scores, 0.3),
    }
