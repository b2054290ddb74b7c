"""The links of one connection (``sync.links``) as a run needs them, and the mapping layer's resolver."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from crmsync.jsontext import loads

from .places import RowPlaces


@dataclass(slots=True)
class Link:
    """One ``sync.links`` row as a run keeps it in memory: ids and the base's hash, not the base."""

    canonical_id: str
    base_hash: str | None
    remote_deleted: bool = False  # the CRM record is gone (sync.links.remote_deleted_at is set)
    # Read from sync.links (:meth:`LinkBook.fetch`): writing it again updates that row. Where the link is
    # kept, not what it says: links compare equal without it.
    stored: bool = field(default=False, compare=False)


class LinkBook:
    """``sync.links`` of one connection as a run needs it; also the mapping layer's resolver.

    Links are read from the store when they are needed, not held for the run (at ~0.5 KB a link in
    Python, a million links were half a gigabyte): :meth:`fetch` reads those of one chunk of
    records, replacing the chunk before. A reference (a deal's contact) is resolved through a map
    of that kind's remote ids, read on the first reference to that kind; :meth:`to_crm` likewise.
    ``con``: the store connection of the moment (a pull opens one per read round).
    """

    def __init__(self, connection: str, con: Any = None) -> None:
        self.connection = connection
        self.con = con
        self.links: dict[tuple[str, str], Link] = {}  # the chunk at hand (:meth:`fetch`) and what it put
        self.minted: dict[tuple[str, str], str] = {}  # (entity, remote id) → canonical id, not stored yet
        self._ids: dict[str, dict[str, str]] = {}     # kind → remote id → canonical id (references)
        self._remote: dict[str, dict[str, str]] = {}  # kind → canonical id → remote id (push)
        self.places = RowPlaces()  # where the run found canonical rows (read and written by rowid on DuckDB)

    @classmethod
    def load(cls, con: Any, connection: str) -> LinkBook:
        return cls(connection, con)

    def fetch(self, entity: str, remote_ids: Iterable[str]) -> None:
        """Make these records' links the ones at hand (:attr:`links`), in one query."""
        ids = list(dict.fromkeys(remote_ids))
        self.links = {(entity, r): Link(self.minted[(entity, r)], None) for r in ids if (entity, r) in self.minted}
        if not ids:
            return
        rows = self.con.execute(
            "SELECT remote_id, canonical_id, base_hash, remote_deleted_at IS NOT NULL FROM sync.links "
            "WHERE connection = ? AND entity = ? AND remote_id IN (SELECT unnest(?))",
            [self.connection, entity, ids]).fetchall()
        for remote_id, canonical_id, base_hash, gone in rows:
            self.links[(entity, remote_id)] = Link(canonical_id, base_hash, gone, True)

    def linked(self, entity: str, remote_id: str) -> bool:
        """Whether this CRM record has a link (one minted for a reference counts)."""
        key = (entity, str(remote_id))
        if key in self.links or key in self.minted:
            return True
        return self.con.execute("SELECT count(*) FROM sync.links WHERE connection = ? AND entity = ? "
                                "AND remote_id = ?", [self.connection, *key]).fetchone()[0] > 0

    def put(self, entity: str, remote_id: str, link: Link) -> None:
        self.links[(entity, remote_id)] = link
        if entity in self._ids:
            self._ids[entity][remote_id] = link.canonical_id
        if entity in self._remote:
            self._remote[entity][link.canonical_id] = remote_id

    def bases(self, con: Any, entity: str, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The base values of these links (those that have one), in one query."""
        if not remote_ids:
            return {}
        rows = con.execute("SELECT remote_id, base FROM sync.links WHERE connection = ? AND entity = ? "
                           "AND remote_id IN (SELECT unnest(?)) AND base IS NOT NULL",
                           [self.connection, entity, remote_ids]).fetchall()
        return {remote_id: loads(base) for remote_id, base in rows}

    def canonical_id(self, entity: str, remote_id: str) -> str:
        """The canonical id of a record of the chunk at hand (:meth:`fetch`); a new record gets one now."""
        link = self.links.get((entity, remote_id))
        return link.canonical_id if link is not None else self._mint(entity, remote_id)

    def to_canonical(self, kind: str, crm_id: str) -> str | None:
        """The canonical id of a linked record; a record not seen yet gets its id now (entity order is free)."""
        crm_id = str(crm_id)
        link = self.links.get((kind, crm_id))
        if link is not None:
            return link.canonical_id
        found = self._ids_of(kind).get(crm_id)
        return found if found is not None else self._mint(kind, crm_id)

    def to_crm(self, kind: str, canonical_id: str) -> str | None:
        if kind not in self._remote:
            rows = self._rows(kind)
            self._remote[kind] = {c: r for r, c in rows}
        return self._remote[kind].get(canonical_id)

    def written_elsewhere(self, kind: str) -> None:
        """Links of ``kind`` were written without the book (:mod:`.apply_columnar`): the maps of that kind read
        for references are read again when next needed."""
        self._ids.pop(kind, None)
        self._remote.pop(kind, None)

    def mint(self, kind: str, remote_ids: Iterable[str]) -> None:
        """New canonical ids for these records, those the chunk at hand has no link for (many at once)."""
        new = [r for r in dict.fromkeys(remote_ids) if (kind, r) not in self.links]
        for remote_id, cid in zip(new, random_ids(len(new)), strict=True):
            self.minted[(kind, remote_id)] = cid
            self.put(kind, remote_id, Link(cid, None))

    def _mint(self, kind: str, remote_id: str) -> str:
        cid = str(uuid.uuid4())
        self.minted[(kind, remote_id)] = cid
        self.put(kind, remote_id, Link(cid, None))
        return cid

    def _ids_of(self, kind: str) -> dict[str, str]:
        if kind not in self._ids:
            self._ids[kind] = dict(self._rows(kind))
        return self._ids[kind]

    def _rows(self, kind: str) -> list[tuple[str, str]]:
        """(remote id, canonical id) of every link of ``kind``: stored, minted, and put in this run."""
        rows = self.con.execute("SELECT remote_id, canonical_id FROM sync.links WHERE connection = ? AND entity = ?",
                                [self.connection, kind]).fetchall()
        rows += [(r, c) for (e, r), c in self.minted.items() if e == kind]
        rows += [(r, link.canonical_id) for (e, r), link in self.links.items() if e == kind]
        return rows


_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def random_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUIDs as text, as ``str(uuid.uuid4())`` writes them, from one read of the
    system's random source: a first pull mints an id per record, and one ``uuid4()`` each cost more than
    the rest of a new record's linking."""
    raw = os.urandom(16 * n).hex()
    out = []
    for i in range(0, 32 * n, 32):
        h = raw[i:i + 32]  # the version nibble is set to 4, the variant's two bits to 10
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}")
    return out
