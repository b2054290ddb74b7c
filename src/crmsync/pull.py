"""``crmsync pull``: read a connection incrementally, map into canonical tables, record the run."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.apply import EntityCounts, LinkBook, apply_pulled, save_minted
from crmsync.canonical.deletes import apply_remote_deletes
from crmsync.canonical.tables import columns, ensure
from crmsync.jsontext import loads
from crmsync.project import Project
from crmsync.push.outbox import lost_create_claimer
from crmsync.read.columns import is_engine_column
from crmsync.read.deletes import deleted_since, missing_ids
from crmsync.read.metadata import fetch_metadata
from crmsync.read.run import read_connection
from crmsync.store import open_store

ENTITY_ORDER = ("contact", "deal", "task")  # referenced records first, so most links resolve at once


@dataclass
class PullResult:
    run_id: str
    pipeline: str
    connection: str
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "ok"
    timings: dict[str, float] = field(default_factory=dict)  # where the seconds went: read (dlt's steps), apply

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
                "status": self.status, "seconds": round(self.seconds, 3), "timings": self.timings,
                "entities": self.entities}


@dataclass
class PullRead:
    """What the read half of a pull brought: raw loads in the store, deletions, feed cursors, metadata."""

    read: Any                                   # crmsync.read.run.ReadResult
    entities: list[str]                         # in apply order
    deleted: dict[str, dict[str, dt.datetime | None]]  # remote id → when the CRM deleted it, if it says
    cursors: dict[tuple[str, str], int]
    pending: bool                               # raw rows wait to be applied
    metadata: dict[str, Any]
    started: dt.datetime
    read_seconds: float = 0.0                   # the whole read half: dlt, the deletions feed, metadata


def pull_connection(project: Project, *, pipeline: str, connection: str, crm: str, connector: dict[str, Any],
                    mappings: dict[str, Any], canonical: dict[str, dict[str, Any]], entities: list[str],
                    session: Any, base_url: str, store: str, full_refresh: bool = False, conflicts: Any = None,
                    pushes: bool = True, match: dict[str, list[str]] | None = None,
                    deletes: str = "soft",
                    progress: Callable[[str], None] = lambda _: None) -> PullResult:
    """``mappings``: canonical entity → a loaded mapping spec (crmsync.mapping.MappingSpec);
    ``conflicts``: the pipeline's :class:`~crmsync.specs.models.Conflicts` (None: the CRM wins);
    ``pushes``: whether the pipeline writes to the CRM (if not, every field is the CRM's);
    ``match``: the pipeline's ``match:`` block (None: contacts by e-mail);
    ``deletes``: the pipeline's setting (crmsync.canonical.deletes says what each does on a pull)."""
    pulled = read_phase(project, connection=connection, connector=connector, mappings=mappings, entities=entities,
                        session=session, base_url=base_url, store=store, full_refresh=full_refresh,
                        progress=progress)
    with open_store(project.store_path(store)) as con:
        ensure(con, canonical)
        con.execute("BEGIN")
        result = apply_phase(con, pulled, pipeline=pipeline, connection=connection, crm=crm, connector=connector,
                             mappings=mappings, canonical=canonical, conflicts=conflicts, pushes=pushes,
                             match=match, deletes=deletes, progress=progress, commit_chunks=True)
        con.execute("COMMIT")
    return result


def read_phase(project: Project, *, connection: str, connector: dict[str, Any], mappings: dict[str, Any],
               entities: list[str], session: Any, base_url: str, store: str, full_refresh: bool = False,
               progress: Callable[[str], None] = lambda _: None) -> PullRead:
    """Read the CRM into the raw tables (dlt commits them itself) and find what it deleted."""
    started = dt.datetime.now(dt.timezone.utc)
    ordered = [e for e in ENTITY_ORDER if e in entities] + [e for e in entities if e not in ENTITY_ORDER]
    progress(f"reading {', '.join(ordered)} from {connection}")
    read = read_connection(project, connection=connection, connector=connector, entities=ordered, session=session,
                           base_url=base_url, store=store, full_refresh=full_refresh, progress=progress)
    deleted, cursors = _find_deletes(project, store, connection, connector, mappings, ordered, session, base_url)
    # Metadata (custom fields, stages, users) is only needed to map rows: a run with nothing new skips it.
    pending = any(read.read.values()) or _has_unapplied(project, store, connection, read.dataset, ordered)
    metadata = fetch_metadata(connector, session, base_url) if pending else {}
    return PullRead(read, ordered, deleted, cursors, pending, metadata, started,
                    (dt.datetime.now(dt.timezone.utc) - started).total_seconds())


def apply_phase(con: Any, pulled: PullRead, *, pipeline: str, connection: str, crm: str, connector: dict[str, Any],
                mappings: dict[str, Any], canonical: dict[str, dict[str, Any]], conflicts: Any = None,
                pushes: bool = True, match: dict[str, list[str]] | None = None,
                deletes: str = "soft",
                progress: Callable[[str], None] = lambda _: None, commit_chunks: bool = False) -> PullResult:
    """Map the raw rows not applied yet into canonical and record the run, inside the caller's transaction.

    ``commit_chunks``: commit after each chunk of records (and begin again), so that DuckDB does not
    hold a whole pull's uncommitted rows and index changes in memory (one transaction for a million
    records ran out of the store's memory cap). A run killed midway keeps the chunks it committed,
    with their links' new base hashes and the ids minted for their references; ``applied_load``
    moves only with the last commit, so the next run maps the same raw rows again, finds the
    committed ones unchanged and applies the rest. (Records the mapping rejected in the killed run
    stay in ``sync.rejected`` under its run id, and are rejected again by the next.)"""
    from crmsync.canonical.conflicts import ConflictRules, settle_pending
    from crmsync.canonical.identity import matcher
    from crmsync.mapping import Mapper, Rejection, build_catalog

    run_id = f"{pulled.started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    result = PullResult(run_id, pipeline, connection)
    read = pulled.read
    applying = time.perf_counter()
    settle_pending(con, canonical)  # choices made since the last run count before new clashes
    book = LinkBook.load(con, connection)
    for entity in pulled.entities:
        spec = mappings[entity]
        # Every raw row loaded after the last load this entity applied — not only this run's — so
        # a run that died between dlt's commit (which moved the cursor) and ours loses nothing.
        after = _applied_load(con, connection, entity)
        newest = _newest_load(con, read.dataset, entity)
        counts = EntityCounts()
        if pulled.pending:
            mapper = Mapper(spec, build_catalog(crm, pulled.metadata, spec.source), book, canonical.get(entity))
            key = _record_id(connector["entities"][spec.source]["list"])
            rules = ConflictRules.of(conflicts, entity,
                                     pushed=[b.name for b in mapper.fields if b.spec.pushes] if pushes else [])

            def results(mapper: Any = mapper, key: str = key, entity: str = entity, after: int = after,
                        ) -> Iterator[Any]:
                for raw in _raw_rows(con, read.dataset, entity, after):
                    remote_id = str(raw.get(key))
                    try:
                        yield remote_id, mapper.pull_result(raw).canonical, None, raw
                    except Rejection as rejection:
                        yield remote_id, None, rejection.as_dict(), raw

            counts = apply_pulled(con, entity=entity, connection=connection, run_id=run_id,
                                  schema=canonical[entity], book=book, results=results(), rules=rules,
                                  claim=lost_create_claimer(con, connection, entity),
                                  identify=matcher(con, entity, connection, match),
                                  after_chunk=(lambda: _commit_chunk(con, book)) if commit_chunks else None)
        # After the apply: a record read in this run and deleted since is still deleted at the end.
        counts.deleted = apply_remote_deletes(con, entity=entity, connection=connection, run_id=run_id,
                                              cols=columns(canonical[entity]), deleted=pulled.deleted.get(entity, {}),
                                              mode=deletes)
        counts.read = read.read.get(entity, 0)  # what the CRM sent this run (apply may also finish older loads)
        if newest is not None:
            con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, 'applied_load', ?)",
                        [connection, entity, newest])
        result.entities[entity] = counts.as_dict()
        progress(f"{entity}: read {counts.read}, applied {counts.applied}, rejected {counts.rejected}")
    save_minted(con, book)
    for (entity, kind), value in pulled.cursors.items():
        con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, ?, ?)", [connection, entity, kind, value])
    finished = dt.datetime.now(dt.timezone.utc)
    result.seconds = (finished - pulled.started).total_seconds()
    result.timings = {"read": round(pulled.read_seconds, 3), **{f"read.{k}": v for k, v in read.timings.items()},
                      "apply": round(time.perf_counter() - applying, 3)}
    con.execute("INSERT INTO sync.runs VALUES (?, ?, ?, 'pull', ?, ?, 'ok', ?, NULL)",
                [run_id, pipeline, connection, pulled.started, finished, json.dumps(result.entities)])
    return result


