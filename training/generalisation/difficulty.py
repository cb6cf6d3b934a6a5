"""Model-agnostic difficulty targets: how hard a prompt is for models in general.

The pair target ("does GPT-4 beat Mixtral here?") is tied to one pair and one grader.
A difficulty learnt from every model's outcome on a prompt serves any pair: a router
sends the hard prompts up, and each pair's thresholds are calibrated on its own data.

- `mean_difficulty`: one minus the mean quality over the source's models.
- `rasch_difficulty`: a one-parameter item-response fit, P(model m answers prompt p)
  = sigmoid(ability_m − difficulty_p), across sources at once. A question that appears
  in several sources (GSM8K, MMLU) has one difficulty, which puts the sources' models
  on one ability scale. A Gaussian prior on both keeps all-right / all-wrong prompts
  finite (their maximum-likelihood difficulty is ±infinity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import expit, log_expit

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def mean_difficulty(quality: F64) -> F64:
    """(rows, models) quality in [0, 1] -> 1 − mean over models, per row."""
    out: F64 = 1.0 - quality.mean(axis=1)
    return out


@dataclass(frozen=True)
class RaschFit:
    item_difficulty: F64  # per item (prompt key)
    ability: F64  # per model (source-qualified)
    converged: bool


def fit_rasch(
    items: I64, models: I64, outcomes: F64, *, n_items: int, n_models: int, prior: float = 1.0
) -> RaschFit:
    """Penalised maximum likelihood of a Rasch model over (item, model, outcome) triples.

    Outcomes may be soft (quality in [0, 1]): each counts as that fraction of a success.
    `prior` is the precision of the N(0, 1/prior) prior on every parameter.
    """
    if not items.size == models.size == outcomes.size:
        raise ValueError("items, models and outcomes must have the same length")
    y = np.clip(outcomes, 0.0, 1.0)

    def objective(params: F64) -> tuple[float, F64]:
        b, theta = params[:n_items], params[n_items:]
        z = theta[models] - b[items]
        nll = -float(np.sum(y * log_expit(z) + (1.0 - y) * log_expit(-z)))
        r = expit(z) - y
        grad_theta = np.bincount(models, weights=r, minlength=n_models)
        grad_b = -np.bincount(items, weights=r, minlength=n_items)
        nll += 0.5 * prior * float(params @ params)
        grad = np.concatenate([grad_b, grad_theta]) + prior * params
        return nll, grad

    res = minimize(
        objective,
        np.zeros(n_items + n_models),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "gtol": 1e-6},
    )
    return RaschFit(res.x[:n_items], res.x[n_items:], bool(res.success))


def fit_rasch_rows(
    keys: Sequence[str],
    sources: Sequence[str],
    quality: dict[str, F64],
    local: I64,
    models: dict[str, list[str]],
    *,
    prior: float = 1.0,
) -> tuple[RaschFit, I64, dict[tuple[str, str], int]]:
    """The Rasch fit over table rows: (fit, item index of each row, (source, model) ->
    ability index). Rows sharing a key are one item; each source's models are its own."""
    key_ids: dict[str, int] = {}
    item_of_row = np.array([key_ids.setdefault(k, len(key_ids)) for k in keys], dtype=np.int64)
    model_ids = {(s, m): j for j, (s, m) in enumerate((s, m) for s in models for m in models[s])}
    items, mods, ys = [], [], []
    src = np.asarray(sources)
    for s, names in models.items():
        rows = np.flatnonzero(src == s)
        if rows.size == 0:
            continue
        q = quality[s][local[rows]]
        for j, m in enumerate(names):
            items.append(item_of_row[rows])
            mods.append(np.full(rows.size, model_ids[(s, m)], dtype=np.int64))
            ys.append(q[:, j])
    fit = fit_rasch(
        np.concatenate(items),
        np.concatenate(mods),
        np.concatenate(ys),
        n_items=len(key_ids),
        n_models=len(model_ids),
        prior=prior,
    )
    return fit, item_of_row, model_ids


def rasch_difficulty(
    keys: Sequence[str],
    sources: Sequence[str],
    quality: dict[str, F64],
    local: I64,
    models: dict[str, list[str]],
    *,
    prior: float = 1.0,
) -> F64:
    """Per row: sigmoid(difficulty of its prompt key − mean ability), i.e. how likely an
    average model is to fail it. Rows sharing a key share the value."""
    fit, item_of_row, model_ids = fit_rasch_rows(keys, sources, quality, local, models, prior=prior)
    used = sorted({model_ids[(s, m)] for s in set(sources) for m in models[s]})
    centre = float(fit.ability[used].mean())
    return np.asarray(expit(fit.item_difficulty[item_of_row] - centre), dtype=np.float64)
