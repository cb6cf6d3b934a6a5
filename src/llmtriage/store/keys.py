"""Every key the service writes, built in one place.

Layout (prefix defaults to "llmtriage:"):

    {prefix}dc:<digest>                 decision cache entry (bytes, TTL)
    {prefix}ctr:<name>[:<bucket>]       counter (incr / incr_float)
    {prefix}met:<name>:<bucket>         per-bucket metric map (hincr / hgetall)
    {prefix}{brk:<deployment>}:state    circuit-breaker state (compare_and_set)
    {prefix}{brk:<deployment>}:win      circuit-breaker outcome window (record_outcome)
    {prefix}rl:<digest>                 per-client-key rate-limit bucket (compare_and_set)

Why: prompts may hold personal data and Redis keys show up in MONITOR, SCAN and slowlogs,
so anything derived from request text is a keyed BLAKE2b digest. The two breaker keys of a
deployment share the hash tag `{brk:...}`, so they sit in one Cluster slot and a future
script may touch both; every other key stays untagged and spreads across slots.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

DEFAULT_PREFIX = "llmtriage:"

# No braces: a brace in the prefix or a name would create or break a Cluster hash tag.
_PREFIX_RE = re.compile(r"[A-Za-z0-9_.:-]{0,64}")
_IDENT_RE = re.compile(r"[A-Za-z0-9_.:/@+-]{1,128}")
_PERSON = b"llmtriage-key"


def validate_prefix(prefix: str) -> str:
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(
            f"key prefix must match {_PREFIX_RE.pattern} (no braces or spaces), got {prefix!r}"
        )
    return prefix


@dataclass(frozen=True, slots=True)
class KeySpace:
    """Builds keys under one prefix. `secret` keys the digests (same on every replica).

    Without a secret a digest of a short, guessable prompt can be confirmed by anyone who can
    read the keys; with one it cannot.
    """

    prefix: str = DEFAULT_PREFIX
    secret: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        validate_prefix(self.prefix)

    def digest(self, *parts: str | bytes) -> str:
        """128-bit hex digest of `parts`; length-prefixed so ("ab", "c") != ("a", "bc")."""
        key = self.secret or b""
        if len(key) > 64:  # BLAKE2b keys are at most 64 bytes
            key = hashlib.blake2b(key).digest()
        h = hashlib.blake2b(digest_size=16, key=key, person=_PERSON)
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            h.update(len(data).to_bytes(8, "big"))
            h.update(data)
        return h.hexdigest()

    def decision(self, *parts: str | bytes) -> str:
        """Decision-cache key for a request: pass the prompt/messages and everything else the
        decision depends on (routing-config version, tenant, ...). Only a digest is kept."""
        if not parts:
            raise ValueError("decision() needs at least one part")
        return f"{self.prefix}dc:{self.digest(*parts)}"

    def rate(self, tenant: str) -> str:
        """Token-bucket key of one client (its key's digest, keyed again: not readable)."""
        return f"{self.prefix}rl:{self.digest('rate', tenant)}"

    def counter(self, name: str, bucket: int | None = None) -> str:
        """Counter key; pass `bucket` (see `time_bucket`) for time-bucketed aggregates."""
        base = f"{self.prefix}ctr:{_ident(name)}"
        return base if bucket is None else f"{base}:{int(bucket)}"

    def metrics(self, name: str, bucket: int) -> str:
        """Hash of per-field aggregates for one time bucket."""
        return f"{self.prefix}met:{_ident(name)}:{int(bucket)}"

    def breaker_state(self, deployment: str) -> str:
        return f"{self.prefix}{{brk:{_ident(deployment)}}}:state"

    def breaker_window(self, deployment: str) -> str:
        return f"{self.prefix}{{brk:{_ident(deployment)}}}:win"


def time_bucket(now: float, bucket_s: int) -> int:
    """Start (epoch seconds) of the `bucket_s`-long bucket holding `now`."""
    if bucket_s < 1:
        raise ValueError(f"bucket_s must be >= 1, got {bucket_s}")
    return int(now // bucket_s) * bucket_s


def _ident(name: str) -> str:
    """Names from config/code stay readable; anything else (braces, spaces, unicode) is
    replaced by a digest so it can neither break a hash tag nor smuggle text into keys."""
    if _IDENT_RE.fullmatch(name):
        return name
    return "h-" + hashlib.blake2b(name.encode(), digest_size=12, person=_PERSON).hexdigest()