def _commit_chunk(con: Any, book: LinkBook) -> None:
    save_minted(con, book)  # the rows just written refer to these ids: they must survive together
    con.execute("COMMIT")
    con.execute("BEGIN")


def _find_deletes(project: Project, store: str, connection: str, connector: dict[str, Any], mappings: dict[str, Any],
                  entities: list[str], session: Any, base_url: str
                  ) -> tuple[dict[str, dict[str, dt.datetime | None]], dict[tuple[str, str], int]]:
    """Remote ids deleted in the CRM per entity (with when, if the CRM says), and the new feed cursors
    (applied with the run)."""
    known: dict[str, list[str]] = {}
    cursors: dict[tuple[str, str], int] = {}
    path = project.store_path(store)
    if path.exists():
        with open_store(path) as con:
            ensure(con, {})
            for entity in entities:
                known[entity] = [r[0] for r in con.execute(
                    "SELECT remote_id FROM sync.links WHERE entity = ? AND connection = ? AND base IS NOT NULL "
                    "AND remote_deleted_at IS NULL",
                    [entity, connection]).fetchall()]
                row = con.execute("SELECT value FROM sync.cursors WHERE connection = ? AND entity = ? AND kind = ?",
                                  [connection, entity, "deletes"]).fetchone()
                cursors[(entity, "deletes")] = int(row[0]) if row else 0
    out: dict[str, dict[str, dt.datetime | None]] = {}
    for entity in entities:
        source = mappings[entity].source
        spec = connector["entities"][source].get("deletes")
        if not spec or not known.get(entity):
            continue  # nothing linked yet: nothing can have been deleted from under us
        if spec["type"] == "events":
            events, cursors[(entity, "deletes")] = deleted_since(
                spec, connector["paginator"], session, base_url, cursors.get((entity, "deletes"), 0))
            out[entity] = {rid: dt.datetime.fromtimestamp(at, dt.timezone.utc) if at else None
                           for rid, at in events.items()}
        elif spec["type"] == "id_scan":
            out[entity] = dict.fromkeys(missing_ids(connector["entities"][source]["list"], connector["paginator"],
                                                    session, base_url, known[entity]))
    return out, cursors


