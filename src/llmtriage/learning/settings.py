"""The `decision_log` block of the serve settings (ServeSettings.decision_log)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_serializer, field_validator

from llmtriage.learning.store import check_url


class DecisionLogSettings(BaseModel):
    """Off by default; `enabled: true` logs every answered proxy request.

    url: sqlite:///path (one file, the default), postgresql://… (replicas share it) or
    memory://. Prompts are stored only with log_prompts; otherwise a keyed hash
    (hash_key; unset: redis_key_secret, else a key made up at start, so hashes then
    match only within one process). Rows older than retention_days, then the oldest
    beyond retention_rows, are pruned every prune_every_s. Writes go through a queue of
    queue_size rows, batch_size at a time, at most every flush_s; a full queue drops.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    enabled: bool = False
    url: str = Field(default="sqlite:///llmtriage-decisions.db", repr=False)  # may hold a password
    log_prompts: bool = False
    hash_key: SecretStr | None = None
    queue_size: int = Field(default=10_000, ge=1, le=10_000_000)
    batch_size: int = Field(default=500, ge=1, le=100_000)
    flush_s: float = Field(default=0.2, gt=0, le=60)
    retention_days: float | None = Field(default=30.0, gt=0)
    retention_rows: int | None = Field(default=10_000_000, ge=1)
    prune_every_s: float = Field(default=600.0, gt=0)
    timeout_s: float = Field(default=2.0, gt=0, le=60)  # per store call

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        return check_url(value)

    @field_serializer("hash_key", when_used="json")
    def _reveal_key(self, value: SecretStr | None) -> str | None:
        # JSON hands settings to `serve --workers N`'s workers, which need the real key.
        return None if value is None else value.get_secret_value()
