"""What a candidate scorer is: its target, its features and its fit settings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    """One candidate for model selection.

    target: "rasch" / "mean" (model-agnostic difficulty, one head) or "pair" (the
    gain of each source's evaluated pair, two heads: the recipe before this change).
    blocks: weights of the embedding, prompt-statistics and tf-idf n-gram blocks (0 drops one).
    balance: power of the per-task row weighting (1: every task the same total weight).
    offsets: a free intercept per (source, task) while fitting, dropped for serving.
    strip: fit on prompts with the benchmarks' wrappers removed.
    sources: which sources it trains on (None: all).
    """

    name: str
    target: str = "rasch"
    blocks: tuple[float, float, float] = (1.0, 1.0, 0.0)
    products: bool = True
    c: float = 0.1
    balance: float = 1.0
    offsets: bool = False
    strip: bool = True
    sources: tuple[str, ...] | None = None
    # score every pair by the predicted difficulty itself, not its expected gain
    monotone: bool = False

    @property
    def label(self) -> str:
        """The artifact's label kind (how head probabilities become a score)."""
        return "gain" if self.target == "pair" else "difficulty"


# The recipe the project shipped before leave-one-task-out selection (manifest of
# default-20261126075726): pair target, tf-idf, C 0.3, balance 0.5, products, trained
# on RouteLLM and LLMRouter only, on unstripped prompts.
PREVIOUS = Recipe(
    "previous (pair, all blocks)",
    target="pair",
    blocks=(1.0, 1.0, 1.0),
    products=True,
    c=0.3,
    balance=0.5,
    offsets=False,
    strip=False,
    sources=("routellm", "llmrouter"),
)

CANDIDATES: tuple[Recipe, ...] = (
    PREVIOUS,
    Recipe("pair, emb+stats", target="pair", c=0.1),
    Recipe("mean, emb+stats", target="mean"),
    Recipe("rasch, emb+stats", target="rasch"),
    Recipe("rasch, emb+stats, offsets", target="rasch", offsets=True),
    Recipe("mean, emb+stats, offsets", target="mean", offsets=True),
    Recipe("rasch, emb+stats, offsets, monotone", target="rasch", offsets=True, monotone=True),
    Recipe("rasch, stats only", target="rasch", blocks=(0.0, 1.0, 0.0)),
    Recipe("rasch, emb only", target="rasch", blocks=(1.0, 0.0, 0.0), products=False),
    Recipe("rasch, emb+stats+tfidf", target="rasch", blocks=(1.0, 1.0, 1.0)),
    Recipe("rasch, emb+stats, C 1", target="rasch", c=1.0),
    Recipe("rasch, emb+stats, unstripped", target="rasch", strip=False),
    Recipe("rasch, emb+stats, monotone", target="rasch", monotone=True),
)

# chosen by `make generalisation` (selection.py; figures in docs/generalisation.md)
DEFAULT = next(r for r in CANDIDATES if r.name == "rasch, emb+stats+tfidf")
