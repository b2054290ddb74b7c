"""Fault injection: make a fake CRM misbehave the way real networks and APIs do.

A rule says *what* goes wrong (an HTTP status such as 429/503/500, ``hang``, ``drop`` or
``truncate``) and *how often* (a fraction of requests, or the next N requests), optionally only
for paths that contain a given text. Rules are checked in the order they were added.

Spec strings (CLI ``--fault`` and the admin route) read ``KIND:RATE`` or ``KIND:xN``, with an
optional ``@PATH`` suffix: ``429:0.05``, ``503:x3``, ``drop:0.1@/api/v4/contacts``, ``hang:x1``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass

ACTIONS = ("hang", "drop", "truncate")


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: str
    rate: float | None = None
    count: int | None = None
    path: str | None = None
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.kind not in ACTIONS and not (self.kind.isdigit() and 400 <= int(self.kind) <= 599):
            raise FaultSpecError(
                f"fault kind {self.kind!r} is not one of: an HTTP status 400-599 (429, 503, 500 ...), "
                + ", ".join(ACTIONS)
            )
        if (self.rate is None) == (self.count is None):
            raise FaultSpecError("a fault needs exactly one of: a rate (0..1) or a count (xN)")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise FaultSpecError(f"fault rate {self.rate} is outside 0..1")
        if self.count is not None and self.count < 0:
            raise FaultSpecError(f"fault count {self.count} is negative")

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind.isdigit() else None

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        text, _, path = spec.partition("@")
        kind, sep, amount = text.partition(":")
        if not sep or not amount:
            raise FaultSpecError(f"fault {spec!r}: expected KIND:RATE or KIND:xN, e.g. 429:0.05 or drop:x3")
        try:
            if amount.startswith("x"):
                return cls(kind=kind.strip(), count=int(amount[1:]), path=path or None)
            return cls(kind=kind.strip(), rate=float(amount), path=path or None)
        except ValueError as exc:
            if isinstance(exc, FaultSpecError):
                raise
            raise FaultSpecError(
                f"fault {spec!r}: {amount!r} is neither a rate like 0.05 nor a count like x3") from None


class FaultPlan:
    """The rules of one server; thread-safe; seeded so a run with rates is repeatable."""

    def __init__(self, rules: list[FaultRule] | None = None, seed: int = 0) -> None:
        self._rules: list[FaultRule] = list(rules or [])
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.injected: dict[str, int] = {}

    def add(self, kind: str | int, *, rate: float | None = None, count: int | None = None,
            path: str | None = None, hang_seconds: float = 30.0) -> FaultRule:
        rule = FaultRule(kind=str(kind), rate=rate, count=count, path=path, hang_seconds=hang_seconds)
        with self._lock:
            self._rules.append(rule)
        return rule

    def add_spec(self, spec: str) -> FaultRule:
        rule = FaultRule.parse(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def pick(self, path: str) -> FaultRule | None:
        """The fault to apply to this request, if any (consumes one unit of a counted rule)."""
        with self._lock:
            for rule in self._rules:
                if rule.path and rule.path not in path:
                    continue
                if rule.count is not None:
                    if rule.count <= 0:
                        continue
                    rule.count -= 1
                elif self._rng.random() >= (rule.rate or 0.0):
                    continue
                self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
                return rule
            return None
