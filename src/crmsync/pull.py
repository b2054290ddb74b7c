"""``crmsync pull``: read a connection incrementally, map into canonical tables, record the run."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.apply import CHUNK, EntityCounts, apply_pulled, save_minted
from crmsync.canonical.apply_columnar import AUTO_ROWS, apply_unlinked, columnar_setting
from crmsync.canonical.deletes import apply_remote_deletes, pushed_fields
from crmsync.canonical.links import LinkBook
from crmsync.canonical.tables import columns, ensure
from crmsync.map_process import SETTING, MapProcess, RawShape, is_arrow, mapped_chunks, portable, setting, worth_it
from crmsync.project import Project
from crmsync.push.outbox import lost_create_claimer
from crmsync.read.columns import NATIVE_TYPES, is_engine_column
from crmsync.read.deletes import deleted_since, missing_ids
from crmsync.read.metadata import fetch_metadata
from crmsync.read.run import dataset_name, read_connection
from crmsync.read.stored_metadata import save_metadata
from crmsync.runs import issues_of, outcome, write_run
from crmsync.store import engine, open_store, register_arrow, relieve, store_exists

COMMIT_RECORDS = 10_000  # records a run's pull or remap applies between two commits (PullSpec.commit_size)
ENTITY_ORDER = ("contact", "deal", "task")  # referenced records first, so most links resolve at once


@dataclass
class PullResult:
    run_id: str
    pipeline: str
    connection: str
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "ok"
    timings: dict[str, float] = field(default_factory=dict)  # seconds: read (and dlt's steps in it), apply
    rounds: int = 0  # dlt runs (load packages) the read took

    def part(self) -> dict[str, Any]:
        """What ``sync.runs.parts`` keeps of a pull."""
        return {"seconds": round(self.seconds, 3), "timings": self.timings, "rounds": self.rounds,
                "entities": self.entities}

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
                "status": self.status, "issues": issues_of(self.entities), **self.part()}


@dataclass
class PullRead:
    """What the read half of a pull brought: raw loads in the store, deletions, feed cursors."""

    read: Any                                   # crmsync.read.run.ReadResult
    entities: list[str]                         # in apply order
    deleted: dict[str, dict[str, dt.datetime | None]]  # remote id → when the CRM deleted it, if it says
    cursors: dict[tuple[str, str], int]
    started: dt.datetime
    read_seconds: float = 0.0                   # the whole read half: dlt, the deletions feed


@dataclass
class PullSpec:
    """Everything about a pull that is not a run's state: the pipeline, its connection and specs."""

    pipeline: str
    connection: str
    crm: str
    connector: dict[str, Any]
    mappings: dict[str, Any]                    # canonical entity → a loaded mapping spec
    canonical: dict[str, dict[str, Any]]
    session: Any
    base_url: str
    store: str
    conflicts: Any = None                       # the pipeline's Conflicts (None: the CRM wins)
    pushes: bool = True                         # the pipeline writes to the CRM (if not, every field is the CRM's)
    match: dict[str, list[str]] | None = None   # the pipeline's ``match:`` block (None: contacts by e-mail)
    deletes: str = "soft"                       # crmsync.canonical.deletes says what each setting does on a pull
    progress: Callable[[str], None] = lambda _: None
    chunk_size: int = CHUNK                     # records applied, and committed, at a time
    # records committed at a time, in whole chunks (None: each chunk). A run's pull and remap commit every
    # COMMIT_RECORDS: a remap of 100k took ~5 % less CPU than committing every chunk, at the same peak RSS.
    commit_size: int | None = None
    on_chunk: Callable[[str], None] | None = None  # called with the entity after each committed chunk


def pull_connection(project: Project, *, entities: list[str], full_refresh: bool = False, **spec: Any) -> PullResult:
    """A pull of one connection; ``spec``: the fields of :class:`PullSpec`."""
    return pull_rounds(project, PullSpec(**spec), entities=entities, full_refresh=full_refresh)


