"""A stored record → HubSpot's object JSON, and property values as filters see them.

System properties (``hs_object_id``, the create and modify stamps) are derived from the record's
id and instants when read, so they can never disagree with ``createdAt``/``updatedAt``.
"""

from __future__ import annotations

from typing import Any

from .associations import Associations, type_label
from .schema import STAMPS
from .values import iso_ms


def value(obj: str, row: dict[str, Any], name: str) -> str | None:
    created, modified = STAMPS[obj]
    if name == "hs_object_id":
        return str(row["id"])
    if name == created:
        return iso_ms(row["created"])
    if name == modified or name == "hs_lastmodifieddate":  # contacts carry both names
        return iso_ms(row["updated"])
    return row["props"].get(name)


def render(obj: str, row: dict[str, Any], names: list[str], *, links: Associations | None = None,
           assoc_types: list[str] | None = None, live: dict[str, dict[int, Any]] | None = None) -> dict[str, Any]:
    """One object; ``names`` the properties to include (HubSpot always adds the id and the two stamps)."""
    created, modified = STAMPS[obj]
    wanted = dict.fromkeys([*names, "hs_object_id", created, modified])
    out: dict[str, Any] = {"id": str(row["id"]), "properties": {n: value(obj, row, n) for n in wanted},
                           "createdAt": iso_ms(row["created"]), "updatedAt": iso_ms(row["updated"]),
                           "archived": row["archived"]}
    if row["archived"]:
        out["archivedAt"] = iso_ms(row["archivedAt"])
    if links is not None and assoc_types:
        assoc = {}
        for to in assoc_types:
            targets = links.of(obj, row["id"], to)
            alive = [tid for tid in sorted(targets) if live is None or tid in live[to]]
            if alive:
                assoc[to] = {"results": [{"id": str(tid), "type": type_label(obj, to)} for tid in alive]}
        if assoc:
            out["associations"] = assoc
    return out
