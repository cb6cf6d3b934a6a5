"""The signal registry: name -> signal class, read by config validation and by
`build_confidence`. Its own module so that config (validates names) and combine
(builds signals from config) both depend on it, not on each other."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from llmtriage.cascade.base import ConfidenceSignal
from llmtriage.cascade.signals import (
    EmptyAnswer,
    InvalidJson,
    MeanLogprob,
    MinLogprob,
    Refusal,
    SignalDeps,
    Truncated,
    VerifierSignal,
)


class SignalClass(Protocol):
    """A signal class: its registry name and how it is built from config options."""

    @property
    def name(self) -> str: ...

    def build(self, options: Mapping[str, Any], deps: SignalDeps) -> ConfidenceSignal: ...


# name -> class; feeds config validation (CascadeConfig) and build_confidence.
SIGNALS: dict[str, SignalClass] = {
    cls.name: cls
    for cls in (
        EmptyAnswer,
        Truncated,
        InvalidJson,
        Refusal,
        MinLogprob,
        MeanLogprob,
        VerifierSignal,
    )
}