def _record_id(listing: dict[str, Any]) -> str:
    return listing.get("record_id_field") or listing.get("id_field") or "id"


def _has_unapplied(project: Project, store: str, connection: str, dataset: str, entities: list[str]) -> bool:
    path = project.store_path(store)
    if not path.exists():
        return False
    with open_store(path) as con:
        ensure(con, {})
        for entity in entities:
            newest = _newest_load(con, dataset, entity)
            if newest is not None and newest > _applied_load(con, connection, entity):
                return True
    return False


def _table_exists(con: Any, dataset: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                            [dataset, table]).fetchone()[0])


_LOAD_US = "CAST(CAST(_dlt_load_id AS DOUBLE) * 1000000 AS BIGINT)"  # dlt load ids are epoch seconds


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


def _raw_rows(con: Any, dataset: str, entity: str, after: int) -> Iterator[dict[str, Any]]:
    if not _table_exists(con, dataset, entity):
        return
    # A cursor of its own: apply runs statements on ``con`` between our batches, and a result read
    # from ``con`` itself would be replaced by theirs after the first 2,000 rows.
    cursor = con.cursor()
    try:
        cursor.execute(f'SELECT to_json(t) FROM "{dataset}"."{entity}" t WHERE {_LOAD_US} > ?', [after])
        while True:
            batch = cursor.fetchmany(2000)
            if not batch:
                return
            for (text,) in batch:
                row = loads(text)
                yield {k: v for k, v in row.items() if not is_engine_column(k)}
    finally:
        cursor.close()


def run_pull(project: Project, pipeline_name: str, *, entities: list[str] | None = None, full_refresh: bool = False,
             progress: Callable[[str], None] = lambda _: None, session: Any = None) -> PullResult:
    """Everything ``crmsync pull PIPELINE`` does: check the specs, open the connection, pull, record the run."""
    from crmsync.connections.session import authorized_session
    from crmsync.runs import guarded_run, prepare_run

    run = prepare_run(project, pipeline_name, kind="pull", entities=entities)
    session = session or authorized_session(project, run.pipeline.connection)
    with guarded_run(project, run, "pull"):
        return pull_connection(project, pipeline=run.pipeline.name, connection=run.pipeline.connection,
                               crm=run.pipeline.crm, connector=run.connector, mappings=run.mappings,
                               canonical=run.canonical, entities=run.entities, session=session,
                               base_url=session.base_url, store=run.store, full_refresh=full_refresh,
                               conflicts=run.pipeline.conflicts, pushes=run.pipeline.direction != "pull",
                               match=run.pipeline.match, deletes=run.pipeline.deletes,
                               progress=progress)
