"""Where a canonical table's rows sit in a DuckDB store (their ``rowid``), kept by a run in 16 bytes a row.

A chunk's canonical rows are found by canonical id, a random UUID that no storage order follows: a join
on it reads the id column of the whole table (every row group), and so does the ``UPDATE`` writing the
rows back. At a million rows that was most of what applying a changed record cost, and it grew with the
store. Joined on ``rowid`` as well, the same statements read only the row groups holding the chunk's
rows (DuckDB prunes a row group by its rowid range); the records a run applies together (a remap's, a
pull's pages) were stored together, so that is one or two row groups whatever the table's size.

A place is a hint, never the answer: the statements join on rowid *and* id, so a row that moved (edited
or deleted between a pull's read rounds, a checkpoint compacting deleted rows), one this run inserted,
or an id whose hash another id shares is simply not found there, and is then read by id alone.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any

# A table's places are taken on its second chunk that reads rows: taking them reads the id column once
# (as one chunk's join by id did), so a run that reads rows once (a sync of a few edits) does not pay it.
TAKE_ON_READ = 2


class RowPlaces:
    """The ``rowid`` of each canonical row by its id, per table, for one run on a DuckDB store: DuckDB's
    ``hash`` of each id and the row's rowid, sorted by hash, in two typed arrays (no Python object per row)."""

    def __init__(self) -> None:
        self._places: dict[str, tuple[array, array]] = {}
        self._reads: dict[str, int] = {}

    def find(self, con: Any, table: str, ids: list[str]) -> list[int | None] | None:
        """Each id's rowid as the places have it (None: not known); None while ``table`` has no places yet."""
        reads = self._reads[table] = self._reads.get(table, 0) + 1
        places = self._places.get(table)
        if places is None:
            if reads < TAKE_ON_READ:
                return None
            places = self._places[table] = _take(con, table)
        hashes, rowids = places
        # The same function and type as the places were taken with (an id column is VARCHAR)
        hashed = dict(con.execute("SELECT x, hash(x) FROM unnest(CAST(? AS VARCHAR[])) AS t(x)", [ids]).fetchall())
        out: list[int | None] = []
        for cid in ids:
            h = hashed[cid]
            at = bisect_left(hashes, h)
            out.append(rowids[at] if at < len(hashes) and hashes[at] == h else None)
        return out

    def moved(self, table: str) -> None:
        """Rows of ``table`` were found by id that their places did not find: take the places again when
        next needed (rows this run inserted, or rows that moved)."""
        self._places.pop(table, None)
        self._reads[table] = TAKE_ON_READ - 1


def _take(con: Any, table: str) -> tuple[array, array]:
    """Every row's (hash of id, rowid), sorted by hash, as two arrays made from the Arrow buffers."""
    rel = con.sql(f"SELECT hash(id) AS h, rowid AS r FROM {table} ORDER BY h")
    got = rel.to_arrow_reader() if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader()  # DuckDB 2 / 1
    hashes, rowids = array("Q"), array("q")
    for batch in got:
        for column, out in ((batch.column(0), hashes), (batch.column(1), rowids)):
            width = out.itemsize
            out.frombytes(memoryview(column.buffers()[1])[column.offset * width:(column.offset + len(column)) * width])
    return hashes, rowids