def pull_rounds(project: Project, spec: PullSpec, *, entities: list[str], full_refresh: bool = False,
                ticket: Any = None) -> PullResult:
    """Read and apply in rounds: each round's rows are applied and committed while the next pages
    are fetched (crmsync.read.run), then deletions and the run's record in a last transaction.
    ``ticket``: the run's :class:`crmsync.runs.RunTicket` (its id), if the caller holds one."""
    applier = PullApply(spec, entities, ticket=ticket)
    try:
        pulled = read_phase(project, spec, entities=entities, full_refresh=full_refresh,
                            on_round=lambda _: applier.commit_rows(project), on_start=applier.prefetch)
        with open_store(project.store_path(spec.store)) as con:
            ensure(con, spec.canonical)
            con.execute("BEGIN")
            result = applier.finish(con, pulled)
            con.execute("COMMIT")
    finally:
        applier.close()
    return result


def read_phase(project: Project, spec: PullSpec, *, entities: list[str], full_refresh: bool = False,
               on_round: Callable[[Any], None] | None = None, on_start: Callable[[], Any] | None = None
               ) -> PullRead:
    """Read the CRM into the raw tables (dlt commits them itself) and find what it deleted."""
    started = dt.datetime.now(dt.timezone.utc)
    ordered = ordered_entities(entities)
    spec.progress(f"reading {', '.join(ordered)} from {spec.connection}")
    scanned = _linked_before(project, spec, ordered)
    read = read_connection(project, connection=spec.connection, connector=spec.connector, entities=ordered,
                           session=spec.session, base_url=spec.base_url, store=spec.store,
                           full_refresh=full_refresh, progress=spec.progress, on_round=on_round,
                           on_start=on_start)
    deleted, cursors = _find_deletes(project, spec.store, spec.connection, spec.connector, spec.mappings, ordered,
                                     spec.session, spec.base_url, scanned)
    seconds = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    return PullRead(read, ordered, deleted, cursors, started, seconds)


def ordered_entities(entities: list[str]) -> list[str]:
    return [e for e in ENTITY_ORDER if e in entities] + [e for e in entities if e not in ENTITY_ORDER]


