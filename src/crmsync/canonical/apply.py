"""Apply pulled records to canonical tables: new records get a stable id, changed ones a new version.

A record is applied only if its canonical values differ from the *base* (the values last agreed
with that CRM record, kept in ``sync.links``), so re-reading an unchanged record — the incremental
overlap, or our own write coming back — changes nothing. Each applied field change is kept in
``sync.changes``; a record the mapping rejects goes to ``sync.rejected`` with its reason, and the
rest of the run continues.

Writes are set-based: rows are staged (an Arrow table on DuckDB, newline-delimited JSON otherwise,
:func:`staged`) and moved with one SQL statement per table (row-by-row inserts into DuckDB run at a few
hundred rows per second).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from crmsync.jsontext import dump_bytes, dumps, loads
from crmsync.store import engine, register_arrow, unregister_arrow

from .conflicts import CONFLICT_COLUMNS, ConflictRules, instant, settle_clashes, supersede
from .digest import digest_of, text_of
from .links import Link, LinkBook
from .tables import CLOCK, CREATED, TABLE, columns
from .values import plain, same

ENGINE_FIELDS = ("id", "version", "deleted_at")


@dataclass
class EntityCounts:
    read: int = 0
    applied: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    deleted: int = 0
    conflicts: int = 0
    matched: int = 0  # records new to this connection recognised as rows another CRM brought

    def add(self, other: EntityCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        # "new_rows", not "created": a push's "created" is a record created in the CRM (README: JSON output)
        return {"read": self.read, "applied": self.applied, "new_rows": self.created, "unchanged": self.unchanged,
                "rejected": self.rejected, "deleted": self.deleted, "conflicts": self.conflicts,
                "matched": self.matched}


_ABSENT = object()



def rejected_row(run_id: str, entity: str, connection: str, remote_id: str, rejection: dict[str, Any] | None,
                 raw: Any) -> dict[str, Any]:
    """The ``sync.rejected`` row of a pulled record the mapping set aside (both applies write it)."""
    return {"run_id": run_id, "entity": entity, "connection": connection, "remote_id": remote_id,
            "field": (rejection or {}).get("field", ""), "reason": (rejection or {}).get("reason", ""),
            "direction": "pull", "raw": dumps(raw)}

def merge_fields(local: dict[str, Any], base: dict[str, Any], crm: dict[str, Any], cols: dict[str, str],
                 *, first_match: bool = False) -> tuple[dict[str, Any], list[tuple[str, Any, Any, Any]]]:
    """Three-way merge of one record, field by field (``custom`` key by key), against the base.

    Changed only in the CRM → the CRM's value; changed only locally → the local value stays (push
    sends it); changed on both sides to different values → a clash: the CRM's value for now, and
    returned so the pipeline's policy can decide (:mod:`.conflicts`). A field the CRM did not send is
    left alone.

    ``first_match``: the CRM's record was just found to be a person another CRM brought (no base with
    this CRM). Neither side removed anything then, so list values (e-mails, phones) are united, never
    shortened: a CRM that holds fewer addresses than another must not take the others away everywhere.
    """
    merged: dict[str, Any] = {}
    clashes: list[tuple[str, Any, Any, Any]] = []

    def one(name: str, mine: Any, was: Any, theirs: Any) -> Any:
        # ``==`` first: values equal in Python are the same as JSON has them, and most fields did not move
        if theirs is _ABSENT or theirs == was or same(theirs, was):
            return mine
        if first_match and isinstance(mine, list) and isinstance(theirs, list):
            return united(mine, theirs)
        if mine != was and mine != theirs and not same(mine, was) and not same(mine, theirs):
            clashes.append((name, was, mine, theirs))
        return theirs

    for name in cols:
        if name in ("id", "version", "deleted_at") or name not in crm:
            continue
        mine, was, theirs = local.get(name), base.get(name), crm.get(name)
        if isinstance(theirs, dict) and isinstance(was, dict | None) and isinstance(mine, dict | None):
            mine, was = mine or {}, was or {}
            merged[name] = {k: one(f"{name}.{k}", mine.get(k), was.get(k), theirs.get(k, _ABSENT))
                            for k in sorted(set(mine) | set(theirs))}
        else:
            merged[name] = one(name, mine, was, theirs)
    return merged, clashes


def united(mine: list[Any], theirs: list[Any]) -> list[Any]:
    """``mine`` with the entries of ``theirs`` it lacks appended (entries with a ``value``, such as
    contact points, are the same entry when their values are, whatever their type labels)."""
    def key(item: Any) -> Any:
        return ("value", item.get("value")) if isinstance(item, dict) and "value" in item else None

    out = list(mine)
    for item in theirs:
        k = key(item)
        if not any((k is not None and key(have) == k) or same(have, item) for have in out):
            out.append(item)
    return out


def edit_time(row: dict[str, Any], base: dict[str, Any]) -> Any:
    """When the row's side of a clash was edited: the row's clock, if an edit moved it past the time
    this CRM's record had when we last agreed with it; otherwise None — the edit left ``updated_at``
    alone, so it has no time of its own. The clock is only moved by edits (an SQL or app edit, a
    CRM's edit pulled in), never by crmsync writing a value to a CRM (crmsync.push.run), so another
    CRM's read-back cannot make an older edit look newer."""
    mine, agreed = instant(row.get(CLOCK)), instant(base.get(CLOCK))
    if mine is None or (agreed is not None and mine <= agreed):
        return None
    return row.get(CLOCK)


def known_edit_times(con: Any, entity: str, values: dict[str, dict[str, Any]], fields: dict[str, set[str]]
                     ) -> dict[tuple[str, str], Any]:
    """(canonical id, field) → when the value the record has (``values``) was made, where history knows
    it: the ``edited_at`` of the latest ``sync.changes`` row of that field that records an edit (a CRM's
    edit pulled in, a local edit seen before the row's clock moved on, a resolved conflict), if it
    produced that value. crmsync's writes to a CRM (side ``local→…``) are no edits and are passed over.
    ``fields``: canonical id → top-level field names. One query for all of them."""
    if not fields:
        return {}
    rows = con.execute("SELECT canonical_id, field, new, edited_at FROM sync.changes WHERE entity = ? "
                       "AND canonical_id IN (SELECT unnest(?)) AND side NOT LIKE 'local→%' "
                       "QUALIFY changed_at = max(changed_at) OVER (PARTITION BY canonical_id, field)",
                       [entity, list(fields)]).fetchall()
    out: dict[tuple[str, str], Any] = {}
    for cid, name, new, edited_at in rows:  # one transaction may have written several: the one for this value
        if name in fields[cid] and new is not None and (cid, name) not in out \
                and same(loads(new), plain(values[cid].get(name))):
            out[(cid, name)] = edited_at
    return out


def field_edit_time(con: Any, entity: str, cid: str, name: str, row: dict[str, Any], row_time: Any) -> Any:
    """When the row's value of field ``name`` (``custom.k``: its ``custom``) was made: as history knows
    it (:func:`known_edit_times`), otherwise the row's own edit time. Asked only for a clash."""
    top = name.split(".")[0]
    return known_edit_times(con, entity, {cid: row}, {cid: {top}}).get((cid, top), row_time)


def pending_local_edits(run_id: str, entity: str, cid: str, old: dict[str, Any], base: dict[str, Any],
                        crm: dict[str, Any], row: dict[str, Any], row_time: Any, cols: dict[str, str]
                        ) -> list[dict[str, Any]]:
    """History rows (side ``local``) for fields edited locally and not yet agreed with this CRM, when
    this CRM's edit moves the row's clock past their time: the edit time stays known per field, so a
    later clash on one of them is not judged by a newer edit of another field."""
    moves = instant(crm.get(CLOCK))
    if moves is None or (instant(old.get(CLOCK)) is not None and moves <= instant(old.get(CLOCK))):
        return []
    out = []
    for name in cols:
        if name in ENGINE_FIELDS or name in (CLOCK, CREATED) or name not in base:
            continue
        mine = old.get(name)
        if same(mine, base.get(name)) or not same(row.get(name), mine):
            continue  # not edited locally, or the CRM's value replaced it
        out.append({"run_id": run_id, "entity": entity, "canonical_id": cid, "field": name,
                    "old": dumps(plain(base.get(name))), "new": dumps(plain(mine)), "side": "local",
                    "edited_at": row_time})
    return out


def keep_clocks(row: dict[str, Any], old: dict[str, Any], crm: dict[str, Any]) -> None:
    """A CRM's record merged into a row that already existed: the row was last edited at the later of
    the two edit times (an older CRM edit does not move the clock back), and it came to be at the
    earlier of the two creations (a copy made in a second CRM is not the record's creation)."""
    for name, later in ((CLOCK, True), (CREATED, False)):
        if name not in row or name not in crm:
            continue
        times = [t for t in ((instant(old.get(name)), old.get(name)), (instant(crm.get(name)), crm.get(name)))
                 if t[0] is not None]
        if times:
            row[name] = (max if later else min)(times, key=lambda t: t[0])[1]


LINK_COLUMNS = {"entity": "VARCHAR", "connection": "VARCHAR", "remote_id": "VARCHAR", "canonical_id": "VARCHAR",
                "base": "JSON", "base_hash": "VARCHAR", "remote_updated_at": "TIMESTAMPTZ",
                "remote_deleted_at": "TIMESTAMPTZ"}  # a record the CRM just sent or took is not deleted there
LINK_KEY = ["entity", "connection", "remote_id"]
CHANGE_COLUMNS = {"run_id": "VARCHAR", "entity": "VARCHAR", "canonical_id": "VARCHAR", "field": "VARCHAR",
                  "old": "JSON", "new": "JSON", "side": "VARCHAR", "edited_at": "TIMESTAMPTZ"}
REJECTED_COLUMNS = {"run_id": "VARCHAR", "entity": "VARCHAR", "connection": "VARCHAR", "remote_id": "VARCHAR",
                    "field": "VARCHAR", "reason": "VARCHAR", "direction": "VARCHAR", "raw": "JSON"}

CHUNK = 2000  # records applied per round trip: memory stays flat however many records a run reads


def apply_pulled(con: Any, *, entity: str, connection: str, run_id: str, schema: dict[str, Any], book: LinkBook,
                 results: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]],
                 rules: ConflictRules | None = None, claim: Callable[[str, dict[str, Any]], str | None] | None = None,
                 identify: Callable[[dict[str, Any]], str | None] | None = None,
                 after_chunk: Callable[[], None] | None = None, chunk_size: int = CHUNK,
                 side: str | None = None, mode: str = "batch") -> EntityCounts:
    """``results``: (remote_id, canonical or None, rejection dict or None, raw) per record read, a mapped
    record's base hash and JSON text after them when a mapping process made them (:mod:`.digest`);
    ``rules``: the pipeline's conflict policies for this entity (default: the CRM wins);
    ``claim``: the canonical id of a CRM record not linked yet that a lost create of ours made;
    ``identify``: the canonical id of the row a record new to this connection already is
    (:mod:`.identity`); its values are then merged with that row's as a conflict would be;
    ``after_chunk``: called once each chunk of ``chunk_size`` records is written (the pull commits there);
    ``side``: what history calls the source of the values (default ``crm:<connection>``);
    ``mode``: ``batch`` (:mod:`.apply_batch`), or ``rows`` — the record-by-record apply the tests hold
    the batch one to (internal: no command or setting reaches it). Both stores take the batch apply (a
    Postgres store's statements are translated, :mod:`crmsync.store_sql`)."""
    from .apply_batch import apply_batch_chunk

    apply_chunk = {"batch": apply_batch_chunk, "rows": apply_rows_chunk}[mode]
    counts = EntityCounts()
    cols = columns(schema)
    rules = rules or ConflictRules(entity)
    forget = unfinished_rejections(con, entity, connection, run_id)
    chunk: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]] = []
    for item in results:
        chunk.append(item)
        if len(chunk) == chunk_size:
            apply_chunk(con, entity, connection, run_id, cols, book, chunk, counts, rules, claim, identify, side,
                        forget=forget)
            chunk = []
            if after_chunk is not None:
                after_chunk()
    if chunk:
        apply_chunk(con, entity, connection, run_id, cols, book, chunk, counts, rules, claim, identify, side,
                    forget=forget)
    return counts


