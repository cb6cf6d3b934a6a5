"""Cascade configuration: which tier pair, which signals, which threshold, where it applies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmtriage.cascade.registry import SIGNALS

# Cheap checks first: the combination stops at the first failed check (see combine.py).
DEFAULT_SIGNALS = ("empty", "truncated", "json", "refusal", "min_logprob", "mean_logprob")


class SignalConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    options: dict[str, float | bool | str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in SIGNALS:
            raise ValueError(f"unknown signal {name!r}; known: {', '.join(SIGNALS)}")
        return name


class CascadeConfig(BaseModel):
    """One cheap→strong tier pair. `band` is the classifier-score range where the cascade
    is tried: below it the cheap answer is served unchecked, above it the request goes
    straight to the strong tier (the router decides that; see `applies`)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    cheap_tier: str = "cheap"  # tier names as in the packaged routing.yaml
    strong_tier: str = "strong"
    signals: list[SignalConfig] = Field(
        default_factory=lambda: [SignalConfig(name=n) for n in DEFAULT_SIGNALS]
    )
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    band: tuple[float, float] = (0.0, 1.0)
    verifier_path: str | None = None  # artifact folder, needed by the "verifier" signal

    @field_validator("signals", mode="before")
    @classmethod
    def _names_as_configs(cls, value: Any) -> Any:
        if isinstance(value, list):  # YAML may list bare names: [empty, truncated, verifier]
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CascadeConfig:
        low, high = self.band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"band must satisfy 0 <= low <= high <= 1, got {self.band}")
        if self.cheap_tier == self.strong_tier:
            raise ValueError(f"cheap_tier and strong_tier are both {self.cheap_tier!r}")
        names = [s.name for s in self.signals]
        if "verifier" in names and self.verifier_path is None:
            raise ValueError("signal 'verifier' needs verifier_path")
        return self

    def applies(self, score: float) -> bool:
        """Whether a request with this classifier score goes through the cascade."""
        low, high = self.band
        return self.enabled and low <= score <= high
