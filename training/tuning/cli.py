"""`llmtriage tune`: pick cut-points for a target on outcomes data, or re-place them on
live traffic recorded by the server (`llmtriage.scoring.score_log`).

    llmtriage tune --data out.csv --weak small --strong big --target quality=0.95
    llmtriage tune --data out.csv --tiers cheap,mid,strong --models a,b,c \\
        --target cost=2.5 --prices cheap=0.3,mid=1,strong=10 --write manifest
    llmtriage tune --traffic --store redis://host:6379/0 --target strong-share=0.3

Prices are USD per 1,000 requests per tier (or per model column). `--price-unit mtok`
reads them as USD per million tokens and converts with `--tokens-per-request` (default
1,000 tokens: prompt plus answer of a typical chat turn; set your own average).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import yaml
from pydantic import SecretStr, ValidationError

from llmtriage.errors import InputError
from llmtriage.scoring import Scorer
from llmtriage.scoring.artifact import read_manifest, save_manifest, sha256_file
from llmtriage.scoring.manifest import Thresholds
from llmtriage.scoring.score_log import ScoreHistogram, ks_distance, psi, read_histogram
from llmtriage.store import (
    DEFAULT_PREFIX,
    KeySpace,
    MemoryStore,
    RedisConfig,
    StoreConfig,
    build_store,
)
from llmtriage.store.base import Store

# llmtriage_train modules are imported in the functions that use them, not here: the
# `llmtriage` CLI imports this module to register `tune`, and they pull in scikit-learn
# and scipy (tests/server: registering loads no training libraries).

F64 = npt.NDArray[np.float64]


def register(sub: Any) -> None:
    p = sub.add_parser("tune", help="choose classifier thresholds for a quality/cost/share target")
    p.add_argument("--model", type=Path, default=Path("models/default"), help="artifact folder")
    p.add_argument("--target", required=True,
                   help="quality=SHARE_OF_TOP | cost=USD_PER_1K_REQUESTS | strong-share=SHARE")
    p.add_argument("--data", type=Path, help="outcomes file (CSV, JSONL, Parquet)")
    p.add_argument("--weak", help="cheap model's column (two tiers)")
    p.add_argument("--strong", help="strong model's column (two tiers)")
    p.add_argument("--tiers", help="tier names cheapest first, e.g. weak,mid,strong "
                   "(default: the artifact's tiers when there are two)")
    p.add_argument("--models", help="one outcomes column per tier, same order as --tiers")
    p.add_argument("--prices", help="TIER_OR_COLUMN=PRICE,... (USD per 1k requests)")
    p.add_argument("--price-unit", choices=("1k-requests", "mtok"), default="1k-requests",
                   help="--prices in USD per 1,000 requests, or per million tokens")
    p.add_argument("--tokens-per-request", type=float, default=1000.0,
                   help="average tokens per request, to convert --price-unit mtok")
    p.add_argument("--tune-on", choices=("auto", "train", "cross-fit"), default="auto",
                   help="auto: tune on the train split, report on test; or cross-fit on the "
                   "test split when the artifact trained on those train rows")
    p.add_argument("--write", help="'manifest' (the artifact's) or FILE.yaml (routing config "
                   "fragment)")
    p.add_argument("--traffic", action="store_true",
                   help="place the top cut-point on recorded live scores (strong-share only)")
    p.add_argument("--store", default="memory", help="'memory' or a redis:// URL")
    p.add_argument("--key-prefix", default=None, help="store key prefix (default llmtriage:)")
    p.add_argument("--hours", type=float, default=24.0, help="traffic window, hours back")
    p.set_defaults(handler=run_tune)


def run_tune(args: argparse.Namespace) -> int:
    from llmtriage_train.tuning.tune import parse_target  # when run: see the top

    target = parse_target(args.target)
    if args.write and args.write != "manifest" and not args.write.endswith((".yaml", ".yml")):
        raise InputError(f"--write takes 'manifest' or a .yaml file, got {args.write!r}")
    if args.traffic:
        return run_traffic(args, target)
    if not args.data:
        raise InputError("give --data OUTCOMES_FILE (or --traffic to use recorded live scores)")
    return _run_data(args, target)


# ------------------------------------------------------------------ tiers and prices


def _tiers_and_models(
    args: argparse.Namespace, artifact_tiers: list[str]
) -> tuple[list[str], list[str]]:
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    elif args.weak and args.strong:
        models = [args.weak, args.strong]
    else:
        raise InputError("name the model columns: --weak COL --strong COL, or --tiers/--models")
    if args.tiers:
        tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    else:
        tiers = artifact_tiers if len(artifact_tiers) == len(models) else list(models)
    if len(tiers) != len(models) or len(models) < 2:
        raise InputError(f"--tiers names {len(tiers)} tiers but there are {len(models)} model "
                         "columns; give one column per tier, at least two")
    if len(set(tiers)) != len(tiers) or len(set(models)) != len(models):
        raise InputError("--tiers and --models must not repeat a name")
    return tiers, models


def _prices(args: argparse.Namespace, tiers: list[str], models: list[str]) -> F64 | None:
    if not args.prices:
        return None
    given: dict[str, float] = {}
    for item in args.prices.split(","):
        name, sep, value = item.partition("=")
        try:
            given[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--prices: {item!r} is not NAME=NUMBER") from None
        if not sep or given[name.strip()] < 0:
            raise InputError(f"--prices: {item!r} is not NAME=NON_NEGATIVE_NUMBER")
    unknown = set(given) - set(tiers) - set(models)
    if unknown:
        raise InputError(f"--prices names {', '.join(sorted(unknown))}, which is neither a tier "
                         f"({', '.join(tiers)}) nor a model column")
    out = []
    for tier, model in zip(tiers, models, strict=True):
        if tier not in given and model not in given:
            raise InputError(f"--prices gives no price for tier {tier!r}")
        out.append(given.get(tier, given.get(model, 0.0)))
    price = np.asarray(out, dtype=np.float64)
    if args.price_unit == "mtok":  # USD/Mtok x tokens/request x 1000 requests / 1e6 tokens
        price = price * args.tokens_per_request * 1000.0 / 1e6
    return price


# ------------------------------------------------------------------------ --data


def _run_data(args: argparse.Namespace, target: Any) -> int:
    # training modules load when the command runs (see the top)
    from llmtriage_train.data.outcomes import OutcomesError, read_outcomes
    from llmtriage_train.evaluation.evaluate import score_set
    from llmtriage_train.model.export import data_checksum
    from llmtriage_train.tuning import tune

    manifest = read_manifest(args.model)
    tiers, models = _tiers_and_models(args, manifest.thresholds.tiers)
    prices = _prices(args, tiers, models)
    try:
        outcomes = read_outcomes(args.data, models=models)
    except OutcomesError as exc:
        raise InputError(str(exc)) from exc
    quality = np.column_stack([outcomes.column(m) for m in models])
    seen = tune.trained_on({d.sha256 for d in manifest.training_data}, outcomes.prompts, quality)
    scorer = Scorer.load(args.model)
    result = tune.tune_rows(
        lambda prompts: score_set(scorer, prompts), outcomes.prompts, quality, outcomes.split,
        target, tiers, prices, tune_on=args.tune_on, seen=seen,
    )
    plan, tuned, report = result.plan, result.tuned, result.report
    print(f"{args.data}: {plan.how}; {plan.final.size} tuning rows, "
          f"{plan.held_out.size} held out")
    cuts = ", ".join(f"{t} >= {c:.4f}" for t, c in zip(tiers[1:], tuned.cutpoints, strict=True))
    print(f"cut-points for {target}: {cuts}  (tuning rows: {target.kind} {tuned.tuning_value:.3f})")
    print(tune.format_report(report, target))

    record = {
        "target": str(target),
        "tiers": tiers,
        "models": models,
        "cutpoints": tuned.cutpoints,
        "prices_usd_per_1k_requests": None if prices is None else prices.tolist(),
        "data": {
            "file": args.data.name,
            "sha256": sha256_file(args.data),
            "tuning_rows": int(plan.final.size),
            "tuning_rows_checksum": data_checksum(
                [outcomes.prompts[i] for i in plan.final], quality[plan.final, 0],
                quality[plan.final, -1]),
            "held_out_rows": int(plan.held_out.size),
            "plan": plan.how,
        },
        "tuning_value": tuned.tuning_value,
        "held_out": report.to_dict(),
        "reference_histogram": ScoreHistogram.from_scores(result.scores.tolist()).to_dict(),
        "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if args.write:
        _write(args, tiers, tuned.cutpoints, record)
    return 0


# ------------------------------------------------------------------------ writing


def _chosen_for(record: dict[str, Any]) -> str:
    data = record["data"]
    rows = data.get("tuning_rows_checksum")
    digests = f"sha256 {data['sha256'][:16]}" + (f", rows {rows[:16]}" if rows else "")
    return (f"{record['target']} on {data['tuning_rows']} rows of {data['file']} "
            f"({digests}) by llmtriage tune at {record['tuned_at']}")


def _write(args: argparse.Namespace, tiers: list[str], cuts: list[float],
           record: dict[str, Any]) -> None:
    if args.write == "manifest":
        manifest = read_manifest(args.model)
        # single-cut operating points only describe a two-tier split
        ops = manifest.thresholds.operating_points if len(tiers) == 2 else {}
        thresholds = Thresholds(tiers=tiers, cutpoints=cuts, chosen_for=_chosen_for(record),
                                operating_points=ops)
        previous = manifest.metrics.get("tuning", {})
        if "reference_histogram" not in record and "reference_histogram" in previous:
            record["reference_histogram"] = previous["reference_histogram"]
        metrics = {**manifest.metrics, "tuning": record}
        save_manifest(args.model, manifest.model_copy(
            update={"thresholds": thresholds, "metrics": metrics}))
        print(f"wrote thresholds into {args.model / 'manifest.json'}")
        return

    fragment = {"classifier": {"thresholds": dict(zip(tiers[1:], cuts, strict=True))}}
    header = (f"# llmtriage tune: {_chosen_for(record)}\n"
              "# merge into the routing config; tier names must match its tiers\n")
    Path(args.write).write_text(header + yaml.safe_dump(fragment, sort_keys=False),
                                encoding="utf-8")
    print(f"wrote {args.write}")


# --------------------------------------------------------------------- --traffic


def run_traffic(args: argparse.Namespace, target: Any, store: Store | None = None) -> int:
    """Re-place the top cut-point on recorded scores; `store` (else --store) is closed after."""
    if target.kind != "strong-share":
        raise InputError("--traffic supports only --target strong-share=S: live traffic "
                         "carries no quality labels, so quality and cost need --data")
    manifest = read_manifest(args.model)
    reference = _reference(args, manifest)
    live = asyncio.run(_read_live(args, store))
    if live.total == 0:
        raise InputError(f"no scores recorded in the last {args.hours:g} h in store "
                         f"{_redacted(args.store)}: is the server logging scores there?")

    top = live.cut_for_top_share(target.value)
    # only the top cut moves: live traffic says nothing about the lower tiers' trade-off
    cuts = [min(c, top) for c in manifest.thresholds.cutpoints[:-1]] + [top]
    tiers = manifest.thresholds.tiers
    print(f"{live.total:.0f} scores in the last {args.hours:g} h; "
          f"top-tier share at the current cut {manifest.thresholds.cutpoints[-1]:.4f}: "
          f"{live.share_at_or_above(manifest.thresholds.cutpoints[-1]):.3f}")
    print(f"cut-point for {target} on live traffic: {tiers[-1]} >= {top:.4f}")
    if reference is None:
        print("drift: no reference histogram; run `llmtriage tune --data ... --write manifest` "
              "first, or pass --data OUTCOMES_FILE")
    else:
        print(f"drift vs reference ({reference.total:.0f} scores): "
              f"PSI {psi(reference, live):.3f} (<0.1 stable, >0.25 re-tune), "
              f"KS {ks_distance(reference, live):.3f}")
    if args.write:
        record = {
            "target": str(target), "tiers": tiers, "cutpoints": cuts,
            # the histogram's digest: which counts the cut-point came from
            "data": {"file": f"live traffic, last {args.hours:g} h",
                     "sha256": hashlib.sha256(repr(live.counts).encode()).hexdigest(),
                     "tuning_rows": int(live.total)},
            "tuned_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        _write(args, tiers, cuts, record)
    return 0


def _reference(args: argparse.Namespace, manifest: Any) -> Any:
    if args.data:
        # training modules load when the command runs (see the top)
        from llmtriage_train.data.outcomes import OutcomesError, read_outcomes
        from llmtriage_train.evaluation.evaluate import score_set

        try:
            outcomes = read_outcomes(args.data)
        except OutcomesError as exc:
            raise InputError(str(exc)) from exc
        scores = score_set(Scorer.load(args.model), outcomes.prompts)
        return ScoreHistogram.from_scores(scores.tolist())
    stored = manifest.metrics.get("tuning", {}).get("reference_histogram")
    return ScoreHistogram.from_dict(stored) if stored else None


def _build_store(url: str, prefix: str) -> Store:
    if url == "memory":
        return MemoryStore()  # empty and process-local: only a dry run (or an injected one)
    try:  # fail_open=False: falling back to an empty local store would read as "no traffic"
        config = StoreConfig(backend="redis", fail_open=False,
                             redis=RedisConfig(url=SecretStr(url), prefix=prefix))
    except ValidationError as exc:
        raise InputError(f"--store: {exc.errors()[0]['msg']}") from None
    return build_store(config)


async def _read_live(args: argparse.Namespace, store: Store | None) -> Any:
    keys = KeySpace(prefix=args.key_prefix or DEFAULT_PREFIX)
    store = store if store is not None else _build_store(args.store, keys.prefix)
    try:
        if not await store.ping():
            raise InputError(f"--store {_redacted(args.store)} does not answer")
        now = time.time()
        return await read_histogram(store, keys, start=now - args.hours * 3600, end=now)
    finally:
        await store.aclose()


def _redacted(url: str) -> str:
    """The store URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