def link_chunk(entity: str, book: LinkBook, chunk: list[tuple[str, dict[str, Any] | None, Any, Any]],
               counts: EntityCounts, claim: Callable[[str, dict[str, Any]], str | None] | None,
               identify: Callable[[dict[str, Any]], str | None] | None) -> tuple[set[str], dict[str, str]]:
    """Each mapped record of the chunk linked to its canonical id: its link, a lost create of ours it is
    (``claim``), the person another CRM brought (``identify``: returned in the set, merged rather than
    overwritten), or a new id. Returns those matched and the canonical id of every mapped record."""
    matched: set[str] = set()  # remote ids linked to a row another CRM brought: merged, not overwritten
    unmatched: list[str] = []  # remote ids identify found no row for: the chunk makes one for each
    book.fetch(entity, [remote_id for remote_id, canonical, *_ in chunk if canonical is not None])
    for remote_id, canonical, *_ in chunk:
        if canonical is None or (entity, remote_id) in book.links:
            continue
        cid = claim(remote_id, canonical) if claim else None
        if cid is None and identify is not None:
            cid = identify(canonical)
            if cid is not None:
                matched.add(remote_id)
                counts.matched += 1
            else:
                unmatched.append(remote_id)
        if cid is not None:
            book.put(entity, remote_id, Link(cid, None))
    mapped = [remote_id for remote_id, canonical, *_ in chunk if canonical is not None]
    book.mint(entity, mapped)
    cids = {remote_id: book.links[(entity, remote_id)].canonical_id for remote_id in mapped}
    added = getattr(identify, "added", None)  # a shared store's matcher logs them for other workers (.identity)
    if added is not None:
        added([cids[r] for r in unmatched])
    return matched, cids