class PullApply:
    """The apply half of one pull: raw rows into canonical as they load (:meth:`rows`, once per read
    round or once at the end), then deletions and the run's record (:meth:`finish`)."""

    def __init__(self, spec: PullSpec, entities: list[str], *, commit_chunks: bool = True, ticket: Any = None,
                 everything: bool = False) -> None:
        """``commit_chunks``: commit after each chunk of records (and begin again), so that DuckDB does
        not hold a whole read's uncommitted rows and index changes in memory (one transaction for a
        million records ran out of the store's memory cap). A run killed midway keeps the chunks it
        committed, with their links' new base hashes and the ids minted for their references;
        ``applied_load`` moves only after the entity's last chunk, so the next run maps the same raw
        rows again, finds the committed ones unchanged and applies the rest. (Records the mapping
        rejected in the killed run stay in ``sync.rejected`` under its run id, and are rejected again.)
        A dry run does not commit chunks: it rolls everything back.

        ``ticket`` (crmsync.runs.RunTicket): the run this pull is, or is the first part of (a sync:
        its row then says ``running`` until the push part ends it).

        ``everything`` (a remap, :mod:`crmsync.remap`): map every raw row again, not only those loaded
        since the last applied load, except the records the CRM deleted (their raw rows stay, and
        applying one would restore it); history names the side ``remap:<connection>``."""
        from crmsync.runs import RunTicket, new_run_id

        self.spec = spec
        self.commit_chunks = commit_chunks
        self.entities = ordered_entities(entities)
        self.started = dt.datetime.now(dt.timezone.utc)
        self.ticket = ticket or RunTicket(new_run_id(self.started), "pull", self.started)
        self.run_id = self.ticket.run_id
        self.counts = {e: EntityCounts() for e in self.entities}
        self.book: LinkBook | None = None
        self.seconds = 0.0
        self.fetched_metadata: dict[str, Any] = {}  # what metadata() asked for so far (sync hands it to the push)
        self.everything = everything
        self.uncommitted = 0  # records applied since the last commit (spec.commit_size)
        self.in_round = False  # applying a read round's rows (commit_rows), on the round's own connection
        self.mapping_process: MapProcess | None = None  # started for the first entity with rows enough

    def rows(self, con: Any) -> None:
        """Map every raw row loaded since its entity's last applied load into canonical, in the caller's
        transaction — not only this run's rows, so a run that died between dlt's commit (which moved
        the cursor) and ours loses nothing."""
        from crmsync.canonical.conflicts import ConflictRules, settle_pending
        from crmsync.mapping import Mapper, build_catalog, catalog_needs

        spec, began = self.spec, time.perf_counter()
        if self.book is None:
            settle_pending(con, spec.canonical)  # choices made since the last run count before new clashes
            self.book = LinkBook.load(con, spec.connection)
        self.book.con = con  # each read round applies on a connection of its own
        dataset = dataset_name(spec.connection)
        for entity in self.entities:
            after = 0 if self.everything else _applied_load(con, spec.connection, entity)
            newest = _newest_load(con, dataset, entity)
            if newest is None or (newest <= after and not self.everything):
                continue
            mapping = spec.mappings[entity]
            needs = catalog_needs(mapping)
            catalog = build_catalog(spec.connector, self.metadata(needs, mapping.source), mapping.source, needs)
            mapper = Mapper(mapping, catalog, self.book, spec.canonical.get(entity))
            key = _record_id(spec.connector["entities"][mapping.source]["list"])
            rules = ConflictRules.of(spec.conflicts, entity,
                                     pushed=[b.name for b in mapper.fields if b.spec.pushes] if spec.pushes else [])

            gone = (spec.connection, entity) if self.everything else None
            columnar = self._columnar(con, dataset, entity, mapper, key, after)
            if columnar is None:
                self._apply_raw(con, dataset, entity, after, mapper, key, rules, gone)
            else:
                self._apply_by_columns(con, columnar, dataset, entity, after, mapper, key, rules, gone)
            con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, 'applied_load', ?)",
                        [spec.connection, entity, newest])
        save_minted(con, self.book)
        self.seconds += time.perf_counter() - began

    def _apply_by_columns(self, con: Any, columnar: Any, dataset: str, entity: str, after: int, mapper: Any, key: str,
                          rules: Any, gone: tuple[str, str] | None) -> None:
        """Records linked before (a row, a base, a pending edit to merge) record by record; then those new to their
        link by set statements (:mod:`crmsync.canonical.apply_columnar`), and what those leave (odd shapes, values
        a record cannot take) record by record, where they are set aside as always."""
        assert self.book is not None
        self._apply_raw(con, dataset, entity, after, mapper, key, rules, gone, linked=True)
        counts = self.counts[entity]
        before = counts.created
        where, params = _loaded_after(after)
        left = apply_unlinked(con, columnar, counts, after_slice=lambda: self._slice_done(con, entity), where=where,
                              params=params)
        self.book.written_elsewhere(entity)
        self.spec.progress(f"{entity}: {counts.created - before} records new to their link mapped and written by set "
                           f"statements, {0 if left is None else left.num_rows} left to the record path")
        if left is not None:
            self._apply_raw(con, dataset, entity, after, mapper, key, rules, gone, only=left)

    def _apply_raw(self, con: Any, dataset: str, entity: str, after: int, mapper: Any, key: str, rules: Any,
                   gone: tuple[str, str] | None, *, linked: bool = False, only: Any = None) -> None:
        """The raw rows of ``entity`` loaded after ``after`` mapped and applied record by record (``linked``: only
        those with a link; ``only``: only the ids of this Arrow table's ``k``)."""
        from crmsync.canonical.identity import matcher

        spec = self.spec
        if linked and not con.execute("SELECT count(*) FROM (SELECT 1 FROM sync.links WHERE connection = ? AND "
                                      "entity = ? LIMIT 1)", [spec.connection, entity]).fetchall()[0][0]:
            return  # nothing linked yet (a first remap): no mapping process to start
        process = self._map_process(con, dataset, entity, after, mapper)
        # pages for a mapping process come as Arrow tables: read and sent in C, made values there
        found = _raw_values(con, dataset, entity, after, key=key, skip_gone=gone, arrow=process is not None,
                            linked=(spec.connection, entity) if linked else None, only=only)
        if found is None:
            return
        shape, pages = found

        def results() -> Iterator[Any]:
            # Mapped a chunk at a time, field by field (Mapper.pull_batch: the same results as record
            # by record); chunks of the apply's size, each mapped while the one before is applied
            # (in a mapping process, crmsync.map_process, when there is a second core for it).
            chunks = _rechunk(pages, spec.chunk_size)
            for mapped in mapped_chunks(chunks, shape, mapper, process, self.entities.index(entity), warn=self._warn):
                yield from mapped

        self.counts[entity].add(apply_pulled(
            con, entity=entity, connection=spec.connection, run_id=self.run_id, schema=spec.canonical[entity],
            book=self.book, results=results(), rules=rules,
            claim=lost_create_claimer(con, spec.connection, entity),
            identify=matcher(con, entity, spec.connection, spec.match),
            after_chunk=(lambda: self._chunk_done(con, entity)) if self.commit_chunks else None,
            chunk_size=spec.chunk_size, side=self._side()))

    def _side(self) -> str:
        return f"{'remap' if self.everything else 'crm'}:{self.spec.connection}"

    def _columnar(self, con: Any, dataset: str, entity: str, mapper: Any, key: str, after: int) -> Any:
        """The set-statement apply of ``entity``'s records new to their link (:mod:`crmsync.canonical.apply_columnar`),
        or None: a DuckDB store, the mapping compiles, and nothing else may claim a new record."""
        choice = columnar_setting()
        if engine(con) != "duckdb" or choice == "off":
            return None
        if choice == "auto":
            where, params = _loaded_after(after)
            if con.execute(f'SELECT count(*) FROM "{dataset}"."{entity}" WHERE {where}', params).fetchall()[0][0] \
                    <= AUTO_ROWS:
                return None
        from crmsync.canonical.apply import unfinished_rejections
        from crmsync.canonical.apply_columnar import ColumnarApply
        from crmsync.canonical.identity import matcher
        from crmsync.canonical.tables import TABLE
        from crmsync.mapping.columnar import NotColumnar, RawTable

        spec = self.spec
        if lost_create_claimer(con, spec.connection, entity) is not None:
            return None  # a new record may be a create of ours whose answer was lost
        if matcher(con, entity, spec.connection, spec.match) is not None and entity in TABLE and con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM canonical.{TABLE[entity]} c WHERE deleted_at IS NULL AND NOT "
                "EXISTS (SELECT 1 FROM sync.links l WHERE l.canonical_id = c.id AND l.connection = ? AND l.entity = ?) "
                "LIMIT 1)", [spec.connection, entity]).fetchall()[0][0]:
            return None  # a new record may be a row another connection brought (the pipeline's match)
        try:
            table = RawTable.read(con, dataset, entity, key)
            return ColumnarApply(mapper, table, entity=entity, connection=spec.connection, run_id=self.run_id,
                                 side=self._side(), cols=columns(spec.canonical[entity]),
                                 forget=unfinished_rejections(con, entity, spec.connection, self.run_id))
        except NotColumnar as exc:
            import logging

            logging.getLogger("crmsync.pull").debug("%s: mapped record by record: %s", entity, exc)
            return None

    def _slice_done(self, con: Any, entity: str) -> None:
        assert self.book is not None
        if self.commit_chunks:
            self.uncommitted = 0
            _commit_chunk(con, self.book, relieving=not self.in_round)
            if self.spec.on_chunk is not None:
                self.spec.on_chunk(entity)

    def _map_process(self, con: Any, dataset: str, entity: str, after: int, mapper: Any) -> MapProcess | None:
        """The run's mapping process, if this entity's rows are mapped there (:mod:`crmsync.map_process`)."""
        choice = setting()
        if choice == "off" or not portable(mapper):
            return None
        if self.mapping_process is None:
            if choice == "auto":
                where = f"WHERE {_LOAD_US} > {int(after)}" if after else ""
                if not worth_it(con.execute(f'SELECT count(*) FROM "{dataset}"."{entity}" {where}').fetchone()[0]):
                    return None
                # the cores this process's other runs (a server's) have not taken; none left: it maps here
                if (claimed := MapProcess.claim()) is None:
                    return None
                self.mapping_process = claimed
            else:
                self.mapping_process = MapProcess()
            count = self.mapping_process.count
            self.spec.progress(f"{entity}: mapping in {count} process{'es' if count > 1 else ''} beside this one "
                               f"({SETTING}=off maps here)")
        return None if self.mapping_process.failed else self.mapping_process

    def _warn(self, message: str) -> None:
        import logging

        logging.getLogger("crmsync.pull").warning(message)  # the project's log
        self.spec.progress(message)  # and the person watching

    def close(self) -> None:
        """End the run's mapping process, if it started one (a later :meth:`rows` would start another)."""
        if self.mapping_process is not None:
            self.mapping_process.close()
            self.mapping_process = None

    def _chunk_done(self, con: Any, entity: str) -> None:
        assert self.book is not None
        self.uncommitted += self.spec.chunk_size
        if self.uncommitted < (self.spec.commit_size or 0):
            return
        self.uncommitted = 0
        # A read round's writes are bounded by the round and checkpointed behind it (crmsync.store.Kept);
        # checkpointing in the middle of one cost a 100k pull's apply up to ~2 s.
        _commit_chunk(con, self.book, relieving=not self.in_round)
        if self.spec.on_chunk is not None:
            self.spec.on_chunk(entity)

    def commit_rows(self, project: Project) -> None:
        """:meth:`rows` in a transaction of its own: what a read round loaded, applied and committed."""
        with open_store(project.store_path(self.spec.store)) as con:
            ensure(con, self.spec.canonical)
            con.execute("BEGIN")
            self.in_round = True
            try:
                self.rows(con)
            finally:
                self.in_round = False
            con.execute("COMMIT")
            self.uncommitted = 0

    def prefetch(self) -> None:
        """The metadata every pulled entity's mapping uses, before the pages stream in."""
        from crmsync.mapping import catalog_needs

        for entity in self.entities:
            mapping = self.spec.mappings[entity]
            self.metadata(catalog_needs(mapping), mapping.source)

    def metadata(self, parts: frozenset[str], entity: str) -> dict[str, Any]:
        """Custom fields, stages, users: only by a run that has rows of ``entity`` to map, only the
        ``parts`` its mapping uses, each call once per run."""
        return fetch_metadata(self.spec.connector, self.spec.session, self.spec.base_url, parts=parts,
                              entities=[entity], into=self.fetched_metadata)

    def finish(self, con: Any, pulled: PullRead) -> PullResult:
        """Apply what is left, then the deletions, the feed cursors and the run's record, in the
        caller's transaction."""
        spec = self.spec
        self.rows(con)
        self.close()  # nothing is mapped after this
        began = time.perf_counter()
        save_metadata(con, spec.connection, spec.connector, self.fetched_metadata)  # what a remap maps with
        result = PullResult(self.run_id, spec.pipeline, spec.connection)
        for entity in self.entities:
            counts = self.counts[entity]
            # After the apply: a record read in this run and deleted since is still deleted at the end.
            counts.deleted = apply_remote_deletes(con, entity=entity, connection=spec.connection, run_id=self.run_id,
                                                  cols=columns(spec.canonical[entity]),
                                                  deleted=pulled.deleted.get(entity, {}), mode=spec.deletes,
                                                  pushed=pushed_fields(spec.mappings[entity]) if spec.pushes else [])
            counts.read = pulled.read.read.get(entity, 0)  # what the CRM sent (apply may also finish older loads)
            result.entities[entity] = counts.as_dict()
            spec.progress(f"{entity}: read {counts.read}, applied {counts.applied}, rejected {counts.rejected}")
        for (entity, kind), value in pulled.cursors.items():
            con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, ?, ?)",
                        [spec.connection, entity, kind, value])
        finished = dt.datetime.now(dt.timezone.utc)
        result.seconds = (finished - pulled.started).total_seconds()
        result.timings = {"read": round(pulled.read_seconds, 3),
                          **{f"read.{k}": v for k, v in pulled.read.timings.items()},
                          "apply": round(self.seconds + time.perf_counter() - began, 3)}
        result.rounds = pulled.read.rounds
        result.status = outcome(result.entities)
        whole = self.ticket.kind == "pull"  # else the first part of a sync: its end writes the outcome
        write_run(con, self.ticket, pipeline=spec.pipeline, connection=spec.connection,
                  status=result.status if whole else "running", entities=result.entities,
                  parts={"pull": result.part()}, finished=whole)
        return result


