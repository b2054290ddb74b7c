"""Fault injection: make a fake CRM misbehave the way real networks and APIs do.

A rule says *what* goes wrong (an HTTP status such as 429/503/500, ``hang``, ``drop`` or
``truncate``), *how often* (a fraction of requests, or the next N requests), optionally only
for paths that contain a given text, and *whether the CRM ran the request* first. Rules are
checked in the order they were added.

Spec strings (CLI ``--fault`` and the admin route) read ``KIND[-WHEN]:RATE`` or ``KIND[-WHEN]:xN``,
with an optional ``@PATH`` suffix: ``429:0.05``, ``503:x3``, ``drop:0.1@/api/v4/contacts``, ``hang:x1``.

``WHEN`` is what makes a client's retry dangerous or safe, so it can be said explicitly:

* no suffix — any request; a status, ``hang`` or ``drop`` answers *instead of* the CRM (nothing ran),
  ``truncate`` cuts the CRM's real answer (the request ran);
* ``-after`` — only requests that write; the CRM applies the write, then the answer is replaced by the
  status, never comes (``hang``), is dropped or cut off (``truncate``): ``drop-after:x1@/api/v4/leads``;
* ``-before`` — only requests that write; the write is not applied (``truncate-before``: a gateway's
  cut-off error page), e.g. ``429-before:x1``.

For ``-after``/``-before`` rules ``@PATH`` also matches the names of the writes a request makes (a
Bitrix24 ``batch`` holding ``crm.deal.update`` matches ``@crm.deal.update``).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass

ACTIONS = ("hang", "drop", "truncate")
WHENS = ("after", "before")


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: str
    rate: float | None = None
    count: int | None = None
    path: str | None = None
    hang_seconds: float = 30.0
    when: str | None = None  # None: any request (see the module docstring); "after"/"before": writes only

    def __post_init__(self) -> None:
        if self.kind not in ACTIONS and not (self.kind.isdigit() and 400 <= int(self.kind) <= 599):
            raise FaultSpecError(
                f"fault kind {self.kind!r} is not one of: an HTTP status 400-599 (429, 503, 500 ...), "
                + ", ".join(ACTIONS) + "; optionally followed by -after or -before (e.g. drop-after)"
            )
        if self.when is not None and self.when not in WHENS:
            raise FaultSpecError(f"fault timing {self.when!r} is not one of: {', '.join(WHENS)}")
        if (self.rate is None) == (self.count is None):
            raise FaultSpecError("a fault needs exactly one of: a rate (0..1) or a count (xN)")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise FaultSpecError(f"fault rate {self.rate} is outside 0..1")
        if self.count is not None and self.count < 0:
            raise FaultSpecError(f"fault count {self.count} is negative")

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind.isdigit() else None

    @property
    def applies_first(self) -> bool:
        """Whether the CRM runs the request before the fault hits its answer."""
        return self.when == "after" or (self.when is None and self.kind == "truncate")

    @property
    def label(self) -> str:
        return f"{self.kind}-{self.when}" if self.when else self.kind

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        text, _, path = spec.partition("@")
        kind, sep, amount = text.partition(":")
        if not sep or not amount:
            raise FaultSpecError(f"fault {spec!r}: expected KIND:RATE or KIND:xN, e.g. 429:0.05 or drop-after:x3")
        kind, when = kind.strip(), None
        base, dash, suffix = kind.rpartition("-")
        if dash and suffix in WHENS:
            kind, when = base, suffix
        try:
            if amount.startswith("x"):
                return cls(kind=kind, count=int(amount[1:]), path=path or None, when=when)
            return cls(kind=kind, rate=float(amount), path=path or None, when=when)
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
            path: str | None = None, hang_seconds: float = 30.0, when: str | None = None) -> FaultRule:
        rule = FaultRule(kind=str(kind), rate=rate, count=count, path=path, hang_seconds=hang_seconds, when=when)
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

    @property
    def targets_writes(self) -> bool:
        """Whether some rule needs to know which writes a request makes (the server asks the app only then)."""
        with self._lock:
            return any(r.when is not None for r in self._rules)

    def pick(self, path: str, writes: Sequence[str] = (), query: str = "") -> FaultRule | None:
        """The fault to apply to this request, if any (consumes one unit of a counted rule).
        ``writes``: the names of the writes the request makes (empty for a read); ``query``: its query
        string, which a rule's ``path`` holding a ``=`` is matched against (``page=2``): other rules
        match the path alone, as a ``contacts`` rule must not hit ``leads?with=contacts``."""
        with self._lock:
            for rule in self._rules:
                where = query if rule.path and "=" in rule.path else path
                if rule.when is not None:
                    if not writes:
                        continue
                    if rule.path and rule.path not in where and not any(rule.path in w for w in writes):
                        continue
                elif rule.path and rule.path not in where:
                    continue
                if rule.count is not None:
                    if rule.count <= 0:
                        continue
                    rule.count -= 1
                elif self._rng.random() >= (rule.rate or 0.0):
                    continue
                self.injected[rule.label] = self.injected.get(rule.label, 0) + 1
                return rule
            return None
