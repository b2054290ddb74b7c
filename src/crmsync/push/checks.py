"""Before a push sends anything: refuse what the CRM would refuse or mangle, and report local edits
of pull-only fields (which a push never sends).

What is checked comes from data, not from code about a CRM: the canonical schema (types, patterns,
bounds; :class:`crmsync.mapping.CanonicalCheck`, run by the mapper on the fields written), the
mapping's transforms (a stage, pipeline, user or select option the CRM's metadata does not list; a
number with more decimals than the CRM field keeps), and each mapping field's ``limits:`` (maximum
text length, numeric range and decimal places, required values). A refused record is set aside
whole — one row in ``sync.rejected`` (direction ``push``) naming the field and the limit — and the
rest of the push goes on; once the value is fixed, the next push sends it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from crmsync.canonical.tables import CLOCK, CREATED
from crmsync.canonical.values import get_field, same
from crmsync.mapping.raw_values import exact_decimal

CHUNK = 2000  # rows whose pull-only fields are compared with every CRM's base in one query
PULL_ONLY = "pull-only: the CRM sets this field, a push never sends it; this local edit stays local"


class PushChecks:
    """The checks of one entity's push plan (:func:`crmsync.push.plan.plan_entity`)."""

    def __init__(self, con: Any, entity: str, mapper: Any) -> None:
        self.con, self.entity = con, entity
        fields = mapper.spec.fields  # the spec only: planning must not fetch the CRM's metadata
        self.limits = {f.name: f.limits for f in fields if f.pushes and f.limits}
        # custom.* pull-only values are rare and live inside one JSON column: top-level fields only
        # The engine's times are not edits: updated_at is the edit clock, created_at the first creation
        # (an INSERT fills it in; a copy in a second CRM is created later): neither is a pull-only edit.
        self.pull_only = [f.name for f in fields
                          if f.direction == "pull" and f.name not in (CLOCK, CREATED) and "." not in f.name]
        self._candidates: dict[str, tuple[str | None, dict[str, Any]]] = {}
        self._found: list[dict[str, Any]] = []

    def refuse(self, record: dict[str, Any], changed: list[str], kind: str) -> dict[str, str] | None:
        """The first of ``changed`` that the CRM would refuse or mangle, as ``{field, reason}``."""
        for name in changed if kind == "update" else sorted(set(changed) | set(self.limits)):
            limits = self.limits.get(name)
            if limits:
                reason = limit_problem(get_field(record, name), limits, kind)
                if reason:
                    return {"field": name, "reason": reason}
        return None

    def note(self, canonical_id: str, remote_id: str | None, record: dict[str, Any],
             base: dict[str, Any] | None) -> bool:
        """Remember a linked row whose pull-only fields differ from what this CRM last agreed:
        :meth:`pull_only_edits` decides, against every CRM's base. A new row is not noted: its
        pull-only values (a full name beside the first and last) are the CRM's to set. True: noted."""
        if base is None:
            return False
        differ = {n: get_field(record, n) for n in self.pull_only if not same(get_field(record, n), get_field(base, n))}
        if differ:  # decided at the end: the plan streams rows from the store meanwhile
            self._candidates[canonical_id] = (remote_id, differ)
        return bool(differ)

    def pull_only_edits(self) -> list[dict[str, Any]]:
        """Pull-only fields whose value no CRM ever agreed to: a local edit, reported (the rest of
        the record is pushed as usual). A value another CRM brought is not an edit."""
        self._decide()
        return self._found

    def _decide(self) -> None:
        found = sorted(self._candidates.items())
        for start in range(0, len(found), CHUNK):
            self._decide_chunk(found[start:start + CHUNK])
        self._candidates.clear()

    def _decide_chunk(self, found: list[tuple[str, tuple[str | None, dict[str, Any]]]]) -> None:
        paths = ", ".join(f"json_extract(base, '$.\"{n}\"')" for n in self.pull_only)
        agreed: dict[str, list[tuple[Any, ...]]] = {}
        for cid, *values in self.con.execute(
                f"SELECT canonical_id, {paths} FROM sync.links WHERE entity = ? AND base IS NOT NULL "
                "AND canonical_id IN (SELECT unnest(?))", [self.entity, [cid for cid, _ in found]]).fetchall():
            agreed.setdefault(cid, []).append(tuple(None if v is None else json.loads(v) for v in values))
        for cid, (remote_id, differ) in found:
            bases = agreed.get(cid, [])
            for name, mine in differ.items():
                at = self.pull_only.index(name)
                if not any(same(mine, b[at]) for b in bases):
                    self._found.append({"canonical_id": cid, "remote_id": remote_id, "field": name,
                                        "reason": PULL_ONLY, "direction": "push"})


def limit_problem(value: Any, limits: dict[str, Any], kind: str) -> str | None:
    """Why ``value`` is beyond a mapping field's ``limits`` (None when it is within them)."""
    if value is None or value == "" or value == []:
        if limits.get("required"):
            return ("required by the CRM: a record cannot be created without it" if kind == "create"
                    else "required by the CRM: it cannot be cleared")
        return None
    longest = limits.get("max_length")
    if longest is not None:
        for text in value if isinstance(value, list) else (value,):
            if isinstance(text, str) and len(text) > longest:
                return f"{len(text)} characters long; the CRM keeps at most {longest} (it would refuse or cut it)"
    if any(k in limits for k in ("minimum", "maximum", "places")) and not isinstance(value, str | list | dict):
        number = exact_decimal(value)
        if number is None:
            return f"{value!r} is not a number"
        low, high = _bound(limits.get("minimum")), _bound(limits.get("maximum"))
        if low is not None and number < low:
            return f"{value} is below {limits['minimum']}, the smallest number the CRM keeps"
        if high is not None and number > high:
            return f"{value} is above {limits['maximum']}, the largest number the CRM keeps"
        places = limits.get("places")
        exponent = number.normalize().as_tuple().exponent
        if places is not None and isinstance(exponent, int) and -exponent > places:
            return f"{value} has more than {places} decimal places; the CRM would round it"
    return None


def _bound(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