def _rechunk(pages: Iterator[Any], size: int) -> Iterator[Any]:
    """Pages of any size (lists of rows, or Arrow tables) as chunks of ``size`` (the last one shorter)."""
    held: Any = None
    for page in pages:
        held = page if held is None else _joined(held, page)
        while len(held) >= size:
            yield held[:size]
            held = held[size:]
    if held is not None and len(held):
        yield held


def _joined(held: Any, page: Any) -> Any:
    if not is_arrow(held):
        return held + page
    import pyarrow as pa

    return pa.concat_tables([held, page])  # no copy: the table's columns hold both pages' chunks


def _commit_chunk(con: Any, book: LinkBook, *, relieving: bool = True) -> None:
    save_minted(con, book)  # the rows just written refer to these ids: they must survive together
    con.execute("COMMIT")
    if relieving:
        relieve(con)
    con.execute("BEGIN")


def _linked_before(project: Project, spec: PullSpec, entities: list[str]) -> set[str]:
    """The entities read by listing every id (``deletes: id_scan``) that had linked records before
    this run. Only those can have lost one: a first pull has just read every record there is, and
    listing all their ids again would cost a portal of 100k records 40 more batch requests."""
    scans = [e for e in entities if (spec.connector["entities"][spec.mappings[e].source].get("deletes") or {})
             .get("type") == "id_scan"]
    path = project.store_path(spec.store)
    if not scans or not store_exists(path):
        return set()
    with open_store(path) as con:
        ensure(con, {})
        return {e for e in scans if _live_links(con, e, spec.connection, limit=1)}


