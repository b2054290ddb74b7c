"""Recognising a record a CRM sends for the first time as one already in canonical (from another CRM).

With two CRMs in one store, the same person usually exists in both. Without matching, the second
CRM's pull makes a second canonical row, and each push then creates the other CRM's copy: two people
in every CRM. A pipeline's ``match:`` names the canonical fields that identify a record (contacts:
``emails`` by default, ``phones`` on request). A new record is linked to the canonical row that
shares one of those values — when exactly one row not yet linked to this connection does, or, of
several, exactly one has the same name; otherwise there is no match (two people behind one office
phone stay two people).

A DuckDB store has one writer, so the index of candidate rows is built once per run. A Postgres store
is shared by workers pulling other connections at the same time: two of them matching the same person
against indexes built before either committed would each make a row for them. There, matching is
serialised per entity by a transaction-scoped advisory lock (:mod:`.match_lock`) that a chunk takes
before it matches its first record and holds until it commits its new rows; under the lock the index
takes in the rows other connections made since it was read.
"""

from __future__ import annotations

import json
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


class Matcher:
    """Called with a new record's canonical values: the id of the one row it is, or None. Told afterwards
    (:meth:`added`) which rows its chunk made for the records it found none for.

    The index of candidate rows (not deleted, not linked to ``connection``) is built on first use,
    so a pull with nothing new never reads the table. Rows that share a key are told apart by name."""

    def __init__(self, con: Any, entity: str, connection: str, fields: list[str]) -> None:
        from crmsync.store import engine

        from .match_lock import MatchLog

        self.con, self.entity, self.connection, self.fields = con, entity, connection, fields
        self.index: dict[str, set[str]] = {}
        self.owned: dict[str, set[str]] = {}
        self.names: dict[str, str] = {}
        self.built = False
        # Only a store other processes write at the same time needs the lock and the log of new rows.
        self.log = MatchLog(con, entity) if engine(con) == "postgres" else None
        self.locked = False  # the current chunk holds the lock (and the index is up to date under it)

    def __call__(self, record: dict[str, Any]) -> str | None:
        keys = _keys(record, self.fields)
        if not keys:
            return None
        if self.log is not None and not self.locked:
            self._lock_and_catch_up()
        elif not self.built:
            self._read(None)
            self.built = True
        if not self.index:  # no candidate rows (every row is linked to this connection, or none exists)
            return None
        found = set().union(*(self.index[k] for k in keys if k in self.index))
        if len(found) > 1:  # two rows share an address: only the one with this name, if just one has it
            found = {cid for cid in found if self.names.get(cid) and self.names[cid] == _name(record.get("name"))}
        if len(found) != 1:
            return None
        (cid,) = found
        self._forget(cid)  # one canonical row, one record of this CRM
        return cid

    def added(self, ids: list[str]) -> None:
        """The canonical ids the chunk gives the records no row matched (it inserts them before it commits).
        Logged for the other connections' matchers; the chunk's hold on the lock ends with its transaction."""
        if self.log is not None and self.locked:
            self.log.append(ids)
            self.locked = False

    def _lock_and_catch_up(self) -> None:
        assert self.log is not None
        complete = self.log.lock()  # what other chunks committed before it is visible to the reads below
        if not self.built or not complete:
            self.index, self.owned, self.names = {}, {}, {}
            self._read(None)
            self.built = True
        else:
            self._read(self.log.since())
        self.locked = True

    def _read(self, since: str | None) -> None:
        """Index the candidate rows: all of them, or (``since``: SQL selecting ids) only those."""
        cols = ", ".join(f'"{f}"' for f in self.fields)
        only = f" AND c.id IN ({since})" if since else ""
        rows = self.con.execute(
            f"SELECT id, name, {cols} FROM canonical.{TABLE[self.entity]} c WHERE deleted_at IS NULL{only} AND NOT "
            "EXISTS (SELECT 1 FROM sync.links l WHERE l.canonical_id = c.id AND l.connection = ? AND l.entity = ?)",
            [self.connection, self.entity]).fetchall()
        for cid, name, *values in rows:
            self._forget(cid)  # a row read again (edited since) is indexed by what it holds now
            record = {f: json.loads(v) if isinstance(v, str) else v for f, v in zip(self.fields, values, strict=True)}
            self.names[cid] = _name(name)
            for key in _keys(record, self.fields):
                self.index.setdefault(key, set()).add(cid)
                self.owned.setdefault(cid, set()).add(key)

    def _forget(self, cid: str) -> None:
        for key in self.owned.pop(cid, set()):
            self.index.get(key, set()).discard(cid)


def matcher(con: Any, entity: str, connection: str, match: dict[str, list[str]] | None) -> Matcher | None:
    """The :class:`Matcher` of ``entity`` for records new to ``connection``, or None when the entity has no
    identifying fields."""
    fields = (match or {}).get(entity, DEFAULT.get(entity, []))
    if not fields or entity not in TABLE:
        return None
    return Matcher(con, entity, connection, fields)


def _name(value: Any) -> str:
    return " ".join(str(value or "").casefold().split())
