"""`Router.draft(request) -> Draft`, `Router.finish(draft) -> Decision`: rules, then the
classifier, then the tier; rules are evaluated once, in `draft`, and the text to score
travels in the draft (and then the decision), so the service can ask its score cache
between the two steps.

The scorer runs only when nothing else decided: no routing rule matched, the
client asked for an auto model (or a classify rule sent it there) and the
classifier is on. forbid_tiers restrictions clamp whatever was chosen.
`Decision.cascade` says whether the service tries the cascade's cheap tier first
(see `Router._cascades` and decision.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmtriage.errors import ConfigError
from llmtriage.providers.types import ChatRequest
from llmtriage.routing.catalog import Catalog, Target
from llmtriage.routing.config import RoutingConfig
from llmtriage.routing.decision import Decision, Reason
from llmtriage.routing.errors import NoAllowedTier, UnknownModel
from llmtriage.routing.rules import RequestFacts, RuleOutcome, RuleSet
from llmtriage.scoring.manifest import Thresholds
from llmtriage.scoring.scorer import Assessment, Scorer


class TierClassifier:
    """The scorer with cut-points expressed in the config's tier names."""

    def __init__(self, scorer: Scorer, thresholds: Thresholds) -> None:
        self._scorer = scorer.with_thresholds(thresholds)
        self.model_version = scorer.model_version
        self.thresholds = tuple(zip(thresholds.tiers[1:], thresholds.cutpoints, strict=True))

    def classify(self, text: str) -> tuple[float, str]:
        score = self._scorer.score(text)
        return score, self._scorer.tier(score)

    def assess(self, text: str) -> Assessment:
        """Score and novelty of the text (one embedding)."""
        return self._scorer.assess(text)

    def is_novel(self, novelty: float | None) -> bool:
        model = self._scorer.novelty_model
        return novelty is not None and model is not None and model.is_novel(novelty)

    def tier(self, score: float) -> str:
        """The tier a score falls in (for a score known without scoring, e.g. cached)."""
        return self._scorer.tier(score)


def config_thresholds(config: RoutingConfig, scorer: Scorer) -> Thresholds:
    """The config's per-tier minimum scores, else the artifact's mapped onto the config's tiers."""
    tiers = config.tier_names
    explicit = config.classifier.thresholds
    if explicit is not None:
        return Thresholds(tiers=tiers, cutpoints=[explicit[name] for name in tiers[1:]])
    artifact = scorer.thresholds
    if len(artifact.tiers) != len(tiers):
        raise config.source.error_at(
            ("classifier", "thresholds"),
            f"the classifier artifact (model {scorer.model_version}) has "
            f"{len(artifact.tiers)} tiers ({', '.join(artifact.tiers)}) but the config has "
            f"{len(tiers)} ({', '.join(tiers)}): "
            f"set classifier.thresholds to a minimum score for each of {', '.join(tiers[1:])}",
        )
    return Thresholds(tiers=tiers, cutpoints=list(artifact.cutpoints))


@dataclass(frozen=True)
class Draft:
    """A request with its rules evaluated: all the router knows before any scoring."""

    requested_model: str
    facts: RequestFacts
    outcome: RuleOutcome
    target: Target | None  # the deployment or tier the client named; None: an auto model
    text: str | None  # what the classifier scores; None: it is not needed


@dataclass(frozen=True)
class _Choice:
    tier: str
    deployment: str | None
    reason: Reason
    score: float | None = None
    novelty: float | None = None
    novel: bool = False


