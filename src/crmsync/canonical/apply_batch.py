"""The apply step on a whole chunk at once: what the store can do as set statements, it does.

A chunk of mapped records is read against the store in one query (each record's link base and
canonical row, joined by SQL), decided in Python only where a row already exists and the CRM changed
it (the three-way merge, field by field, :func:`crmsync.canonical.apply.merge_fields`), and written
from one staged table: new canonical rows are cast from its typed columns in SQL, links and the
one-row history of a record new to its link are set statements on the stage, merged rows and
per-field history go in one statement per table. A chunk asks no per-record question of the store:
the edit times a ``newest_wins`` clash needs come from one history query for the chunk.

:func:`crmsync.canonical.apply.apply_rows_chunk` is the same step record by record; it is kept as the
oracle the tests compare this with (``tests/unit/canonical/test_batch_apply.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmsync.jsontext import dumps, loads
from crmsync.store import engine, register_arrow, unregister_arrow

from .apply import (
    CHANGE_COLUMNS,
    REJECTED_COLUMNS,
    deleted_after_pull,
    edit_time,
    forget_unfinished_rejections,
    insert_rows,
    keep_clocks,
    known_edit_times,
    link_chunk,
    merge_fields,
    pending_local_edits,
    rejected_row,
    rows_from,
    update_rows,
)
from .conflicts import CONFLICT_COLUMNS, ConflictRules, settle_clashes, supersede_all
from .digest import digest_of, text_of
from .links import Link, LinkBook
from .places import RowPlaces
from .tables import CLOCK, CREATED, TABLE

# The chunk's applied records (remote id, canonical id, base hash, the record's JSON; ``kind``: ``new`` —
# no canonical row yet, inserted from the record — or ``row``, merged in Python, or ``earlier``: a copy the
# chunk holds again later; ``has_base``: else history keeps one row of all its values). On DuckDB an Arrow
# table registered with the connection (:func:`_stage`), elsewhere a temporary table: each connection has
# its own, gone with it.
STAGE = "crmsync_apply_stage"
KEYS = "crmsync_apply_keys"  # the chunk's records whose rows and bases are read (:func:`_read_chunk`)
# A staged record's link (parameters: entity, connection; the caller ends the WHERE clause), and the one history
# row of a record new to its link (parameters: run id, entity, side): the statements of every staged write.
LINKS_FROM_STAGE = ("INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base, base_hash, "
                    "remote_updated_at, remote_deleted_at) SELECT ?, ?, s.remote_id, s.canonical_id, "
                    f"CAST(s.record AS JSON), s.digest, CAST(s.clock AS TIMESTAMPTZ), NULL FROM {STAGE} s "
                    "WHERE s.kind <> 'earlier' AND ")
HISTORY_FROM_STAGE = ("INSERT INTO sync.changes (run_id, entity, canonical_id, field, old, new, side, edited_at) "
                      "SELECT ?, ?, s.canonical_id, '*', NULL, CAST(s.record AS JSON), ?, CAST(s.clock AS TIMESTAMPTZ) "
                      f"FROM {STAGE} s WHERE NOT s.has_base")


def apply_batch_chunk(con: Any, entity: str, connection: str, run_id: str, cols: dict[str, str], book: LinkBook,
                      chunk: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]],
                      counts: Any, rules: ConflictRules,
                      claim: Callable[[str, dict[str, Any]], str | None] | None = None,
                      identify: Callable[[dict[str, Any]], str | None] | None = None, side: str | None = None,
                      forget: bool = True) -> None:
    side = side or f"crm:{connection}"
    matched, cids = link_chunk(entity, book, chunk, counts, claim, identify)
    # Links sync.links already holds (as the chunk began): written again by an upsert; the others by a plain
    # insert, which costs the store a third of an upsert's time at a million links.
    stored = {r for r in cids if book.links[(entity, r)].stored}
    digests = [digest_of(item) for item in chunk]
    wanted = [item[0] for item, d in zip(chunk, digests, strict=True)
              if d is not None and book.links[(entity, item[0])].base_hash != d]
    # Only the rows of records that changed are read: an unchanged record needs none. (A record the chunk
    # holds twice is read if either copy differs from the stored base, the only way the second can apply.)
    # Nor those of ids this run minted: no row has one yet (a first pull reads nothing).
    need = {r for r in wanted if (entity, r) not in book.minted}
    current, bases, where = _read_chunk(con, entity, connection, cols, {r: c for r, c in cids.items() if r in need},
                                        [r for r in wanted if book.links[(entity, r)].base_hash is not None],
                                        book.places)

    staged: list[Staged] = []
    upserts: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (new row, the row as stored)
    changes: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    merges: list[Merge] = []  # finished once the chunk's clashes are settled (:func:`_finish_merges`)
    added: set[str] = set()  # a record new to the chunk and held twice by it is one new row
    for item, digest in zip(chunk, digests, strict=True):
        remote_id, canonical, rejection, raw = item[:4]
        counts.read += 1
        if canonical is None:
            counts.rejected += 1
            rejected.append(rejected_row(run_id, entity, connection, remote_id, rejection, raw))
            continue
        link = book.links[(entity, remote_id)]
        if link.base_hash == digest:
            counts.unchanged += 1
            continue
        base = bases.get(remote_id) or {}
        cid = cids[remote_id]
        old: dict[str, Any] = current.get(cid, {})
        if not old:
            counts.created += cid not in added
            added.add(cid)
            staged.append((remote_id, cid, digest, text_of(item), "new", bool(base), canonical))
        else:
            if base or remote_id in matched:  # a local edit the CRM did not touch must survive
                merged, clashes = merge_fields(old, base, canonical, cols, first_match=not base)
                row = {**{k: old.get(k) for k in cols}, **merged}
                merges.append(Merge(cid, row, old, base, canonical, clashes))
            else:
                row = {**{k: old.get(k) for k in cols}, **{k: canonical.get(k) for k in cols if k in canonical}}
                keep_clocks(row, old, {CREATED: canonical.get(CREATED)})  # our own create, claimed: not edits
                if old.get(CLOCK) is not None:
                    row[CLOCK] = old[CLOCK]
            row.update(id=cid, version=int(old.get("version") or 0) + 1, deleted_at=deleted_after_pull(old, link))
            upserts.append((row, old))
            staged.append((remote_id, cid, digest, text_of(item), "row", bool(base), canonical))
        if base:
            crm_time = canonical.get(CLOCK)
            for name in sorted(k for k in set(canonical) | set(base) if canonical.get(k) != base.get(k)):
                changes.append({"run_id": run_id, "entity": entity, "canonical_id": cid, "field": name,
                                "old": dumps(base.get(name)), "new": dumps(canonical.get(name)),
                                "side": side, "edited_at": crm_time})
        book.put(entity, remote_id, Link(cid, digest))
        bases[remote_id] = canonical  # the same record again later in this chunk merges against this
        counts.applied += 1

    conflicts = _finish_merges(con, entity, connection, run_id, rules, cols, merges, changes)
    table = f"canonical.{TABLE[entity]}"
    if staged:
        new_rows = _stage(con, cols, staged, stored)
        if new_rows is not None:
            names = ", ".join(f'"{n}"' for n in cols)
            # A row of kind ``new`` has an id no canonical row has (none was found for it, and ids are minted
            # at random): a plain insert, a third of an upsert's cost; one that did meet a row would fail the
            # run rather than overwrite that row unmerged.
            con.execute(f"INSERT INTO {table} ({names}) {new_rows}")
    update_rows(con, table, cols, upserts, where)
    if staged:
        written = {item[0] for item in staged}
        if written - stored:
            con.execute(LINKS_FROM_STAGE + "NOT s.stored", [entity, connection])
        if written & stored:
            con.execute(
                LINKS_FROM_STAGE + "s.stored ON CONFLICT (entity, connection, remote_id) DO UPDATE SET canonical_id = "
                "excluded.canonical_id, base = excluded.base, base_hash = excluded.base_hash, remote_updated_at = "
                "excluded.remote_updated_at, remote_deleted_at = excluded.remote_deleted_at", [entity, connection])
        con.execute(HISTORY_FROM_STAGE, [run_id, entity, side])
        _unstage(con)
        for remote_id, *_ in staged:  # stored with their rows: no longer only minted
            book.minted.pop((entity, remote_id), None)
    insert_rows(con, "sync.changes", CHANGE_COLUMNS, changes)
    if forget:  # rejections a killed run left (:func:`crmsync.canonical.apply.unfinished_rejections`)
        forget_unfinished_rejections(con, entity, connection, run_id, [item[0] for item in chunk])
    insert_rows(con, "sync.rejected", REJECTED_COLUMNS, rejected)
    supersede_all(con, conflicts)
    insert_rows(con, "sync.conflicts", CONFLICT_COLUMNS, conflicts)
    counts.conflicts += len(conflicts)


def _read_chunk(con: Any, entity: str, connection: str, cols: dict[str, str], cids: dict[str, str],
                based: list[str], places: RowPlaces | None = None
                ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
    """The canonical rows of the chunk's records and the bases of ``based`` (remote ids), in one query; and
    where each row is (its ``rowid``, DuckDB only), for :func:`crmsync.canonical.apply.update_rows`.

    ``places`` (DuckDB): rows are joined on their last known rowid as well as their id, which reads only
    the row groups they are in (:mod:`crmsync.canonical.places`); a row not found there is read by id."""
    if not cids:
        return {}, {}, {}
    names = list(cols)
    table = f"canonical.{TABLE[entity]}"
    duck = engine(con) == "duckdb"
    rowids = places.find(con, table, list(cids.values())) if duck and places is not None else None
    wanted = set(based)
    columns: dict[str, list[Any]] = {"remote_id": list(cids), "canonical_id": list(cids.values()),
                                     "based": [r in wanted for r in cids]}
    if rowids is not None:
        import pyarrow as pa

        columns["rid"] = pa.array(rowids, pa.int64())
    rows = _read_rows(con, table, entity, connection, names, columns, by_place=rowids is not None, bases=True)
    if rowids is not None and (missed := [r[0] for r in rows if not r[2]]):
        by_id = {"remote_id": missed, "canonical_id": [cids[r] for r in missed]}
        again = _read_rows(con, table, entity, connection, names, by_id, by_place=False, bases=False)
        if found := {r[0]: r for r in again if r[2]}:  # rows the places did not know: inserted by this run, or moved
            assert places is not None
            places.moved(table)
            rows = [(*r[:2], *found[r[0]][2:]) if r[0] in found else r for r in rows]
    bases = {r[0]: loads(r[1]) for r in rows if r[1] is not None}
    at = 4 + names.index("id")
    where = {r[at]: r[3] for r in rows if r[2] and r[3] is not None} if duck else {}
    return rows_from(names, cols, [r[4:] for r in rows if r[2]]), bases, where


def _read_rows(con: Any, table: str, entity: str, connection: str, names: list[str], columns: dict[str, list[Any]],
               *, by_place: bool, bases: bool) -> list[tuple[Any, ...]]:
    """(remote id, base, found, rowid, the row's columns) of each key of ``columns``: remote_id,
    canonical_id, and ``based`` (read its base) and ``rid`` (its rowid, ``by_place``) when asked."""
    picked = ", ".join(f'c."{n}"' for n in names)
    rowid = "c.rowid" if engine(con) == "duckdb" else "NULL"
    on = "c.rowid = k.rid AND c.id = k.canonical_id" if by_place else "c.id = k.canonical_id"
    keys, params = _table(con, KEYS, columns)
    base, join = "NULL", ""
    if bases:
        base = "l.base"
        join = ("LEFT JOIN sync.links l ON k.based AND l.entity = ? AND l.connection = ? AND l.remote_id = k.remote_id "
                "AND l.base IS NOT NULL")
        params = [*params, entity, connection]
    try:
        return con.execute(f"SELECT k.remote_id, {base}, c.id IS NOT NULL, {rowid}, {picked} FROM {keys} k "
                           f"LEFT JOIN {table} c ON {on} {join}", params).fetchall()
    finally:
        _unstage(con, KEYS)


# One staged record: remote id, canonical id, digest, its JSON text, kind, has base, the record
Staged = tuple[str, str, str, str, str, bool, dict[str, Any]]
_TEXT_KINDS = frozenset({"VARCHAR", "TIMESTAMPTZ", "DATE"})  # a canonical string cast by SQL as from_json's was


def _stage(con: Any, cols: dict[str, str], staged: list[Staged], stored: set[str]) -> str | None:
    """The chunk's applied records as a table the set statements read; returns the SQL of its new canonical
    rows (None: the chunk has none). A record the chunk holds twice: the earlier copies are kind ``earlier``,
    kept for history only, so its row and link are written once, as the last copy left them (an upsert
    meeting one key twice keeps the first row on DuckDB and fails on Postgres).

    On DuckDB the stage is an Arrow table registered with the connection, with a column per canonical
    field of the new rows: no JSON is parsed by the store, and passing Python lists as parameters (the
    other way to hand it rows) cost more than the statements that read them. Its columns are taken from
    the staged tuples in one transpose, the fields only when the chunk has new rows. Postgres takes lists
    bound as arrays into a temporary table, its new rows cast from the record's JSON."""
    remote_ids, cids, digests, records, kinds, has_base, recs = (list(c) for c in zip(*staged, strict=True))
    last = {r: n for n, r in enumerate(remote_ids)}
    if len(last) < len(remote_ids):
        kinds = [k if last[r] == n else "earlier" for n, (r, k) in enumerate(zip(remote_ids, kinds, strict=True))]
    clocks = [_clock(rec.get(CLOCK)) for rec in recs]
    base = {"remote_id": remote_ids, "canonical_id": cids, "digest": digests, "record": records, "kind": kinds,
            "has_base": has_base, "clock": clocks, "stored": [r in stored for r in remote_ids]}
    any_new = "new" in kinds
    if engine(con) != "duckdb":
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (remote_id VARCHAR, canonical_id VARCHAR, "
                    "digest VARCHAR, record VARCHAR, kind VARCHAR, has_base BOOLEAN, clock VARCHAR, stored BOOLEAN)")
        con.execute(f"DELETE FROM {STAGE}")
        con.execute(f"INSERT INTO {STAGE} SELECT unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), unnest(?), "
                    "unnest(?), unnest(?)", list(base.values()))
        return _new_rows_from_json(cols, list(_fields(cols))) if any_new else None
    import pyarrow as pa

    typed: dict[str, list[Any]] = {}
    parsed: list[str] = []
    if any_new:
        new = recs if all(k == "new" for k in kinds) else [
            rec if kind == "new" else {} for rec, kind in zip(recs, kinds, strict=True)]
        for name, kind in _fields(cols).items():
            values = [rec.get(name) for rec in new]
            if kind == "JSON":  # as from_json hands a JSON field over: its JSON text (a JSON null: no value)
                typed[name] = [None if v is None else dumps(v) for v in values]
            elif kind in _TEXT_KINDS and all(v is None or type(v) is str for v in values):
                typed[name] = values
            else:  # numbers, booleans, a value of another type: SQL reads them from the record, as before
                parsed.append(name)
    # JSON text orjson wrote is valid: typed as JSON (an Arrow extension type DuckDB reads as its own), the
    # store keeps it as written without parsing it again, as a cast from text would keep it after a parse
    json = {"record", *(f"f:{n}" for n, k in _fields(cols).items() if k == "JSON")}
    columns = {**base, **{f"f:{n}": v for n, v in typed.items()}}
    flags = ("has_base", "stored")
    register_arrow(con, STAGE, pa.table({k: pa.array(v, pa.bool_() if k in flags else pa.json_() if k in json
                                              else pa.string()) for k, v in columns.items()}))
    return _new_rows_typed(cols, parsed) if any_new else None


def _table(con: Any, name: str, columns: dict[str, list[Any]]) -> tuple[str, list[Any]]:
    """SQL naming a table of these columns, and the parameters it takes: on DuckDB an Arrow table
    registered as ``name`` (lists bound as parameters cost more than the query reading them), elsewhere
    the lists bound as arrays."""
    if engine(con) != "duckdb":
        return "(SELECT " + ", ".join(f"unnest(?) AS {k}" for k in columns) + ")", list(columns.values())
    import pyarrow as pa

    register_arrow(con, name, pa.table(columns))
    return name, []


def _unstage(con: Any, name: str = STAGE) -> None:
    if engine(con) == "duckdb":
        unregister_arrow(con, name)


def _clock(value: Any) -> str | None:
    """A record's ``updated_at`` as SQL casts it (``json_extract_string`` of the record read it so)."""
    return value if value is None or type(value) is str else dumps(value)


def _fields(cols: dict[str, str]) -> dict[str, str]:
    """The canonical columns a new row takes from its record (the engine's own are set by the apply)."""
    return {n: k for n, k in cols.items() if n not in ("id", "version", "deleted_at")}


# What a new canonical row holds in the engine's own columns, whatever its record says.
_ENGINE_VALUES = {"id": "canonical_id", "version": "1", "deleted_at": "CAST(NULL AS TIMESTAMPTZ)"}


def _new_rows_typed(cols: dict[str, str], parsed: list[str]) -> str:
    """SQL: the new canonical rows of a DuckDB stage, each field cast from its staged column to its
    column's type (``parsed``: fields read from the record's JSON instead, as :func:`_new_rows_from_json`)."""
    shape = "{" + ", ".join(f'"{n}": "VARCHAR"' for n in parsed) + "}"
    out = []
    for name, kind in cols.items():
        if name in _ENGINE_VALUES:
            out.append(_ENGINE_VALUES[name])
        elif name in parsed:
            out.append(f'CAST(from_json(record, \'{shape}\')."{name}" AS {kind})')
        else:
            out.append(f'CAST("f:{name}" AS {kind})')
    return f"SELECT {', '.join(out)} FROM {STAGE} WHERE kind = 'new'"


def _new_rows_from_json(cols: dict[str, str], fields: list[str]) -> str:
    """SQL: the new canonical rows of the stage, each field cast from its record's JSON (parsed once) to
    its column's type, as the staged writes do (a field the record does not have is null, and so is
    ``deleted_at``)."""
    shape = "{" + ", ".join(f'"{n}": "{"JSON" if cols[n] == "JSON" else "VARCHAR"}"' for n in fields) + "}"
    out = []
    for name, kind in cols.items():
        if name in _ENGINE_VALUES:
            out.append(_ENGINE_VALUES[name])
        elif kind == "JSON":
            out.append(f'r."{name}"')
        else:
            out.append(f'CAST(r."{name}" AS {kind})')
    return (f"SELECT {', '.join(out)} FROM (SELECT canonical_id, from_json(record, '{shape}') AS r FROM {STAGE} "
            "WHERE kind = 'new')")


@dataclass
class Merge:
    """A row the CRM's record was merged into, waiting for its clashes to be settled."""

    cid: str
    row: dict[str, Any]
    old: dict[str, Any]
    base: dict[str, Any]
    crm: dict[str, Any]
    clashes: list[tuple[str, Any, Any, Any]]


def _finish_merges(con: Any, entity: str, connection: str, run_id: str, rules: ConflictRules, cols: dict[str, str],
                   merges: list[Merge], changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Settle the chunk's clashes by the pipeline's policy (the edit times ``newest_wins`` asks for come
    from one history query for every clashing row), then record the local edits the CRM's clock moves
    past and merge the clocks, as the record-by-record apply does for each row in turn. The conflicts."""
    known: dict[tuple[str, str], Any] = {}
    if any(rules.policy(c[0]) == "newest_wins" for m in merges if m.base for c in m.clashes):
        values: dict[str, dict[str, Any]] = {}
        fields: dict[str, set[str]] = {}
        for m in merges:
            if m.base and m.clashes:  # a matched row has no history with this CRM: its own time is all there is
                values[m.cid] = m.old
                fields.setdefault(m.cid, set()).update(c[0].split(".")[0] for c in m.clashes)
        known = known_edit_times(con, entity, values, fields)
    out: list[dict[str, Any]] = []
    for m in merges:
        row_time = edit_time(m.old, m.base)
        if m.clashes:
            local_time: Any = row_time
            if m.base:
                def local_time(name: str, cid: str = m.cid, row_time: Any = row_time) -> Any:
                    return known.get((cid, name.split(".")[0]), row_time)
            out.extend(settle_clashes(m.row, m.clashes, rules, local_time=local_time, crm_time=m.crm.get(CLOCK),
                                      run_id=run_id, canonical_id=m.cid, connection=connection))
        if m.base:
            changes.extend(pending_local_edits(run_id, entity, m.cid, m.old, m.base, m.crm, m.row, row_time, cols))
        keep_clocks(m.row, m.old, m.crm)
    return out
