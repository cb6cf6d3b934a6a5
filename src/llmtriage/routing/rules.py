"""The rules engine: ordered, deterministic, first routing match wins.

Each rule is a conjunction of match conditions (one function per condition, in
`MATCHERS`) and one action (in `ACTIONS`):

    route_to_tier / route_to_deployment   the first of these (or classify) to match decides
    classify                              ... that the classifier decides (explicit fall-through)
    forbid_tiers                          restricts: every matching one applies, wherever it
                                          stands in the list; what was decided is clamped to
                                          the highest allowed tier
    no_cascade                            restricts too: the request skips the cascade

forbid_tiers rules apply regardless of order and to every request, so neither a
rule placed above them nor naming a model can dodge a restriction. Other rules
see requests for an auto model, and requests for a concrete model only when
they have a `model:` condition. Regexes are compiled once, at load.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from llmtriage.providers.types import ChatRequest
from llmtriage.routing.config import MatchConfig, RuleConfig
from llmtriage.routing.tokens import count_images, estimate_request
from llmtriage.text import content_text

JSON_FORMATS = frozenset({"json_object", "json_schema"})


class RequestFacts:
    """What rules look at, each computed at most once and only when asked."""

    def __init__(self, request: ChatRequest, headers: Mapping[str, str]) -> None:
        self.request = request
        self.headers = {name.lower(): value for name, value in headers.items()}

    @cached_property
    def tokens(self) -> int:
        return estimate_request(self.request)

    @cached_property
    def last_user_text(self) -> str:
        for message in reversed(self.request.messages):
            if message.role == "user":
                return content_text(message.content)
        return ""

    @property
    def has_tools(self) -> bool:
        return bool(self.request.tools)

    @property
    def has_images(self) -> bool:
        return any(count_images(m) for m in self.request.messages)

    @property
    def json_mode(self) -> bool:
        fmt = self.request.response_format
        return fmt is not None and fmt.get("type") in JSON_FORMATS


Predicate = Callable[[RequestFacts], bool]


def _one_of(value: str | list[str]) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


def _headers(wanted: dict[str, str | list[str]]) -> Predicate:
    allowed = {name: _one_of(values) for name, values in wanted.items()}
    return lambda f: all(f.headers.get(name) in values for name, values in allowed.items())


def _model(value: str | list[str]) -> Predicate:
    names = _one_of(value)
    return lambda f: f.request.model in names


def _min_tokens(limit: int) -> Predicate:
    return lambda f: f.tokens >= limit


def _max_tokens(limit: int) -> Predicate:
    return lambda f: f.tokens <= limit


def _flag(name: str) -> Callable[[bool], Predicate]:
    return lambda wanted: lambda f: getattr(f, name) is wanted


def _regex(pattern: str) -> Predicate:
    compiled = re.compile(pattern)
    return lambda f: compiled.search(f.last_user_text) is not None


# MatchConfig field -> builder of its predicate. Must cover every field (tested).
MATCHERS: dict[str, Callable[[Any], Predicate]] = {
    "headers": _headers,
    "model": _model,
    "min_tokens": _min_tokens,
    "max_tokens": _max_tokens,
    "has_tools": _flag("has_tools"),
    "has_images": _flag("has_images"),
    "json_mode": _flag("json_mode"),
    "last_user_regex": _regex,
}


def compile_match(match: MatchConfig) -> tuple[Predicate, ...]:
    given = ((name, getattr(match, name)) for name in type(match).model_fields)
    return tuple(
        MATCHERS[name](value) for name, value in given if value is not None and value != {}
    )


@dataclass(frozen=True)
class RuleOutcome:
    rule: str | None = None  # the rule that stopped evaluation
    tier: str | None = None
    deployment: str | None = None
    classify: bool = False  # a classify rule asked for the classifier explicitly
    forbidden: frozenset[str] = frozenset()
    forbid_rules: tuple[str, ...] = ()
    cascade: bool = True  # False: a no_cascade rule matched
    no_cascade_rules: tuple[str, ...] = ()


# An action returns the new outcome and whether it decided the route.
Action = Callable[[RuleOutcome], tuple[RuleOutcome, bool]]


def _route_to_tier(rule: Any) -> Action:
    return lambda o: (replace(o, rule=rule.id, tier=rule.tier), True)


def _route_to_deployment(rule: Any) -> Action:
    return lambda o: (replace(o, rule=rule.id, deployment=rule.deployment), True)


def _classify(rule: Any) -> Action:
    return lambda o: (replace(o, rule=rule.id, classify=True), True)


def _forbid(rule: Any) -> Action:
    tiers = frozenset(rule.tiers)
    return lambda o: (
        replace(o, forbidden=o.forbidden | tiers, forbid_rules=(*o.forbid_rules, rule.id)),
        False,
    )


def _no_cascade(rule: Any) -> Action:
    return lambda o: (
        replace(o, cascade=False, no_cascade_rules=(*o.no_cascade_rules, rule.id)),
        False,
    )


@dataclass(frozen=True)
class ActionKind:
    build: Callable[[Any], Action]
    restricts: bool = False  # applies even after a route was decided, to every request


ACTIONS: dict[str, ActionKind] = {
    "route_to_tier": ActionKind(_route_to_tier),
    "route_to_deployment": ActionKind(_route_to_deployment),
    "classify": ActionKind(_classify),
    "forbid_tiers": ActionKind(_forbid, restricts=True),
    "no_cascade": ActionKind(_no_cascade, restricts=True),
}


@dataclass(frozen=True)
class CompiledRule:
    id: str
    predicates: tuple[Predicate, ...]
    action: Action
    restricts: bool = False  # forbid_tiers: applies even after a route was decided
    sees_concrete_models: bool = field(default=False)

    def matches(self, facts: RequestFacts) -> bool:
        return all(predicate(facts) for predicate in self.predicates)


def _compile(rule: RuleConfig, kind: ActionKind) -> CompiledRule:
    return CompiledRule(
        id=rule.id,
        predicates=compile_match(rule.match),
        action=kind.build(rule),
        restricts=kind.restricts,
        sees_concrete_models=kind.restricts or rule.match.model is not None,
    )


class RuleSet:
    def __init__(self, rules: Sequence[RuleConfig]) -> None:
        self.rules = tuple(_compile(rule, ACTIONS[rule.action]) for rule in rules)

    def evaluate(self, facts: RequestFacts, *, auto: bool) -> RuleOutcome:
        outcome = RuleOutcome()
        decided = False
        for rule in self.rules:
            if decided and not rule.restricts:
                continue
            if (auto or rule.sees_concrete_models) and rule.matches(facts):
                outcome, decides = rule.action(outcome)
                decided = decided or decides
        return outcome