class Router:
    def __init__(
        self,
        config: RoutingConfig,
        classifier: TierClassifier | None,
        *,
        unavailable: frozenset[str] = frozenset(),
    ) -> None:
        self.catalog = Catalog(config, unavailable=unavailable)
        self.rules = RuleSet(config.rules)
        self.classifier = classifier if config.classifier.enabled else None
        self.default_tier = config.default_tier or config.tier_names[0]
        self.cascade = config.cascade
        self.on_novel = config.classifier.on_novel
        self.novel_tier = config.classifier.novel_tier

    @classmethod
    def from_config(
        cls,
        config: RoutingConfig,
        scorer: Scorer | None,
        *,
        unavailable: frozenset[str] = frozenset(),
    ) -> Router:
        if scorer is None and config.classifier.enabled:
            raise ConfigError("classifier.enabled is true but no classifier artifact was loaded")
        classifier = None
        if scorer is not None and config.classifier.enabled:  # a disabled one needs no thresholds
            classifier = TierClassifier(scorer, config_thresholds(config, scorer))
        return cls(config, classifier, unavailable=unavailable)

    def draft(self, request: ChatRequest, headers: Mapping[str, str]) -> Draft:
        """The request with its rules evaluated, once: `Draft.text` is what the classifier
        would score, None when rules, a named model or the default tier decide without it
        (the service looks scores up in its cache only then)."""
        facts = RequestFacts(request, headers)
        auto = request.model in self.catalog.auto_names
        target = None if auto else self.catalog.resolve(request.model)
        if not auto and target is None:
            raise UnknownModel(request.model, known=self.catalog.model_names)
        outcome = self.rules.evaluate(facts, auto=auto)
        text = facts.last_user_text if self._classifies(outcome, target) else None
        return Draft(request.model, facts, outcome, target, text)

    def decide(
        self,
        request: ChatRequest,
        headers: Mapping[str, str],
        *,
        known: Assessment | None = None,
    ) -> Decision:
        """`draft` then `finish`, for a caller with nothing to look up in between."""
        return self.finish(self.draft(request, headers), known)

    def finish(self, draft: Draft, known: Assessment | None = None) -> Decision:
        """The decision for a draft. `known`: the classifier's score and novelty for the
        draft's text when the caller already has them (a cache hit); used instead of
        scoring if the classifier runs."""
        facts, outcome = draft.facts, draft.outcome
        choice = self._choose(draft, known)
        tier = self.catalog.clamp(choice.tier, outcome.forbidden)
        if tier is None:
            raise NoAllowedTier(outcome.forbid_rules)
        deployment_name = choice.deployment
        reason = choice.reason
        if tier != choice.tier:
            deployment_name, reason = None, Reason.FORBIDDEN_CLAMP
        deployment = (
            self.catalog.deployments[deployment_name]
            if deployment_name is not None
            else self.catalog.pick(tier, facts.tokens)
        )
        return Decision(
            requested_model=draft.requested_model,
            tier=tier,
            deployment=deployment.name,
            model=deployment.model,
            reason=reason,
            score=choice.score,
            novelty=choice.novelty,
            novel=choice.novel,
            thresholds=self.classifier.thresholds if self.classifier else (),
            rule=outcome.rule,
            forbidden_tiers=tuple(t for t in self.catalog.tiers if t in outcome.forbidden),
            forbid_rules=outcome.forbid_rules,
            model_version=self.classifier.model_version
            if choice.score is not None and self.classifier
            else None,
            estimated_tokens=facts.tokens,
            cascade=self._cascades(tier, reason, choice.score, outcome),
            scored_text=draft.text if choice.score is not None else None,
        )

    def _cascades(
        self, tier: str, reason: Reason, score: float | None, outcome: RuleOutcome
    ) -> bool:
        cascade = self.cascade
        if reason is Reason.NOVEL and self.on_novel == "cascade":
            return tier == cascade.strong_tier and cascade.cheap_tier not in outcome.forbidden
        return (
            reason is Reason.CLASSIFIER
            and score is not None
            and cascade.applies(score)
            and outcome.cascade
            and tier == cascade.strong_tier
            and cascade.cheap_tier not in outcome.forbidden
        )

    def _classifies(self, outcome: RuleOutcome, target: Target | None) -> bool:
        """True when the classifier decides: `Draft.text` is set exactly then, and
        `_choose` reaches the classifier exactly when it is."""
        return (
            outcome.deployment is None
            and outcome.tier is None
            and (target is None or outcome.classify)
            and self.classifier is not None
        )

    def _choose(self, draft: Draft, known: Assessment | None) -> _Choice:
        outcome, target = draft.outcome, draft.target
        if outcome.deployment is not None:
            return _Choice(
                self.catalog.tier_of[outcome.deployment], outcome.deployment, Reason.RULE
            )
        if outcome.tier is not None:
            return _Choice(outcome.tier, None, Reason.RULE)
        if target is not None and not outcome.classify:
            return _Choice(target.tier, target.deployment, Reason.PASSTHROUGH)
        if self.classifier is None or draft.text is None:
            return _Choice(self.default_tier, None, Reason.DEFAULT)
        assessment = known if known is not None else self.classifier.assess(draft.text)
        score, novelty = assessment.score, assessment.novelty
        novel = self.classifier.is_novel(novelty)
        if novel and self.on_novel != "score":
            # the score is an extrapolation here: the configured action decides instead
            tier = self.novel_tier or self.cascade.strong_tier
            return _Choice(tier, None, Reason.NOVEL, score, novelty, True)
        return _Choice(self.classifier.tier(score), None, Reason.CLASSIFIER, score, novelty, novel)
