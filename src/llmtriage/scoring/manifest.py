"""The artifact manifest: what a trained scorer is, how it was made, how well it did."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT_VERSION = 1

LabelKind = Literal["gain", "weak_wrong", "difficulty"]


class EmbedderRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str
    fingerprint: str
    dim: int = Field(gt=0)
    path: str | None = None  # folder inside the artifact; None = weights from an installed package
    description: str = ""


class LexicalRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_buckets: int = Field(gt=0)
    bigrams: bool = True


class ModelCalibration(BaseModel):
    """P(model answers a prompt) = sigmoid(slope · (−difficulty) + intercept)."""

    model_config = ConfigDict(extra="forbid")

    slope: float
    intercept: float


class LabelDef(BaseModel):
    """What the classifier learnt. `gain`: two heads P(strong good), P(weak good);
    score = (1 + P(strong good) − P(weak good)) / 2, so 0.5 means no expected gain.
    `weak_wrong`: one head P(weak model fails); score = that probability.
    `difficulty`: one head whose logit is the prompt's difficulty for models in general;
    `calibration` maps it to each known model's chance of answering, and the score is
    (1 + P(strong_model answers) − P(weak_model answers)) / 2 for the pair named here."""

    model_config = ConfigDict(extra="forbid")

    kind: LabelKind
    heads: list[str]
    description: str = ""
    weak_model: str = ""
    strong_model: str = ""
    calibration: dict[str, ModelCalibration] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _pair_is_calibrated(self) -> LabelDef:
        if self.kind == "difficulty":
            missing = [m for m in (self.weak_model, self.strong_model) if m not in self.calibration]
            if missing:
                raise ValueError(f"difficulty label: no calibration for {missing}")
            if len(self.heads) != 1:
                raise ValueError("difficulty label has exactly one head")
        return self


class NoveltyRef(BaseModel):
    """Centroids (array `novelty_centroids` in the weights file) and the threshold above
    which a prompt counts as unlike the training data; `rate` of held-out
    in-distribution prompts exceed it."""

    model_config = ConfigDict(extra="forbid")

    centroids: int = Field(gt=0)
    threshold: float
    rate: float = Field(gt=0, lt=1)


class Thresholds(BaseModel):
    """Ascending score cut-points between consecutive tiers (len(tiers) − 1 of them)."""

    model_config = ConfigDict(extra="forbid")

    tiers: list[str] = Field(min_length=1)
    cutpoints: list[float]
    chosen_for: str = ""
    operating_points: dict[str, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Thresholds:
        if len(self.cutpoints) != len(self.tiers) - 1:
            raise ValueError(f"{len(self.tiers)} tiers need {len(self.tiers) - 1} cutpoints")
        if any(b < a for a, b in zip(self.cutpoints, self.cutpoints[1:], strict=False)):
            raise ValueError("cutpoints must be ascending")
        return self


class DataRef(BaseModel):
    model_config = ConfigDict(extra="allow")

    source: str
    rows: int
    sha256: str


class WeightsRef(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: str = "weights.npz"
    sha256: str


class Lineage(BaseModel):
    """Where an adapted artifact comes from (`llmtriage train --base`): its base, the
    labelled rows it was refitted on and how. Absent on artifacts trained from scratch."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    base_version: str
    base_path: str
    base_weights_sha256: str
    data: list[DataRef] = Field(min_length=1)  # the labelled file(s): sha256 of the bytes
    rows: int = Field(gt=0)  # labelled rows the refit used
    method: str
    parameters: dict[str, Any] = Field(default_factory=dict)  # e.g. the prior strength


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    format_version: int
    name: str
    model_version: str
    created_at: str
    embedder: EmbedderRef
    lexical: LexicalRef | None = None
    stats: list[str] = Field(default_factory=list)
    # dense weights also cover features.stat_products of the standardised stats
    stat_products: bool = False
    label: LabelDef
    novelty: NoveltyRef | None = None
    max_chars: int = 8000
    scored_part: str = "last_user_turn"
    weights: WeightsRef
    thresholds: Thresholds
    training_data: list[DataRef] = Field(default_factory=list)
    library_versions: dict[str, str] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    lineage: Lineage | None = None  # optional: manifests written before it still load