def _live_links(con: Any, entity: str, connection: str, limit: int | None = None) -> list[str]:
    """Remote ids of records agreed with the CRM and not known to be deleted there: what a deletion
    check looks for."""
    return [r[0] for r in con.execute(
        "SELECT remote_id FROM sync.links WHERE entity = ? AND connection = ? AND base IS NOT NULL "
        "AND remote_deleted_at IS NULL" + ("" if limit is None else f" LIMIT {int(limit)}"),
        [entity, connection]).fetchall()]


def _find_deletes(project: Project, store: str, connection: str, connector: dict[str, Any], mappings: dict[str, Any],
                  entities: list[str], session: Any, base_url: str, scanned: set[str]
                  ) -> tuple[dict[str, dict[str, dt.datetime | None]], dict[tuple[str, str], int]]:
    """Remote ids deleted in the CRM per entity (with when, if the CRM says), and the new feed cursors
    (applied with the run); an id scan only for the entities in ``scanned`` (:func:`_linked_before`)."""
    known: dict[str, list[str]] = {}
    cursors: dict[tuple[str, str], int] = {}
    path = project.store_path(store)
    if store_exists(path):
        with open_store(path) as con:
            ensure(con, {})
            for entity in entities:
                spec = connector["entities"][mappings[entity].source].get("deletes") or {}
                # the events feed needs only to know there is something to lose; an id scan needs the ids
                if spec.get("type") == "id_scan":
                    known[entity] = _live_links(con, entity, connection) if entity in scanned else []
                else:
                    known[entity] = _live_links(con, entity, connection, limit=1)
                row = con.execute("SELECT value FROM sync.cursors WHERE connection = ? AND entity = ? AND kind = ?",
                                  [connection, entity, "deletes"]).fetchone()
                cursors[(entity, "deletes")] = int(row[0]) if row else 0
    out: dict[str, dict[str, dt.datetime | None]] = {}
    for entity in entities:
        source = mappings[entity].source
        spec = connector["entities"][source].get("deletes")
        if not spec or not known.get(entity):
            continue  # nothing linked yet: nothing can have been deleted from under us
        if spec["type"] in ("events", "tombstones"):
            events, cursors[(entity, "deletes")] = deleted_since(
                spec, connector, session, base_url, cursors.get((entity, "deletes"), 0), entity=source)
            out[entity] = {rid: dt.datetime.fromtimestamp(at, dt.timezone.utc) if at else None
                           for rid, at in events.items()}
        elif spec["type"] == "id_scan":
            out[entity] = dict.fromkeys(missing_ids(connector["entities"][source], connector, session, base_url,
                                                    known[entity], entity=source))
    return out, cursors


