"""`llmtriage outcomes export` and `llmtriage replay`, over the decision log.

Only argparse here at import: the store, numpy (replay) and the scorer are imported
when a command runs, so registering these commands keeps `llmtriage --help` instant.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtriage.errors import InputError

if TYPE_CHECKING:
    from llmtriage.learning.record import LoggedDecision
    from llmtriage.learning.replay import Replay

    Sub = argparse._SubParsersAction[argparse.ArgumentParser]


def _log_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log", default=None, help="decision log URL (default: serve settings' decision_log.url)"
    )
    parser.add_argument("--config", type=Path, default=None, help="serve settings YAML")
    parser.add_argument("--since-days", type=float, default=None, help="only this recent")


def register_outcomes(sub: Sub) -> None:
    outcomes = sub.add_parser("outcomes", help="outcomes files from the decision log")
    verbs = outcomes.add_subparsers(dest="outcomes_command", required=True)
    export = verbs.add_parser("export", help="write the outcomes file from logged verdicts")
    _log_args(export)
    export.add_argument("--out", type=Path, required=True, help="FILE.jsonl or FILE.parquet")
    export.add_argument("--models", nargs="+", default=None, help="model (deployment) columns")
    export.add_argument(
        "--complete", action="store_true", help="only rows with a score for every model column"
    )
    export.set_defaults(handler=_export)


def register_replay(sub: Sub) -> None:
    parser = sub.add_parser(
        "replay", help="estimate a candidate threshold or artifact on logged traffic (IPW)"
    )
    _log_args(parser)
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--thresholds", default=None, help="TIER=MIN,… e.g. mid=0.4,strong=0.7")
    which.add_argument("--artifact", type=Path, default=None, help="candidate classifier folder")
    parser.add_argument(
        "--routing-config", type=Path, default=None, help="tier order (default: packaged)"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the estimates as JSON")
    parser.set_defaults(handler=_replay)


def _fetch(args: argparse.Namespace) -> list[LoggedDecision]:
    # the stores and the serve settings load when a command runs, not when it registers
    from llmtriage.learning.store import open_decision_store

    url = args.log
    if url is None:
        from llmtriage.server.settings import load_settings  # pydantic-settings: serve extra

        url = load_settings(config=args.config).decision_log.url
    since = None if args.since_days is None else time.time() - args.since_days * 86400.0

    async def read() -> list[LoggedDecision]:
        store = await open_decision_store(url)
        try:
            return await store.fetch(since=since)
        finally:
            await store.aclose()

    return asyncio.run(read())


def _export(args: argparse.Namespace) -> int:
    from llmtriage.learning.export import FORMATS, outcome_rows, write_outcomes  # on run only

    if args.out.suffix.lower() not in FORMATS:
        raise InputError(f"{args.out}: the outcomes file must end in .jsonl or .parquet")
    export = outcome_rows(_fetch(args), models=args.models, complete=args.complete)
    if not export.rows:
        raise InputError(
            f"no exportable rows: {export.judged} judged decisions, {export.without_prompt} "
            f"logged without their prompt (log_prompts off), {export.incomplete} missing a "
            "model column (--complete)"
        )
    write_outcomes(export, args.out)
    print(
        f"wrote {len(export.rows)} rows ({', '.join(export.models)}) to {args.out}; skipped "
        f"{export.without_prompt} without prompt, {export.incomplete} incomplete"
    )
    return 0


def _replay(args: argparse.Namespace) -> int:
    # numpy and the scorer: only once the command runs
    from llmtriage.learning import replay as rp
    from llmtriage.routing import load_routing_config

    if args.resamples < 0:
        raise InputError("--resamples must be 0 or more")
    tiers = load_routing_config(args.routing_config).tier_names
    if args.thresholds is not None:
        cutpoints = _cutpoints(args.thresholds)
        candidate = rp.threshold_policy(tiers, cutpoints)
        name = f"thresholds {args.thresholds}"
    else:
        from llmtriage.scoring.scorer import Scorer  # numpy and the embedder: on run only

        scorer = Scorer.load(args.artifact)
        cuts = list(scorer.thresholds.cutpoints)
        if len(cuts) != len(tiers) - 1:
            raise InputError(
                f"the artifact has {len(cuts) + 1} tiers, the routing config {len(tiers)}: "
                "pass --thresholds too"
            )
        candidate = rp.scorer_policy(tiers, scorer.score, dict(zip(tiers[1:], cuts, strict=True)))
        name = f"artifact {args.artifact} ({scorer.model_version})"
    logged = _fetch(args)
    unknown = sorted({e.record.routed_tier for e in logged} - set(tiers))
    if unknown:
        raise InputError(f"logged tiers {unknown} are not in the routing config's {tiers}")
    options = {"resamples": args.resamples, "seed": args.seed}
    results = [
        rp.replay(logged, rp.logged_policy, name="deployed", **options),
        rp.replay(logged, candidate, name=name, **options),
    ]
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
    else:
        for result in results:
            _print(result)
    return 0


def _cutpoints(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        tier, sep, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if not sep or not tier or not 0.0 <= number <= 1.0:
            raise InputError(f"--thresholds: {part!r} is not TIER=MIN with MIN in [0, 1]")
        out[tier.strip()] = number
    return out


def _print(result: Replay) -> None:
    def ci(e: Any, scale: float = 1.0, digits: int = 4) -> str:
        if e.value is None:
            return "n/a"
        if e.low is None:
            return f"{e.value * scale:.{digits}f}"
        low, high = e.low * scale, e.high * scale
        return f"{e.value * scale:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"

    shares = ", ".join(f"{t} {s:.0%}" for t, s in result.tier_shares.items())
    print(f"{result.policy}")
    print(f"  rows {result.rows}, routed as it would {result.matched} ({result.coverage:.0%}), "
          f"with feedback {result.quality_rows}, effective n {result.effective_n}")
    print(f"  quality SNIPS {ci(result.quality_snips)}   IPW {ci(result.quality_ipw)}  (95% CI)")
    print(f"  cost per 1k requests USD {ci(result.cost_per_request_snips, 1000.0)}")
    print(f"  tiers: {shares}")
    sys.stdout.flush()
