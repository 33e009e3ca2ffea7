"""Hiding reasoning traces (`<think>...</think>` spans) from answers, also when they arrive in pieces.

Chain-of-thought is what elicitation prompts harvest; `strip` removes the spans, `summarize` replaces
each with a one-line note of its length. An unterminated span (the answer was cut) is hidden to the end.
"""

from __future__ import annotations

__all__ = ["ReasoningFilter", "filter_reasoning"]


class ReasoningFilter:
    """Streaming filter: `feed(piece) -> visible text`, then `finish() -> the rest`.

    Text that might be the start of a tag is held back until the next piece decides it.
    """

    def __init__(self, mode: str = "strip", tags: tuple[str, ...] = ("think",)):
        self.mode = mode
        self.opens = [f"<{t}>" for t in tags]
        self.closes = {f"<{t}>": f"</{t}>" for t in tags}
        self.buffer = ""
        self.inside: str | None = None  # the closing tag we wait for
        self.hidden = ""
        self.spans = 0

    def _note(self) -> str:
        self.spans += 1
        text, self.hidden = self.hidden, ""
        if self.mode == "summarize":
            return f"[reasoning hidden: {len(text.split())} words]"
        return ""

    def feed(self, piece: str) -> str:
        if self.mode == "keep":
            return piece
        self.buffer += piece
        out = []
        while self.buffer:
            if self.inside is None:
                hits = [(self.buffer.find(o), o) for o in self.opens if o in self.buffer]
                if hits:
                    at, tag = min(hits)
                    out.append(self.buffer[:at])
                    self.buffer, self.inside = self.buffer[at + len(tag):], self.closes[tag]
                    continue
                keep = self._partial(self.buffer, self.opens)
                out.append(self.buffer[: len(self.buffer) - keep])
                self.buffer = self.buffer[len(self.buffer) - keep:]
                break
            at = self.buffer.find(self.inside)
            if at >= 0:
                self.hidden += self.buffer[:at]
                self.buffer = self.buffer[at + len(self.inside):]
                self.inside = None
                out.append(self._note())
                continue
            keep = self._partial(self.buffer, [self.inside])
            self.hidden += self.buffer[: len(self.buffer) - keep]
            self.buffer = self.buffer[len(self.buffer) - keep:]
            break
        return "".join(out)

    @staticmethod
    def _partial(text: str, tags: list[str]) -> int:
        """Length of the longest suffix of `text` that is a proper prefix of a tag."""
        best = 0
        for tag in tags:
            for n in range(min(len(tag) - 1, len(text)), 0, -1):
                if text.endswith(tag[:n]):
                    best = max(best, n)
                    break
        return best

    def finish(self) -> str:
        if self.mode == "keep":
            return ""
        if self.inside is not None:
            self.hidden += self.buffer
            self.buffer, self.inside = "", None
            return self._note()
        rest, self.buffer = self.buffer, ""
        return rest


def filter_reasoning(text: str, mode: str = "strip", tags: tuple[str, ...] = ("think",)) -> tuple[str, int]:
    """The text without its reasoning spans, and how many spans there were."""
    f = ReasoningFilter(mode, tags)
    out = f.feed(text) + f.finish()
    return out, f.spans