def _record_id(listing: dict[str, Any]) -> str:
    return listing.get("record_id_field") or listing.get("id_field") or "id"


def _table_exists(con: Any, dataset: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [dataset, table]).fetchone()[0])


_LOAD_US = "CAST(CAST(_dlt_load_id AS DOUBLE) * 1000000 AS BIGINT)"  # dlt load ids are epoch seconds


def _loaded_after(after: int) -> tuple[str, list[Any]]:
    """SQL (and its parameters) choosing the raw rows loaded after ``after`` (0: every row, as a remap reads)."""
    return (f"{_LOAD_US} > ?", [after]) if after else ("true", [])


def _applied_load(con: Any, connection: str, entity: str) -> int:
    row = con.execute("SELECT value FROM sync.cursors WHERE connection = ? AND entity = ? AND kind = 'applied_load'",
                      [connection, entity]).fetchone()
    return int(row[0]) if row else 0


def _newest_load(con: Any, dataset: str, entity: str) -> int | None:
    """The newest dlt load id in the raw table, in microseconds (``sync.cursors.value`` is an integer)."""
    if not _table_exists(con, dataset, entity):
        return None
    row = con.execute(f'SELECT max({_LOAD_US}) FROM "{dataset}"."{entity}"').fetchone()
    return int(row[0]) if row and row[0] is not None else None


