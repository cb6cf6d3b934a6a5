"""When a stream is over: what the chunks said, not whether a terminator followed.

`[DONE]` (OpenAI) and `message_stop` (Anthropic) are courtesies: a stream whose every
choice delivered its `finish_reason`, and its usage when the client asked for it, holds
the whole answer, and losing it to a missing terminator would throw a correct answer
(and its cost) away. A stream that stops before that is cut, whatever way it stopped:
a clean end of body, a reset, a stall. Providers feed each chunk to a `StreamEnd` and
ask it, when the upstream stops, whether to end normally or raise.
"""

from __future__ import annotations

from llmtriage.providers.types import ChatChunk

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