def apply_rows_chunk(con: Any, entity: str, connection: str, run_id: str, cols: dict[str, str], book: LinkBook,
                     chunk: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None, dict[str, Any]]],
                     counts: EntityCounts, rules: ConflictRules,
                     claim: Callable[[str, dict[str, Any]], str | None] | None = None,
                     identify: Callable[[dict[str, Any]], str | None] | None = None, side: str | None = None,
                     forget: bool = True) -> None:
    """One chunk, record by record: the oracle of :func:`crmsync.canonical.apply_batch.apply_batch_chunk`.
    ``forget``: rejections of unfinished runs may exist (:func:`unfinished_rejections`)."""
    matched, cids = link_chunk(entity, book, chunk, counts, claim, identify)
    current = current_rows(con, entity, cols, list(cids.values()))
    upserts: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    conflicts: list[dict[str, Any]] = []
    side = side or f"crm:{connection}"
    digests = [digest_of(item) for item in chunk]
    bases = book.bases(con, entity, [item[0] for item, d in zip(chunk, digests, strict=True)
                                     if d is not None and book.links[(entity, item[0])].base_hash not in (None, d)])
    added: set[str] = set()  # a record new to the chunk and held twice by it is one new row
    for item, digest in zip(chunk, digests, strict=True):
        remote_id, canonical, rejection, raw = item[:4]
        counts.read += 1
        if canonical is None:
            counts.rejected += 1
            rejected.append(rejected_row(run_id, entity, connection, remote_id, rejection, raw))
            continue
        link = book.links[(entity, remote_id)]  # to_canonical above made sure there is one
        if link.base_hash == digest:
            counts.unchanged += 1
            continue
        base = bases.get(remote_id) or {}
        cid = cids[remote_id]
        old: dict[str, Any] = current.get(cid, {})
        if not old:
            counts.created += cid not in added
            added.add(cid)
        if old and (base or remote_id in matched):  # a local edit the CRM did not touch must survive
            merged, clashes = merge_fields(old, base, canonical, cols, first_match=not base)
            row = {**{k: old.get(k) for k in cols}, **merged}
            row_time = edit_time(old, base)
            per_field = (lambda name, old=old, cid=cid, row_time=row_time: field_edit_time(  # noqa: E731
                con, entity, cid, name, old, row_time)) if base else row_time  # matched: no history with this CRM
            conflicts.extend(settle_clashes(row, clashes, rules, local_time=per_field, crm_time=canonical.get(CLOCK),
                                            run_id=run_id, canonical_id=cid, connection=connection))
            if base:
                changes.extend(pending_local_edits(run_id, entity, cid, old, base, canonical, row, row_time, cols))
            keep_clocks(row, old, canonical)
        else:
            row = {**{k: old.get(k) for k in cols}, **{k: canonical.get(k) for k in cols if k in canonical}}
            if old:  # our own create, found in the CRM (claimed): its times are when we wrote it, not edits
                keep_clocks(row, old, {CREATED: canonical.get(CREATED)})
                if old.get(CLOCK) is not None:
                    row[CLOCK] = old[CLOCK]
        row.update(id=cid, version=int(old.get("version") or 0) + 1, deleted_at=deleted_after_pull(old, link))
        upserts.append(row)
        encoded = text_of(item)
        crm_time = canonical.get(CLOCK)  # the CRM's edit: when it was made there
        if not base:  # a record new to this link: one history row holds all its values
            changes.append({"run_id": run_id, "entity": entity, "canonical_id": cid, "field": "*", "old": None,
                            "new": encoded, "side": side, "edited_at": crm_time})
        else:
            for name in sorted(k for k in set(canonical) | set(base) if canonical.get(k) != base.get(k)):
                changes.append({"run_id": run_id, "entity": entity, "canonical_id": cid, "field": name,
                                "old": dumps(base.get(name)), "new": dumps(canonical.get(name)),
                                "side": side, "edited_at": crm_time})
        links.append({"entity": entity, "connection": connection, "remote_id": remote_id, "canonical_id": cid,
                      "base": encoded, "base_hash": digest, "remote_updated_at": canonical.get("updated_at")})
        book.put(entity, remote_id, Link(cid, digest))
        bases[remote_id] = canonical  # the same record again later in this chunk merges against this
        counts.applied += 1
    upsert_rows(con, f"canonical.{TABLE[entity]}", cols, upserts, key=["id"])
    upsert_rows(con, "sync.links", LINK_COLUMNS, links, key=LINK_KEY)
    for link in links:  # stored with their rows: no longer only minted
        book.minted.pop((entity, link["remote_id"]), None)
    insert_rows(con, "sync.changes", CHANGE_COLUMNS, changes)
    if forget:
        forget_unfinished_rejections(con, entity, connection, run_id, [item[0] for item in chunk])
    insert_rows(con, "sync.rejected", REJECTED_COLUMNS, rejected)
    supersede(con, conflicts)
    insert_rows(con, "sync.conflicts", CONFLICT_COLUMNS, conflicts)
    counts.conflicts += len(conflicts)


