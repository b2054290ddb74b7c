"""Recognising a record a CRM sends for the first time as one already in canonical (from another CRM).

With two CRMs in one store, the same person usually exists in both. Without matching, the second
CRM's pull makes a second canonical row, and each push then creates the other CRM's copy: two people
in every CRM. A pipeline's ``match:`` names the canonical fields that identify a record (contacts:
``emails`` by default, ``phones`` on request). A new record is linked to the canonical row that
shares one of those values — when exactly one row not yet linked to this connection does, or, of
several, exactly one has the same name; otherwise there is no match (two people behind one office
phone stay two people).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .tables import TABLE

DEFAULT = {"contact": ["emails"]}


def _keys(record: dict[str, Any], fields: list[str]) -> set[str]:
    out = set()
    for name in fields:
        for item in record.get(name) or []:
            value = item.get("value") if isinstance(item, dict) else item
            if isinstance(value, str) and value.strip():
                out.add(f"{name}:{value.strip().lower()}")
    return out


def matcher(con: Any, entity: str, connection: str, match: dict[str, list[str]] | None
            ) -> Callable[[dict[str, Any]], str | None] | None:
    """A function from a new record's canonical values to the id of the one row it is, or None.

    The index of candidate rows (not deleted, not linked to ``connection``) is built on first use,
    so a pull with nothing new never reads the table. Rows that share a key are told apart by name."""
    fields = (match or {}).get(entity, DEFAULT.get(entity, []))
    if not fields or entity not in TABLE:
        return None
    index: dict[str, set[str]] = {}
    owned: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    built = False

    def build() -> None:
        cols = ", ".join(f'"{f}"' for f in fields)
        rows = con.execute(
            f"SELECT id, name, {cols} FROM canonical.{TABLE[entity]} c WHERE deleted_at IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM sync.links l WHERE l.canonical_id = c.id AND l.connection = ? AND l.entity = ?)",
            [connection, entity]).fetchall()
        for cid, name, *values in rows:
            record = {f: json.loads(v) if isinstance(v, str) else v for f, v in zip(fields, values, strict=True)}
            names[cid] = _name(name)
            for key in _keys(record, fields):
                index.setdefault(key, set()).add(cid)
                owned.setdefault(cid, set()).add(key)

    def find(record: dict[str, Any]) -> str | None:
        nonlocal built
        keys = _keys(record, fields)
        if not keys:
            return None
        if not built:
            build()
            built = True
        found = set().union(*(index.get(k, set()) for k in keys))
        if len(found) > 1:  # two rows share an address: only the one with this name, if just one has it
            found = {cid for cid in found if names.get(cid) and names[cid] == _name(record.get("name"))}
        if len(found) != 1:
            return None
        (cid,) = found
        for key in owned.pop(cid, set()):
            index.get(key, set()).discard(cid)  # one canonical row, one record of this CRM
        return cid

    return find


def _name(value: Any) -> str:
    return " ".join(str(value or "").casefold().split())
