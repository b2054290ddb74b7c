"""Records new to their link, mapped and written by set statements straight from the raw table (issue 18).

The record path (:func:`crmsync.canonical.apply.apply_pulled`) makes a Python record of every raw row, maps it
and stages its canonical values. For the records of a raw table that have no link yet, :class:`ColumnarApply`
does the same a slice of rows at a time in the store: :mod:`crmsync.mapping.columnar` takes each field's raw
values as columns and maps each distinct one once; the store assembles each record's JSON and this module writes
its canonical row, link and one history row by the very statements the batch apply uses for a new record
(:mod:`.apply_batch`: the new row cast from the staged record, ``LINKS_FROM_STAGE``, ``HISTORY_FROM_STAGE``).
A record it cannot take exactly (odd shape, a value the mapping rejects, one the column check flags: see
:mod:`crmsync.mapping.columnar`) is handed back as *deferred*: the caller maps and applies it record by record,
where it is set aside with its field and reason as it always was.

A record new to its link has no row, no base and no local edit to merge: what a first pull or remap of it
writes is fixed by its mapped values, its minted id and the run. The caller makes sure nothing else may claim
it: no lost create of ours waiting for its answer, no canonical row of another connection it could be (the
pipeline's ``match``), a DuckDB store (one writer). Each slice commits as a chunk does, so memory is bounded by
the slice and a run killed midway is finished by the next one (the written records then have links).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from crmsync.mapping.columnar import ENTRIES, Compiled, Input, NotColumnar, RawTable, compile_pull, map_values
from crmsync.store import register_arrow, unregister_arrow, working_room

from .apply import forget_unfinished_rejections
from .apply_batch import HISTORY_FROM_STAGE, LINKS_FROM_STAGE, STAGE, _fields, _new_rows_typed
from .links import random_ids
from .tables import CLOCK, TABLE

SETTING = "CRMSYNC_COLUMNAR"  # auto (the default), on, or off: every record by the record path, as before
CHOICES = ("auto", "on", "off")
# Raw rows an entity has to apply above which ``auto`` takes the set statements. Not a measured break-even (the
# 100k and 1M runs are in benchmarks/RESULTS.md): small runs keep the record path, whose commits chunk by chunk the
# tests of killed runs describe, and for them either way takes well under a second.
AUTO_ROWS = 5_000
# Raw rows a slice, and a transaction, under crmsync's own cap. 1M new records (a first remap): 25,000 a slice
# 64.6 s, 50,000 47.7 s at 493 MB peak RSS (whole processes; benchmarks/RESULTS.md, ninth session). There, the
# 256 MB cap leaves ~160 MB (SLICE_ROOM) beside the keys; 250,000 a slice ran out of memory in it with unique values.
SLICE = 50_000
SLICE_ROOM = 160 * 2**20
# Where DuckDB's cap leaves more room (a user's CRMSYNC_DUCKDB_MEMORY_LIMIT), slices of whole row groups: a
# transaction of a row group or more is written to the file rather than through the WAL, and whole ones leave the
# last checkpoint nothing to merge. 1M records with a 1GB cap: 50,000 a slice 45.1 s, 167,437 36.1 s (8 s of it
# the checkpoint at the end), 122,880 34.4 s, 245,760 23.9 s; with unique values 245,760 47.9 s against 79.4 s
# (RESULTS.md, tenth session). Row groups: as many as the room holds at SLICE rows a SLICE_ROOM, at most SLICE_GROUPS.
ROW_GROUP = 122_880  # DuckDB's rows a row group
SLICE_GROUPS = 2
VALUES = "crmsync_columnar"  # a slice's raw values, one column a field (a temporary table of the connection)
ASSEMBLED = "crmsync_assembled"  # a slice's records as JSON texts, with their ids and whether they are taken
DIGESTS = "crmsync_digests"  # the taken records' base hashes and minted ids (Arrow), by the row of ASSEMBLED
HASHED = 10_000  # records whose texts are read and hashed at once
UNLINKED = "crmsync_unlinked"  # the ids of the records with no link when the pass began (when some had one)


class ColumnarApply:
    """The records of ``table`` that have no link of ``connection`` yet, mapped by ``mapper`` and written."""

    def __init__(self, mapper: Any, table: RawTable, *, entity: str, connection: str, run_id: str, side: str,
                 cols: dict[str, str], forget: bool) -> None:
        self.mapper, self.table, self.entity, self.connection = mapper, table, entity, connection
        self.run_id, self.side, self.cols, self.forget = run_id, side, cols, forget
        self.compiled: Compiled = compile_pull(mapper, table)
        self.columns = self.compiled.columns
        self.assembly = self._assembly()

    # what a slice reads and writes --------------------------------------------------------------------
    def slices(self, con: Any, where: str = "true", params: list[Any] | None = None) -> list[tuple[Any, Any]]:
        """(low, high] bounds of the record id, a slice of :func:`slice_rows` unlinked rows each (None: open). Which
        rows are unlinked is decided here, once: nothing else links this entity's records while the pass runs,
        and a first remap (no link at all) needs no look at the links (each slice's anti-join read them all)."""
        key, params = self.table.key, list(params or [])
        self.scope = ""
        if con.execute("SELECT count(*) FROM (SELECT 1 FROM sync.links WHERE entity = ? AND connection = ? LIMIT 1)",
                       [self.entity, self.connection]).fetchall()[0][0]:
            con.execute(f'CREATE OR REPLACE TEMP TABLE {UNLINKED} AS SELECT DISTINCT r."{key}" AS k '
                        f"FROM {self.table.name} r WHERE {where} AND NOT EXISTS (SELECT 1 FROM sync.links l WHERE "
                        f'l.entity = ? AND l.connection = ? AND l.remote_id = CAST(r."{key}" AS VARCHAR))',
                        [*params, self.entity, self.connection])
            self.scope = f' AND r."{key}" IN (SELECT k FROM {UNLINKED})'
        ends = [r[0] for r in con.execute(
            f'SELECT k FROM (SELECT r."{key}" AS k, row_number() OVER (ORDER BY r."{key}") AS n '
            f"FROM {self.table.name} r WHERE {where}{self.scope}) WHERE n % {slice_rows(con)} = 0 ORDER BY 1",
            params).fetchall()]
        return list(zip([None, *ends], [*ends, None], strict=True))

    def done(self, con: Any) -> None:
        con.execute(f"DROP TABLE IF EXISTS {UNLINKED}")

    def _assembly(self) -> str:
        """SQL over the slice's values and the mapped tables: each record's ids, whether it is taken here
        (``ok``), its JSON text as the record path writes it and with sorted keys, its clock, and the JSON
        canonical columns (``f:<name>``) as the batch apply stages them."""
        joins, ok, members, custom, texts = [], ["NOT c.odd"], [], [], {}
        fields = self.compiled.bounds
        required = self.columns.required if self.columns is not None else frozenset()
        first_custom = None
        for i, (bound, inp) in enumerate(zip(fields, self.compiled.inputs, strict=True)):
            name = bound.name
            if inp.absent:
                if name in required:
                    raise NotColumnar(f"required field {name!r} is read from no column of the raw table")
                continue
            joins.append(f"LEFT JOIN crmsync_m{i} m{i} ON m{i}.k IS NOT DISTINCT FROM c.f{i}")
            carried = f"c.f{i} IS NOT NULL" if inp.json else "true"
            ok.append(f"(NOT ({carried}) OR m{i}.t IS NOT NULL)")
            if name in required:
                ok.append(f"({carried})")
            texts[name] = i
            if name.startswith("custom."):
                first_custom = len(members) if first_custom is None else first_custom
                custom.append(name)
            else:
                members.append(name)
        top = list(members)
        if custom:
            top.insert(first_custom, "custom")

        def member(name: str, sort: bool) -> str:
            if name == "custom":
                inner = sorted(custom) if sort else custom
                return "'\"custom\":{' || concat_ws(',', " + ", ".join(member(n, sort) for n in inner) + ") || '}'"
            i = texts[name]
            text = f"coalesce(m{i}.s, m{i}.t)" if sort else f"m{i}.t"
            key = name[7:] if name.startswith("custom.") else name
            return f"CASE WHEN m{i}.t IS NOT NULL THEN '\"{key}\":' || {text} END"

        def record(sort: bool) -> str:
            names = sorted(top) if sort else top
            return "'{' || concat_ws(',', " + ", ".join(["NULL", *(member(n, sort) for n in names)]) + ") || '}'"

        clock = f"m{texts[CLOCK]}.c" if CLOCK in texts else "CAST(NULL AS VARCHAR)"
        # Each canonical column as the batch apply stages it: a JSON one as its value's text (a JSON null: none), a
        # column of text, times or numbers as the text value itself (numbers, flags: cast from the record's JSON
        # instead, as the stage does, when a slice maps one: _write)
        staged = []
        self.staged: list[str] = []
        for name, kind in _fields(self.cols).items():
            if kind == "JSON" and name == "custom" and custom:
                value = "'{' || concat_ws(',', " + ", ".join(member(n, False) for n in custom) + ") || '}'"
            elif name in texts:
                i = texts[name]
                value = f"CASE WHEN m{i}.t <> 'null' THEN m{i}.t END" if kind == "JSON" else f"m{i}.p"
            else:
                value = "CAST(NULL AS VARCHAR)"
            staged.append(f'{value} AS "f:{name}"')
            self.staged.append(f"f:{name}")
        # typed JSON once here: the link's and history's casts of it are then no parse of their own
        return (f"SELECT c.rid AS remote_id, c.k AS k, coalesce({' AND '.join(ok)}, false) AS ok, "
                f"CAST({record(False)} AS JSON) AS record, {record(True)} AS sorted, {clock} AS clock"
                + "".join(f", {c}" for c in staged)
                + f" FROM {VALUES} c {' '.join(joins)}")

    def run_slice(self, con: Any, bound: tuple[Any, Any], counts: Any, where: str = "true",
                  params: list[Any] | None = None) -> Any:
        """Map and write one slice's unlinked records; returns the ids (Arrow, the raw id column's type) of those
        left to the record path. The records stay in the store (a temporary table, which it may spill): Python
        holds a field's distinct values and the slice's sorted texts while it hashes them."""
        self.assemble(con, bound, where, params)
        try:
            left = con.sql(f"SELECT k FROM {ASSEMBLED} WHERE NOT ok").to_arrow_table()
            written = self._write(con)
        finally:
            con.execute(f"DROP TABLE IF EXISTS {ASSEMBLED}")
        counts.read += written
        counts.applied += written
        counts.created += written
        return left

    def assemble(self, con: Any, bound: tuple[Any, Any], where: str = "true", params: list[Any] | None = None) -> None:
        """One slice's unlinked records mapped, as the temporary table :data:`ASSEMBLED` (:meth:`_assembly`)."""
        key = self.table.key
        low, high = bound
        span = "".join([f' AND r."{key}" > ?' if low is not None else "", f' AND r."{key}" <= ?' if high is not None
                        else ""])
        values = ", ".join(f"{inp.sql} AS f{i}" for i, inp in enumerate(self.compiled.inputs) if not inp.absent)
        parsed = f', {self.compiled.parsed} AS "{ENTRIES}"' if self.compiled.parsed else ""
        con.execute(
            f'CREATE OR REPLACE TEMP TABLE {VALUES} AS SELECT CAST(r."{key}" AS VARCHAR) AS rid, r."{key}" AS k, '
            f'({self.compiled.odd}) OR count(*) OVER (PARTITION BY r."{key}") > 1 AS odd'
            + (f", {values}" if values else "")
            + f" FROM (SELECT *{parsed} FROM {self.table.name} r WHERE {where}{span}{self.scope}) r",
            [*(params or []), *(v for v in (low, high) if v is not None)])
        registered = []
        self.others: set[str] = set()  # fields whose slice maps a number or a flag
        try:
            for i, (bound_field, inp) in enumerate(zip(self.compiled.bounds, self.compiled.inputs, strict=True)):
                if inp.absent:
                    continue
                registered.append(self._map_column(con, i, bound_field, inp))
            self.parsed = [name for name, kind in _fields(self.cols).items() if kind != "JSON" and name in self.others]
            con.execute(f"CREATE OR REPLACE TEMP TABLE {ASSEMBLED} AS {self.assembly}")
        finally:
            for name in registered:
                unregister_arrow(con, name)
            con.execute(f"DROP TABLE IF EXISTS {VALUES}")

    def _map_column(self, con: Any, i: int, bound: Any, inp: Input) -> str:
        import pyarrow as pa

        missing = f" AND f{i} IS NOT NULL" if inp.json else ""
        keys = con.sql(f"SELECT DISTINCT f{i} AS k FROM {VALUES} WHERE NOT odd{missing}").to_arrow_table().column(0)
        mapped = map_values(self.mapper, bound, inp, keys.to_pylist(), self.columns, clock=bound.name == CLOCK)
        table = pa.table({"k": keys, "t": pa.array(mapped.texts, pa.string()),
                          "s": pa.array(mapped.sorted_texts, pa.string()),
                          "c": pa.array(mapped.clocks or [None] * len(mapped.texts), pa.string()),
                          "p": pa.array(mapped.plain, pa.string())})
        if mapped.others:
            self.others.add(bound.name)
        name = f"crmsync_m{i}"
        register_arrow(con, name, table)
        return name

    def _write(self, con: Any) -> int:
        """The slice's records taken here: their base hashes (blake2b of the sorted text, as
        :func:`crmsync.canonical.digest.record_hash` makes it), ids, and rows, links and history written by the
        batch apply's statements over a stage of them; how many."""
        import pyarrow as pa
        import pyarrow.compute as pc

        # Arrow arrays a batch each: only a batch's texts, hashes and ids are Python objects at once
        rows: list[Any] = []
        digests: list[Any] = []
        ids: list[Any] = []
        blake = hashlib.blake2b
        rel = con.sql(f"SELECT rowid AS r, sorted FROM {ASSEMBLED} WHERE ok")
        reader = rel.to_arrow_reader(HASHED) if hasattr(rel, "to_arrow_reader") else rel.fetch_arrow_reader(HASHED)
        with reader:  # closed on the way out: an open result would refuse the statements of the clean-up
            for batch in reader:
                # a copy: the batch's own column keeps the whole batch, its texts too, alive until the slice is
                # written (~1 KB a record, held outside DuckDB's cap)
                rows.append(pa.concat_arrays([batch.column(0)]))
                digests.append(pa.array([blake(b, digest_size=16).hexdigest() for b in
                                         pc.cast(batch.column(1), pa.binary()).to_pylist()], pa.string()))
                ids.append(pa.array(random_ids(batch.num_rows), pa.string()))
        n = sum(len(d) for d in digests)
        if not n:
            return 0
        register_arrow(con, DIGESTS, pa.table({"r": pa.chunked_array(rows, pa.int64()),
                                               "digest": pa.chunked_array(digests, pa.string()),
                                               "canonical_id": pa.chunked_array(ids, pa.string())}))
        del rows, digests, ids
        fields = "".join(f', a."{n}"' for n in self.staged)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {STAGE} AS SELECT a.remote_id, d.canonical_id, d.digest, a.record, "
                    f"'new' AS kind, false AS has_base, a.clock, false AS stored{fields} "
                    f"FROM {ASSEMBLED} a JOIN {DIGESTS} d ON d.r = a.rowid")
        try:
            parsed = self.parsed
            names = ", ".join(f'"{n}"' for n in self.cols)
            con.execute(f"INSERT INTO canonical.{TABLE[self.entity]} ({names}) {_new_rows_typed(self.cols, parsed)}")
            con.execute(LINKS_FROM_STAGE + "NOT s.stored", [self.entity, self.connection])
            con.execute(HISTORY_FROM_STAGE, [self.run_id, self.entity, self.side])
            if self.forget:
                forget_unfinished_rejections(con, self.entity, self.connection, self.run_id, [
                    r for (r,) in con.execute(f"SELECT remote_id FROM {ASSEMBLED} WHERE ok").fetchall()])
        finally:
            con.execute(f"DROP VIEW IF EXISTS {STAGE}")
            unregister_arrow(con, DIGESTS)
        return n