RAW_BATCH = 5000  # raw rows per query
_ONLY = "crmsync_only_ids"  # the ids a read is limited to (_raw_values' ``only``), registered with its cursor


def _raw_rows(con: Any, dataset: str, entity: str, after: int, *, key: str = "id",
              skip_gone: tuple[str, str] | None = None, page_size: int = RAW_BATCH) -> Iterator[dict[str, Any]]:
    """The raw rows loaded after ``after``; ``skip_gone`` (connection, entity): without the records
    whose link says the CRM deleted them.

    Each row is the dict its ``to_json`` text would parse to (every column, NULL as None), built from
    DuckDB's own Python values: only JSON columns are parsed, and DuckDB no longer renders every row as
    text (tests/unit/test_pull_raw_rows.py holds the two equal on every shape a raw table holds)."""
    found = _raw_values(con, dataset, entity, after, key=key, skip_gone=skip_gone, page_size=page_size)
    if found is not None:
        shape, pages = found
        for page in pages:
            yield from shape.records(page)


def _raw_values(con: Any, dataset: str, entity: str, after: int, *, key: str = "id",
                skip_gone: tuple[str, str] | None = None, page_size: int = RAW_BATCH, arrow: bool = False,
                linked: tuple[str, str] | None = None, only: Any = None) -> tuple[RawShape, Iterator[Any]] | None:
    """How the raw rows loaded after ``after`` become records (:class:`crmsync.map_process.RawShape`), and
    their values in pages, as the store hands them over (None: no raw table); ``linked`` (connection, entity):
    only the records with a link; ``only``: only those whose id is in this Arrow table's ``k`` (DuckDB).
    :func:`_raw_rows` makes the
    records here; a mapping process makes them there. ``arrow`` (a DuckDB store): each page an Arrow table
    of the values (DuckDB hands it over, and a mapping process is sent it, without a Python object a
    value), not a list of rows.

    Read in pages of ``page_size`` by the record id (keyset), each page a short query of its
    own: one query left open for a whole remap kept its snapshot while the apply committed chunk
    after chunk, and DuckDB held every row version written since (memory grew with the store)."""
    if not _table_exists(con, dataset, entity):
        return None
    from crmsync.read.storable import variant_columns

    arrow = arrow and engine(con) == "duckdb"  # a Postgres store hands rows over as rows

    typed = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [dataset, entity]).fetchall()
    names = [name for name, _ in typed]
    variants = variant_columns(names)  # values dlt loaded beside a column of another type
    kept = [(name, kind) for name, kind in typed if not is_engine_column(name)]  # dropped by the store, not per row
    shape = RawShape(keys=tuple(name for name, _ in kept),
                     parsed=tuple(name for name, kind in kept if kind not in NATIVE_TYPES),  # come as JSON text
                     variants=tuple(variants), key=key)
    select = ", ".join(f'"{name}"' if kind in NATIVE_TYPES or kind == "JSON" else f'to_json("{name}")'
                       for name, kind in kept)
    column = next((n for n in names if n.lower() == key.lower()), None)
    # every row (a remap): no load id to compute for each row
    where, params = _loaded_after(after)
    if skip_gone is not None and column is not None:
        where += (f' AND CAST("{column}" AS VARCHAR) NOT IN (SELECT remote_id FROM sync.links WHERE connection = ? '
                  "AND entity = ? AND remote_deleted_at IS NOT NULL)")
        params += list(skip_gone)
    if linked is not None and column is not None:
        where += (f' AND CAST("{column}" AS VARCHAR) IN (SELECT remote_id FROM sync.links WHERE connection = ? '
                  "AND entity = ?)")
        params += list(linked)
    if only is not None and column is not None:
        where += f' AND "{column}" IN (SELECT k FROM {_ONLY})'
    if column is None and skip_gone is not None:  # mapping its rows again could restore records the CRM deleted
        from crmsync.errors import UserError

        raise UserError(f"the raw table {dataset}.{entity} has no {key!r} column (the connector's record "
                        "id): its records cannot be told apart, so they are not mapped again")

    def pages() -> Iterator[list[Any]]:
        cursor = con.cursor()  # a cursor of its own: apply runs statements on ``con`` between our pages
        if only is not None:
            register_arrow(cursor, _ONLY, only)
        try:
            if column is None:  # no id column to page by (not a shape crmsync reads): one streamed query
                cursor.execute(f'SELECT {select} FROM "{dataset}"."{entity}" WHERE {where}', params)
                yield from iter(lambda: cursor.fetchmany(2000), [])
            else:
                yield from _keyset_pages(cursor, f'"{dataset}"."{entity}"', select, column, where, params, page_size,
                                         arrow=arrow)
        finally:
            cursor.close()

    return shape, pages()