def unfinished_rejections(con: Any, entity: str, connection: str, run_id: str) -> bool:
    """Whether a pull killed midway left rejections of these records (:func:`forget_unfinished_rejections`).
    Asked once per apply: this run's own rejections are not theirs, so a store with none has none for the
    rest of the run, and its chunks skip the statement that looks for them."""
    return con.execute("SELECT count(*) FROM (SELECT 1 FROM sync.rejected WHERE direction = 'pull' AND entity = ? "
                       "AND connection = ? AND run_id <> ? AND run_id NOT IN (SELECT run_id FROM sync.runs) LIMIT 1)",
                       [entity, connection, run_id]).fetchone()[0] > 0


def forget_unfinished_rejections(con: Any, entity: str, connection: str, run_id: str, remote_ids: list[str]) -> None:
    """A pull killed midway kept the rejections of the chunks it committed, under a run id that never
    finished (no ``sync.runs`` row). This run maps those records again: each keeps one rejection, the
    one of the run that ends (or none, if the record now maps)."""
    con.execute("DELETE FROM sync.rejected WHERE direction = 'pull' AND entity = ? AND connection = ? AND run_id <> ? "
                "AND remote_id IN (SELECT unnest(?)) AND run_id NOT IN (SELECT run_id FROM sync.runs)",
                [entity, connection, run_id, remote_ids])