def slice_rows(con: Any) -> int:
    """Raw rows a slice: :data:`SLICE`, or whole row groups where the room DuckDB's cap leaves beside the store's
    keys holds at least one at :data:`SLICE` per :data:`SLICE_ROOM`."""
    groups = int(SLICE * working_room(con) / SLICE_ROOM) // ROW_GROUP
    return SLICE if groups < 1 else min(groups, SLICE_GROUPS) * ROW_GROUP


def apply_unlinked(con: Any, applier: ColumnarApply, counts: Any, *, after_slice: Callable[[], None],
                   where: str = "true", params: list[Any] | None = None) -> Any:
    """Every unlinked record of the applier's table, a slice at a time (``after_slice``: the caller commits);
    returns the ids (an Arrow table of ``k``) left to the record path."""
    import pyarrow as pa

    left = []
    try:
        for bound in applier.slices(con, where, params):
            deferred = applier.run_slice(con, bound, counts, where, params)
            if deferred.num_rows:
                left.append(deferred)
            after_slice()
    finally:
        applier.done(con)
    if not left:
        return None
    return pa.concat_tables(left)


def columnar_setting() -> str:
    """``CRMSYNC_COLUMNAR``: ``auto`` (the default: a pull or remap writes the records new to their link by set
    statements where it can, when an entity has more than :data:`AUTO_ROWS` raw rows to apply), ``on`` (whenever it
    can) or ``off`` (every record one by one, as before)."""
    import os

    choice = os.environ.get(SETTING, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        from crmsync.errors import UserError

        raise UserError(f"{SETTING}={choice!r} is not one of: {', '.join(CHOICES)} (off maps and writes every record "
                        "one by one, as crmsync did before; on takes the set statements for any number of records)")
    return choice