def _keyset_pages(cursor: Any, table: str, select: str, column: str, where: str, params: list[Any], size: int, *,
                  arrow: bool = False) -> Iterator[Any]:
    """Pages of rows (``select``'s values), in id order, as lists of rows or (``arrow``) Arrow tables. Where
    each page ends is found once, on the id column alone (one sort of the ids: finding each page's last id by
    a query of its own sorted the rest of the table again, a cost that grew with the table for every page),
    then each page's rows are read by their id range. Ids loaded after the bounds were taken fall in the
    last, open-ended page."""
    bounds = [r[0] for r in cursor.execute(
        f'SELECT "{column}" FROM (SELECT "{column}", row_number() OVER (ORDER BY "{column}") AS n FROM {table} '
        f'WHERE {where}) WHERE n % {int(size)} = 0 ORDER BY 1', params).fetchall()]
    last: Any = None
    for bound in [*bounds, None]:
        page_where, page_params = (where, params) if last is None else (f'{where} AND "{column}" > ?', [*params, last])
        if bound is not None:
            page_where, page_params = f'{page_where} AND "{column}" <= ?', [*page_params, bound]
        # ordered by the table's id column (the select list names no alias that could stand for it)
        query = f'SELECT {select} FROM {table} WHERE {page_where} ORDER BY "{column}"'
        page = cursor.sql(query, params=page_params).to_arrow_table() if arrow else \
            cursor.execute(query, page_params).fetchall()
        if len(page):
            yield page
        last = bound


def run_pull(project: Project, pipeline_name: str, *, entities: list[str] | None = None, full_refresh: bool = False,
             progress: Callable[[str], None] = lambda _: None, session: Any = None) -> PullResult:
    """Everything ``crmsync pull PIPELINE`` does: check the specs, open the connection, pull, record the run."""
    from crmsync.connections.binding import ensure_bound
    from crmsync.connections.session import authorized_session
    from crmsync.runs import guarded_run, prepare_run

    run = prepare_run(project, pipeline_name, kind="pull", entities=entities)
    session = session or authorized_session(project, run.pipeline.connection)
    with guarded_run(project, run, "pull") as ticket:
        ensure_bound(session, run.pipeline.crm, run.pipeline.name)  # the right CRM and account, before any write
        return pull_rounds(project, pull_spec(run, session, progress), entities=run.entities,
                           full_refresh=full_refresh, ticket=ticket)


def pull_spec(run: Any, session: Any, progress: Callable[[str], None] = lambda _: None) -> PullSpec:
    """The :class:`PullSpec` of a prepared run (crmsync.runs.prepare_run)."""
    pipe = run.pipeline
    return PullSpec(pipeline=pipe.name, connection=pipe.connection, crm=pipe.crm, connector=run.connector,
                    mappings=run.mappings, canonical=run.canonical, session=session, base_url=session.base_url,
                    store=run.store, conflicts=pipe.conflicts, pushes=pipe.direction != "pull", match=pipe.match,
                    deletes=pipe.deletes, progress=progress, commit_size=COMMIT_RECORDS)
