"""A problem found in a spec file, phrased so a person can fix it without reading code."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

LONG_ALLOWED = 40   # more allowed values than this are shortened in the text (--json keeps them all)
SHOWN_ALLOWED = 12


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    path: str                      # dotted field path inside the file, "" for the whole file
    message: str                   # what is wrong
    allowed: tuple[str, ...] = field(default=(), compare=False)  # what would be accepted

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = f"{self.path}: {self.message}" if self.path else self.message
        text = f"{where}: {what}"
        if len(self.allowed) > LONG_ALLOWED:  # e.g. the 245 phone regions: a line a person can read
            shown = ", ".join(self.allowed[:SHOWN_ALLOWED])
            text += f" (allowed: one of {len(self.allowed)} values: {shown}, …; --json lists them all)"
        elif self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        return text

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message,
                "allowed": list(self.allowed)}


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a choice is close to ``word``, else an empty string."""
    options = list(choices)
    same_but_case = [c for c in options if c.lower() == word.lower() and c != word]
    close = same_but_case or difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def dotted(parts: Iterable[object]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
