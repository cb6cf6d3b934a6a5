"""Reading and checking a routing config: pydantic per field, then cross-field checks.

Every problem is reported at once, each as `file:line field.path: message`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmtriage.routing.config import ForbidTiers, RouteToDeployment, RouteToTier, RoutingConfig
from llmtriage.routing.yaml_source import Issue, YamlSource

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "defaults" / "routing.yaml"


def load_routing_config(path: str | Path | None = None) -> RoutingConfig:
    """The config at `path`, or the packaged example (`defaults/routing.yaml`)."""
    source, data = YamlSource.read(Path(path) if path is not None else DEFAULT_CONFIG)
    return parse_routing_config(data, source)


def parse_routing_config(data: Any, source: YamlSource | None = None) -> RoutingConfig:
    source = source or YamlSource("<routing config>", None)
    try:
        config = RoutingConfig.model_validate(data)
    except ValidationError as exc:
        issues = [Issue(tuple(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise source.error(issues) from exc
    config = config.with_source(source)  # before the checks: paths are relative to it
    issues = [issue for check in CHECKS for issue in check(config)]
    if issues:
        raise source.error(issues)
    return config


def _unique_names(config: RoutingConfig) -> Iterator[Issue]:
    seen: Counter[str] = Counter()
    for t, tier in enumerate(config.tiers):
        seen[tier.name] += 1
        if seen[tier.name] > 1:
            yield Issue(("tiers", t, "name"), f"tier '{tier.name}' is defined twice")
        for d, deployment in enumerate(tier.deployments):
            seen[deployment.name] += 1
            if seen[deployment.name] > 1:
                yield Issue(
                    ("tiers", t, "deployments", d, "name"),
                    f"name '{deployment.name}' is already used by a tier or deployment",
                )
    for i, name in enumerate(config.auto_model_names):
        if name in seen:
            yield Issue(("auto_model_names", i), f"'{name}' is also a tier or deployment name")


def _rules(config: RoutingConfig) -> Iterator[Issue]:
    tiers = set(config.tier_names)
    deployments = {d.name for tier in config.tiers for d in tier.deployments}
    ids: set[str] = set()
    for r, rule in enumerate(config.rules):
        if rule.id in ids:
            yield Issue(("rules", r, "id"), f"rule id '{rule.id}' is used twice")
        ids.add(rule.id)
        if isinstance(rule, RouteToTier) and rule.tier not in tiers:
            yield Issue(
                ("rules", r, "tier"), f"unknown tier '{rule.tier}' (tiers: {', '.join(tiers)})"
            )
        if isinstance(rule, RouteToDeployment) and rule.deployment not in deployments:
            yield Issue(("rules", r, "deployment"), f"unknown deployment '{rule.deployment}'")
        if isinstance(rule, ForbidTiers):
            for i, name in enumerate(rule.tiers):
                if name not in tiers:
                    yield Issue(("rules", r, "tiers", i), f"unknown tier '{name}'")
            if tiers <= set(rule.tiers):
                yield Issue(("rules", r, "tiers"), "forbids every tier: no request could be served")
        lo, hi = rule.match.min_tokens, rule.match.max_tokens
        if lo is not None and hi is not None and lo > hi:
            yield Issue(("rules", r, "match", "min_tokens"), "min_tokens is above max_tokens")


def _classifier(config: RoutingConfig) -> Iterator[Issue]:
    thresholds = config.classifier.thresholds
    if thresholds is None:
        return
    above_cheapest = config.tier_names[1:]
    if set(thresholds) != set(above_cheapest):
        yield Issue(
            ("classifier", "thresholds"),
            "needs one minimum score for each tier but the cheapest "
            f"({', '.join(above_cheapest)}); got {', '.join(thresholds) or 'none'}",
        )
        return
    scores = [thresholds[name] for name in above_cheapest]
    if scores != sorted(scores):
        yield Issue(("classifier", "thresholds"), "minimum scores must rise with the tier order")


def _tier_refs(config: RoutingConfig) -> Iterator[Issue]:
    tiers = set(config.tier_names)
    if config.default_tier is not None and config.default_tier not in tiers:
        yield Issue(("default_tier",), f"unknown tier '{config.default_tier}'")
    cascade = config.cascade
    for field in ("cheap_tier", "strong_tier"):
        # Checked when the cascade is on or the field is written out (defaults may not fit).
        if cascade.enabled or field in cascade.model_fields_set:
            name = getattr(cascade, field)
            if name not in tiers:
                yield Issue(
                    ("cascade", field),
                    f"unknown tier '{name}' (tiers: {', '.join(config.tier_names)})",
                )
    novel = config.classifier.novel_tier
    if novel is not None and novel not in tiers:
        yield Issue(
            ("classifier", "on_novel"),
            f"unknown tier '{novel}' (tiers: {', '.join(config.tier_names)})",
        )
    if config.classifier.on_novel == "cascade" and not cascade.enabled:
        yield Issue(("classifier", "on_novel"), "on_novel: cascade needs cascade.enabled")
    order = config.tier_names
    pair = (cascade.cheap_tier, cascade.strong_tier)
    if cascade.enabled and set(pair) <= tiers and order.index(pair[0]) > order.index(pair[1]):
        yield Issue(("cascade", "cheap_tier"), "cheap_tier must come before strong_tier")


def _shadow(config: RoutingConfig) -> Iterator[Issue]:
    shadow = config.shadow
    deployments = [d.name for tier in config.tiers for d in tier.deployments]
    if shadow.active and shadow.judge is None:
        yield Issue(("shadow", "judge"), "shadow comparisons need a judge deployment")
    if shadow.judge is not None and shadow.judge not in deployments:
        yield Issue(
            ("shadow", "judge"),
            f"unknown deployment '{shadow.judge}' (deployments: {', '.join(deployments)})",
        )
    for name in shadow.routers:
        if name not in config.auto_model_names:
            yield Issue(("shadow", "routers", name), f"'{name}' is not an auto model name")
    path = config.shadow_template_path()
    if path is not None and not path.is_file():
        yield Issue(("shadow", "template"), f"no judge prompt template at {path}")


CHECKS: tuple[Callable[[RoutingConfig], Iterator[Issue]], ...] = (
    _unique_names,
    _rules,
    _classifier,
    _tier_refs,
    _shadow,
)
