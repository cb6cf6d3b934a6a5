"""When a stream is over: what the chunks said, not whether a terminator followed.

`[DONE]` (OpenAI) and `message_stop` (Anthropic) are courtesies: a stream whose every
choice delivered its `finish_reason`, and its usage when the client asked for it, holds
the whole answer, and losing it to a missing terminator would throw a correct answer
(and its cost) away. A stream that stops before that is cut, whatever way it stopped:
a clean end of body, a reset, a stall. Providers feed each chunk to a `StreamEnd` and
ask it, when the upstream stops, whether to end normally or raise. `Malformed` skips
the events that cannot be decoded, up to a limit.
"""

from __future__ import annotations

import logging

from llmtriage.providers.base import Endpoint
from llmtriage.providers.errors import ProviderProtocolError
from llmtriage.providers.types import ChatChunk

log = logging.getLogger(__name__)

# After the final usage chunk only the terminator can follow: wait this long for it (so
# that the connection is read to its end and reused), then stop waiting.
DRAIN_S = 1.0


class StreamEnd:
    def __init__(self, *, wants_usage: bool) -> None:
        self.wants_usage = wants_usage
        self._open: set[int] = set()  # choices seen, no finish_reason yet
        self._finished: set[int] = set()
        self.usage = False

    def see(self, chunk: ChatChunk) -> None:
        if chunk.usage is not None:
            self.usage = True
        for choice in chunk.choices:
            index = int(choice.get("index", 0))
            if choice.get("finish_reason") is not None:
                self._open.discard(index)
                self._finished.add(index)
            elif index not in self._finished:
                self._open.add(index)

    @property
    def finished(self) -> bool:
        """Every choice seen so far has its finish_reason (and at least one was seen)."""
        return bool(self._finished) and not self._open

    @property
    def complete(self) -> bool:
        """The answer is whole: nothing the client asked for is still to come."""
        return self.finished and (self.usage or not self.wants_usage)

    @property
    def settled(self) -> bool:
        """Nothing at all is still to come: finished and usage reported (the upstream is
        always asked for usage, so that cost can be accounted)."""
        return self.finished and self.usage

    def missing(self) -> str:
        """What a stream that stopped now would lack, for the error message."""
        if not self.finished:
            return "before its finish_reason (cut)"
        return "before its usage chunk (cut)"


class Malformed:
    """Undecodable events of one stream. One garbled event in an otherwise good stream
    costs that event, not the answer: it is skipped, logged (without its text, which may
    quote the answer) and reported to `Endpoint.on_malformed`; past the deployment's
    `max_malformed_chunks` the stream counts as broken."""

    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self.count = 0

    def skip(self, error: ProviderProtocolError) -> None:
        self.count += 1
        endpoint, limit = self._endpoint, self._endpoint.max_malformed_chunks
        if self.count > limit:
            raise ProviderProtocolError(
                f"{self.count} malformed chunks in one stream (at most {limit} are skipped): "
                f"{error.detail}",
                deployment=endpoint.deployment,
            ) from error
        log.warning(
            "skipped a malformed stream chunk: deployment=%s (%d of at most %d): %s",
            endpoint.deployment,
            self.count,
            limit,
            error.detail,
        )
        if endpoint.on_malformed is not None:
            endpoint.on_malformed(endpoint.deployment)
