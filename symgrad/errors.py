"""One exception family for everything the user can get wrong."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field


@dataclass
class Source:
    """A piece of user text that an error can point into."""

    text: str
    name: str = "expression"  # what the text is: "expression", "--at", a file name
    _starts: list[int] | None = field(default=None, repr=False, compare=False)

    def line_col(self, pos: int) -> tuple[int, int]:
        """1-based line and column of a character offset: a binary search over the line starts,
        found once, so that a warning per statement costs log(lines) each, not a scan of the text."""
        pos = max(0, min(pos, len(self.text)))
        if self._starts is None:
            self._starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._starts, pos)
        return line, pos - self._starts[line - 1] + 1

    def line_text(self, line: int) -> str:
        return self.text.split("\n")[line - 1]


class SymgradError(Exception):
    """A problem with the user's input: what, where and a hint.

    `kind` is a short word (syntax, name, arity, binding, domain, input, ...);
    `span` is a (start, end) character range in `source`.
    """

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        source: Source | None = None,
        span: tuple[int, int] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.source = source
        self.span = span
        self.hint = hint

    def located(self, source: Source, span: tuple[int, int] | None) -> SymgradError:
        """Attach a place, unless the error already has one."""
        if self.source is None:
            self.source = source
            self.span = span
        return self

    @property
    def line_col(self) -> tuple[int | None, int | None]:
        if self.source is None or self.span is None:
            return None, None
        return self.source.line_col(self.span[0])

    def render(self) -> str:
        """The message as shown on stderr: what, the line with a caret, a hint."""
        out = [f"error: {self.message}"]
        if self.source is not None and self.span is not None:
            line, col = self.source.line_col(self.span[0])
            text = self.source.line_text(line)
            multiline = "\n" in self.source.text
            place = f"line {line}, column {col}" if multiline else f"column {col}"
            if self.source.name != "expression":
                out.append(f"  in {self.source.name}, {place}:")
            elif multiline:
                out.append(f"  {place}:")
            width = max(1, min(self.span[1] - self.span[0], len(text) - col + 1))
            # A long line is shown as a window around the place.
            lo = max(0, col - 1 - 50)
            hi = min(len(text), col - 1 + 50)
            shown = ("…" if lo else "") + text[lo:hi] + ("…" if hi < len(text) else "")
            pad = (col - 1 - lo) + (1 if lo else 0)
            shown = shown.replace("\t", " ")
            out.append(f"  {shown}")
            out.append("  " + " " * pad + "^" * min(width, max(1, hi - (col - 1))))
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)
