"""Which canonical rows a push must look at: a set operation in the store, not a scan in Python.

A push compares each row with its link's base in Python (:func:`crmsync.push.plan.plan_entity`).
That decision depends only on the row, its link to this connection and the plan's settings (push
and pull-only fields, write mode), so once made it stays true until one of them changes. The store
remembers it per *bucket* of rows (``hash(id) % BUCKETS``) in ``sync.push_checked``: the XOR of
``hash(every column of the row, settings)`` and ``hash(every column of its link)`` over the bucket's
rows, written when planning found nothing to do for any row of the bucket. Each plan recomputes
the buckets' states in SQL (two grouped scans, no join of the big tables) and only the rows of
buckets whose state differs from the one remembered — a user's SQL ``UPDATE``, ``INSERT`` or
``DELETE``, a pull that moved a base, a push, a changed mapping — go into Python. User SQL never
goes through Python, hence the state is computed from the columns themselves at plan time.

A bucket holding a row with something to do (a create, an update, a rejection, a held field, a
pull-only edit) is not remembered, so it is looked at again by the next plan, as every row was
before. A hash collision (2⁻⁶⁴ for a changed bucket) is the only way a change could be missed.
The states are a cache: dropping ``sync.push_checked`` costs one full comparison, nothing else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.tables import TABLE

BUCKETS = 65_536  # ~15 rows a bucket at 1M: a handful of edits bring a few hundred rows into Python
VERSION = 1  # bump when what the states cover changes: every remembered state then stops matching
CHUNK = 2000  # rows fetched into Python at a time
RANGE_ROWS = 50_000  # rows one query joins and sorts: within DuckDB's memory cap (256 MB by default)

DDL = """CREATE TABLE IF NOT EXISTS sync.push_checked (  -- crmsync.push.candidates: a cache, safe to drop
    connection VARCHAR NOT NULL, entity VARCHAR NOT NULL, bucket INTEGER NOT NULL, state UBIGINT NOT NULL)"""


@dataclass
class Candidates:
    """The rows of one entity a plan must compare, and what to remember once it has."""

    con: Any
    entity: str
    connection: str
    cols: dict[str, str]
    settings: str
    dirty: dict[int, int | None] = field(default_factory=dict)  # bucket → its state now (None: empty now)
    busy: set[int] = field(default_factory=set)  # buckets with a row that had something to do
    everything: bool = False  # no bucket could be trusted (a first plan, or the cache was dropped)

    @classmethod
    def find(cls, con: Any, *, entity: str, connection: str, cols: dict[str, str], settings: Any) -> Candidates:
        con.execute(DDL)
        key = cls.key(settings)
        found = cls(con, entity, connection, cols, key)
        found.everything = not con.execute("SELECT count(*) FROM sync.push_checked WHERE entity = ? AND connection = ?",
                                           [entity, connection]).fetchone()[0]
        with _scan_memory(con):
            rows = found._states(entity, connection, key)
        found.dirty = {b: s for b, s in rows}
        return found

    def _states(self, entity: str, connection: str, key: str) -> list[tuple[int, int | None]]:
        """(bucket, state now or None when empty now) of every bucket whose state is not the one kept."""
        return self.con.execute(f"""
            WITH c AS (SELECT CAST(hash(id) % {BUCKETS} AS INTEGER) AS b, bit_xor({self._row_hash('c')}) AS s
                       FROM canonical.{TABLE[entity]} c GROUP BY ALL),
                 l AS (SELECT CAST(hash(canonical_id) % {BUCKETS} AS INTEGER) AS b, bit_xor({_LINK_HASH}) AS s
                       FROM sync.links WHERE entity = $entity AND connection = $connection GROUP BY ALL),
                 now AS (SELECT coalesce(c.b, l.b) AS b, xor(coalesce(c.s, 0::UBIGINT), coalesce(l.s, 0::UBIGINT)) AS s
                         FROM c FULL JOIN l ON c.b = l.b),
                 kept AS (SELECT bucket, state FROM sync.push_checked
                          WHERE entity = $entity AND connection = $connection)
            SELECT coalesce(now.b, kept.bucket), now.s FROM now FULL JOIN kept
            ON now.b = kept.bucket WHERE now.s IS DISTINCT FROM kept.state""",
                                {"entity": entity, "connection": connection, "settings": key}).fetchall()

    @staticmethod
    def key(settings: Any) -> str:
        """The plan's settings as the remembered states cover them."""
        return json.dumps([VERSION, BUCKETS, settings], sort_keys=True, default=str)

    def _row_hash(self, alias: str) -> str:
        return "hash(" + ", ".join(f'{alias}."{n}"' for n in self.cols) + ", $settings)"

    def rows(self) -> Iterator[tuple[dict[str, Any], tuple[str, str | None, str | None] | None, int]]:
        """(canonical row, its link (remote id, base unless the CRM record is gone, base hash) or None,
        bucket) of every row in a changed bucket, JSON columns parsed; in id order within each range
        of buckets. Streamed on the caller's connection (a dry run sees its uncommitted pull): the
        caller must not use the connection until the rows are consumed. Many rows (a first plan)
        are read one range of buckets at a time, so DuckDB joins and sorts at most ``RANGE_ROWS``."""
        live = sorted(b for b, s in self.dirty.items() if s is not None)
        if not live:
            return
        names = list(self.cols)
        total = self.con.execute(f"SELECT count(*) FROM canonical.{TABLE[self.entity]}").fetchone()[0]
        expected = total if self.everything else total * len(live) // BUCKETS
        width = BUCKETS // max(1, min(BUCKETS, -(-expected // RANGE_ROWS)))
        where = "bucket >= $lo AND bucket < $hi" + ("" if self.everything else
                                                     " AND bucket IN (SELECT unnest($buckets))")
        select = f"""
            WITH c AS (SELECT *, CAST(hash(id) % {BUCKETS} AS INTEGER) AS bucket FROM canonical.{TABLE[self.entity]}),
                 l AS (SELECT canonical_id, remote_id, CASE WHEN remote_deleted_at IS NULL THEN base END AS base,
                              base_hash, CAST(hash(canonical_id) % {BUCKETS} AS INTEGER) AS bucket
                       FROM sync.links WHERE entity = $entity AND connection = $connection)
            SELECT {", ".join(f'c."{n}"' for n in names)}, l.remote_id, l.base, l.base_hash, c.bucket
            FROM (SELECT * FROM c WHERE {where}) c LEFT JOIN (SELECT * FROM l WHERE {where}) l
            ON l.canonical_id = c.id ORDER BY c.id, l.remote_id DESC"""
        for lo in range(0, BUCKETS, width):
            mine = [b for b in live if lo <= b < lo + width]
            if not mine:
                continue
            result = self.con.execute(select, {"entity": self.entity, "connection": self.connection, "lo": lo,
                                               "hi": lo + width, **({} if self.everything else {"buckets": mine})})
            last = None
            while batch := result.fetchmany(CHUNK):
                for item in self._parsed(names, batch):
                    if item[0]["id"] != last:  # two CRM records linked to one row: one of them, always the same
                        last = item[0]["id"]
                        yield item

    def _parsed(self, names: list[str], batch: list[tuple[Any, ...]]
                ) -> Iterator[tuple[dict[str, Any], tuple[str, str | None, str | None] | None, int]]:
        for values in batch:
            row = dict(zip(names, values[:len(names)], strict=True))
            for name, kind in self.cols.items():
                if kind == "JSON" and isinstance(row[name], str):
                    row[name] = json.loads(row[name])
            remote_id, base, base_hash, bucket = values[len(names):]
            yield row, (None if remote_id is None else (remote_id, base, base_hash)), bucket

    def keep(self) -> None:
        """Remember the changed buckets in which the plan found nothing to do."""
        if not self.dirty:
            return
        self.con.execute("DELETE FROM sync.push_checked WHERE entity = ? AND connection = ? "
                         "AND bucket IN (SELECT unnest(?))", [self.entity, self.connection, list(self.dirty)])
        done = [(b, s) for b, s in self.dirty.items() if s is not None and b not in self.busy]
        if done:
            self.con.execute("INSERT INTO sync.push_checked SELECT ?, ?, unnest(?), unnest(?)",
                             [self.connection, self.entity, [b for b, _ in done], [s for _, s in done]])


_LINK_HASH = "hash(canonical_id, remote_id, base, base_hash, remote_deleted_at)"


SCAN_MEMORY = "32MB"  # the states are two scans and 65,536 groups: DuckDB's cache only fills memory here


@contextmanager
def _scan_memory(con: Any) -> Iterator[None]:
    """DuckDB's memory cap lowered for the state scans: a cap of 256 MB let its cache of the scanned
    blocks take a no-op run at 1M contacts to 180 MB, 32 MB to 130 MB at the same CPU (each block is
    read once). A cap the user set (crmsync.store.MEMORY_LIMIT) is left as it is."""
    from crmsync.store import MEMORY_LIMIT, engine, limit_memory

    if os.environ.get(MEMORY_LIMIT) or engine(con) != "duckdb":  # Postgres has its own work_mem
        yield
        return
    con.execute(f"SET memory_limit = '{SCAN_MEMORY}'")
    try:
        yield
    finally:
        limit_memory(con)
