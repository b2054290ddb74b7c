"""Associations between contacts, deals and tasks, kept both ways with HubSpot's defined type ids.

Every HUBSPOT_DEFINED association type has a twin for the other direction (contact→deal 4,
deal→contact 3); creating one creates both, as HubSpot does. Object type ids (``0-1`` …) are the
ones the v4 API speaks alongside names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OBJECT_TYPE_IDS = {"contacts": "0-1", "deals": "0-3", "tasks": "0-27"}
SINGULAR = {"contacts": "contact", "deals": "deal", "tasks": "task"}
# (from, to) -> typeId of the default (unlabeled) association in that direction
TYPE_IDS = {("contacts", "deals"): 4, ("deals", "contacts"): 3, ("contacts", "tasks"): 203,
            ("tasks", "contacts"): 204, ("deals", "tasks"): 215, ("tasks", "deals"): 216}
_ALIASES = {**{k: k for k in OBJECT_TYPE_IDS}, **{v: k for k, v in OBJECT_TYPE_IDS.items()},
            **{v: k for k, v in SINGULAR.items()}, "contact": "contacts", "deal": "deals", "task": "tasks"}


def object_type(name: str) -> str | None:
    """``contacts`` from ``contacts``, ``contact``, ``0-1`` (case-insensitive), else None."""
    return _ALIASES.get(name.lower())


def type_label(from_type: str, to_type: str) -> str:
    return f"{SINGULAR[from_type]}_to_{SINGULAR[to_type]}"


def twin(from_type: str, to_type: str, type_id: int) -> int | None:
    """The type id of the reverse direction, or None when ``type_id`` is not defined for this pair."""
    if TYPE_IDS.get((from_type, to_type)) != type_id:
        return None
    return TYPE_IDS[(to_type, from_type)]


@dataclass
class Associations:
    # (type, id) -> to type -> to id -> type ids
    links: dict[tuple[str, int], dict[str, dict[int, set[int]]]] = field(default_factory=dict)

    def add(self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int | None = None) -> bool:
        """Link both ways; False if the pair was already linked with that type."""
        type_id = TYPE_IDS[(from_type, to_type)] if type_id is None else type_id
        back = twin(from_type, to_type, type_id)
        if back is None:
            raise ValueError(f"association type {type_id} is not defined from {from_type} to {to_type}")
        mine = self.links.setdefault((from_type, from_id), {}).setdefault(to_type, {}).setdefault(to_id, set())
        if type_id in mine:
            return False
        mine.add(type_id)
        self.links.setdefault((to_type, to_id), {}).setdefault(from_type, {}).setdefault(from_id, set()).add(back)
        return True

    def remove(self, from_type: str, from_id: int, to_type: str, to_id: int) -> bool:
        removed = False
        for (a, ai, b, bi) in ((from_type, from_id, to_type, to_id), (to_type, to_id, from_type, from_id)):
            targets = self.links.get((a, ai), {}).get(b, {})
            removed = targets.pop(bi, None) is not None or removed
        return removed

    def of(self, from_type: str, from_id: int, to_type: str) -> dict[int, set[int]]:
        return self.links.get((from_type, from_id), {}).get(to_type, {})