def deleted_after_pull(row: dict[str, Any], link: Link) -> Any:
    """``deleted_at`` of a row the CRM just sent. The CRM listing a record it had deleted means it was
    restored there: the row comes back. A deletion made locally stands (it is pushed, or kept local,
    per the pipeline's ``deletes``): a CRM edit racing it lands on the deleted row and in history.
    """
    return None if link.remote_deleted else row.get("deleted_at")


def save_minted(con: Any, book: LinkBook) -> None:
    """Ids minted for referenced records that were not read yet: keep them so they stay stable."""
    rows = [{"entity": e, "connection": book.connection, "remote_id": r, "canonical_id": c}
            for (e, r), c in book.minted.items()]
    insert_rows(con, "sync.links", {"entity": "VARCHAR", "connection": "VARCHAR", "remote_id": "VARCHAR",
                                "canonical_id": "VARCHAR"}, rows, on_conflict_nothing=True)
    book.minted.clear()


def current_rows(con: Any, entity: str, cols: dict[str, str], ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    names = list(cols)
    quoted = ", ".join(f'"{n}"' for n in names)
    rows = con.execute(f"SELECT {quoted} FROM canonical.{TABLE[entity]} WHERE id IN (SELECT unnest(?))",
                       [ids]).fetchall()
    return rows_from(names, cols, rows)


def rows_from(names: list[str], cols: dict[str, str], rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Canonical rows as the store returned them (columns ``names``), by id, JSON columns parsed."""
    out = {}
    for row in rows:
        rec = dict(zip(names, row, strict=True))
        for name, kind in cols.items():
            if kind == "JSON" and isinstance(rec[name], str):
                rec[name] = loads(rec[name])
        out[rec["id"]] = rec
    return out


def _stage(con: Any, cols: dict[str, str], rows: list[dict[str, Any]]) -> str:
    fd, path = tempfile.mkstemp(prefix="crmsync-stage-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as fh:
        fh.writelines(dump_bytes({k: _jsonable(row.get(k), cols[k]) for k in cols}) + b"\n" for row in rows)
    return path


def _jsonable(value: Any, kind: str) -> Any:
    if kind == "JSON" and value is not None and not isinstance(value, str):
        return dumps(value)
    return value


def _select(cols: dict[str, str], path: str) -> str:
    spec = ", ".join(f"'{name}': '{'VARCHAR' if kind == 'JSON' else kind}'" for name, kind in cols.items())
    exprs = ", ".join(f'CAST("{n}" AS JSON) AS "{n}"' if k == "JSON" else f'"{n}"' for n, k in cols.items())
    return f"SELECT {exprs} FROM read_json('{path}', format='newline_delimited', columns={{{spec}}})"


ROWS = "crmsync_rows"  # the rows a statement writes, as an Arrow table registered with a DuckDB connection


@contextmanager
def staged(con: Any, cols: dict[str, str], rows: list[dict[str, Any]]) -> Iterator[str]:
    """A ``SELECT`` of ``rows`` (columns ``cols``, each of its column's type) for one statement.

    On DuckDB, an Arrow table of the rows' columns when every value is one the store casts to its column
    as it reads the same value from JSON (text, whole numbers, booleans, times as ``str`` gives them):
    writing each row as JSON for the store to parse back cost more than the statement. Otherwise (a
    Postgres store, an amount given as a float) newline-delimited JSON in a file, read by ``read_json``."""
    arrays = _arrow_columns(cols, rows) if engine(con) == "duckdb" else None
    if arrays is not None:
        import pyarrow as pa

        register_arrow(con, ROWS, pa.table(arrays))
        try:
            yield "SELECT " + ", ".join(f'CAST("{n}" AS {k}) AS "{n}"' for n, k in cols.items()) + f" FROM {ROWS}"
        finally:
            unregister_arrow(con, ROWS)
        return
    path = _stage(con, cols, rows)
    try:
        yield _select(cols, path)
    finally:
        os.unlink(path)


_INTEGERS = frozenset({"INTEGER", "BIGINT"})
_TIMES = frozenset({"TIMESTAMPTZ", "DATE"})


def _arrow_columns(cols: dict[str, str], rows: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
    """``rows`` by column, as :func:`staged` hands them to DuckDB; None if one value needs the JSON path."""
    import datetime as dt
    from decimal import Decimal

    out: dict[str, list[Any]] = {}
    for name, kind in cols.items():
        values = [row.get(name) for row in rows]
        if kind == "JSON":  # text, cast to JSON by the statement, as read from the file
            values = [_jsonable(v, kind) for v in values]
            ok = all(v is None or type(v) is str for v in values)
        elif kind == "VARCHAR":
            ok = all(v is None or type(v) is str for v in values)
        elif kind in _INTEGERS:
            ok = all(v is None or type(v) is int for v in values)
        elif kind == "BOOLEAN":
            ok = all(v is None or type(v) is bool for v in values)
        elif kind in _TIMES:  # a time DuckDB gave back goes as the text JSON has it (``str``)
            ok = all(v is None or isinstance(v, str | dt.date) for v in values)
            values = [v if v is None or type(v) is str else str(v) for v in values]
        elif kind.startswith("DECIMAL"):  # exact: a stored amount or a whole number; a float takes the JSON path
            ok = all(v is None or type(v) in (int, Decimal) for v in values)
            values = [None if v is None else str(v) for v in values]
        else:
            ok = all(v is None for v in values)
        if not ok:
            return None
        out[name] = values
    return out


def upsert_rows(con: Any, table: str, cols: dict[str, str], rows: list[dict[str, Any]], key: list[str]) -> None:
    if not rows:
        return
    # One row per key, the last given (a chunk may hold a record twice: two loads not applied yet). An upsert
    # that meets its key twice keeps the first on DuckDB and fails on Postgres; the later one is the truth.
    rows = list({tuple(row.get(k) for k in key): row for row in rows}.values())
    with staged(con, cols, rows) as select:
        names = ", ".join(f'"{n}"' for n in cols)
        updates = ", ".join(f'"{n}" = excluded."{n}"' for n in cols if n not in key)
        con.execute(f"INSERT INTO {table} ({names}) {select} ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


def update_rows(con: Any, table: str, cols: dict[str, str], rows: list[tuple[dict[str, Any], dict[str, Any]]],
                where: dict[str, int] | None = None) -> None:
    """Write ``rows`` (new row, the row as read from ``table``) over the stored rows with the same ``id``:
    one ``UPDATE … FROM`` of only the columns some row changes. Writing whole rows (an upsert) cost the
    store most of a changed record's apply; a remap that changes one field changes one column. A value
    counts as unchanged only if it is the same Python value (a JSON column: the same text), so what is
    stored is exactly what the whole-row upsert stored. A row given twice: the last one is written, as
    :func:`upsert_rows` does.

    ``where`` (DuckDB): each row's ``rowid`` as it was read in this transaction. Joined on it as well as
    the id, the statement reads only the row groups holding the rows instead of the table's whole id
    column (:mod:`crmsync.canonical.places`); if it did not meet every row, the rows are written by id."""
    if not rows:
        return
    last = {new["id"]: (new, old) for new, old in rows}
    changed = [n for n in cols if n != "id" and any(_differs(new.get(n), old.get(n), cols[n]) for new, old in
                                                    last.values())]
    if not changed:
        return
    picked = {"id": cols["id"], **{n: cols[n] for n in changed}}
    sets = ", ".join(f'"{n}" = s."{n}"' for n in changed)
    if where and all(i in where for i in last):
        placed = {**picked, PLACE: "BIGINT"}
        with staged(con, placed, [{**new, PLACE: where[i]} for i, (new, _) in last.items()]) as select:
            done = con.execute(f"UPDATE {table} SET {sets} FROM ({select}) s WHERE {table}.rowid = s.{PLACE} "
                               f"AND {table}.id = s.id").fetchone()
        if done is not None and done[0] == len(last):
            return
    with staged(con, picked, [new for new, _ in last.values()]) as select:
        con.execute(f"UPDATE {table} SET {sets} FROM ({select}) s WHERE {table}.id = s.id")


PLACE = "crmsync_rowid"  # a staged row's rowid (:func:`update_rows`): a name no canonical field has


def _differs(new: Any, old: Any, kind: str) -> bool:
    if new is old:
        return False
    if kind == "JSON":  # equal objects can still be stored as different text (key order)
        return new != old or _jsonable(new, kind) != _jsonable(old, kind)
    return type(new) is not type(old) or new != old


def insert_rows(con: Any, table: str, cols: dict[str, str], rows: list[dict[str, Any]],
            on_conflict_nothing: bool = False) -> None:
    if not rows:
        return
    with staged(con, cols, rows) as select:
        names = ", ".join(f'"{n}"' for n in cols)
        tail = " ON CONFLICT DO NOTHING" if on_conflict_nothing else ""
        con.execute(f"INSERT INTO {table} ({names}) {select}{tail}")
