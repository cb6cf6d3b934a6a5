"""Proxy client keys, stored as sha256 digests and compared in constant time.

Generate an entry with `python -c "import hashlib; print(hashlib.sha256(b'KEY').hexdigest())"`
or `hash_key`. Presented keys are never stored, echoed or logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ClientKeys:
    def __init__(self, digests: Sequence[str]) -> None:
        self._digests = tuple(d.encode("ascii") for d in digests)

    @property
    def required(self) -> bool:
        return bool(self._digests)

    def verify(self, presented: str | None) -> bool:
        if not self._digests:
            return True
        return self.match(presented) is not None

    def match(self, presented: str | None) -> str | None:
        """The digest of `presented` when it is one of the keys, else None."""
        if not presented:
            return None
        digest = hash_key(presented)
        raw = digest.encode("ascii")
        # Compare against every entry, no early exit: timing says nothing about which matched.
        matched = False
        for known in self._digests:
            matched |= hmac.compare_digest(raw, known)
        return digest if matched else None


def bearer_token(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
