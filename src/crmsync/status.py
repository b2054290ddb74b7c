"""``crmsync status``: per pipeline — the last run of each kind with its real outcome, what still needs a
person (records set aside or refused, fields held in manual conflicts, writes not yet sent), and per
entity rows, cursors (as timestamps) and the same open counts; the next scheduled run.

The store is opened read-only: status never waits for, or blocks, a run longer than DuckDB's file lock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

from crmsync.canonical.tables import TABLE
from crmsync.project import Project
from crmsync.read.held_state import held_resources
from crmsync.store import open_store, store_exists

OPEN = ("set_aside", "refused", "held", "outbox_pending")


@dataclass
class EntityStatus:
    entity: str
    rows: int = 0
    deleted: int = 0
    set_aside: int = 0          # records the mapping refused and no later change settled (pull or push)
    refused: int = 0            # records the CRM refused on a write, not written since
    held: int = 0               # fields waiting in manual conflicts (crmsync conflicts list)
    outbox_pending: int = 0     # writes queued or in flight (sync.outbox pending/sending/failed)
    cursor: Any = None          # where the next incremental read starts, as a timestamp
    cursor_raw: Any = None      # the same in the CRM's own form (epoch seconds, an ISO string)


@dataclass
class PipelineStatus:
    pipeline: str
    connection: str
    crm: str = ""
    direction: str = "both"
    schedule: str | None = None
    timezone: str | None = None
    next_run_at: dt.datetime | None = None
    last_run: dict[str, Any] | None = None        # the newest run of any kind
    last_runs: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # pull / push / sync
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OPEN, 0))
    entities: list[EntityStatus] = field(default_factory=list)


@dataclass
class StatusResult:
    pipelines: list[PipelineStatus]

    def as_dict(self) -> dict[str, Any]:
        return {"pipelines": [asdict(p) for p in self.pipelines]}


def project_status(project: Project, pipeline: str | None = None) -> StatusResult:
    """``crmsync status [PIPELINE]``."""
    from crmsync.run_history import pick_pipelines, store_of
    from crmsync.specs.project_specs import load_specs

    specs = load_specs(project)
    return StatusResult([
        pipeline_status(project, pipeline=p.name, connection=p.connection, entities=list(p.entities),
                        store=store_of(p), source_name=p.crm, schedule=p.schedule, direction=p.direction,
                        timezone=getattr(p, "timezone", None))
        for p in pick_pipelines(specs, pipeline)])


def pipeline_status(project: Project, *, pipeline: str, connection: str, entities: list[str], store: str,
                    source_name: str, schedule: str | None = None, direction: str = "both",
                    timezone: str | None = None) -> PipelineStatus:
    from crmsync.locks import store_dsn
    from crmsync.run_history import held_connections, run_rows
    from crmsync.schedule import next_run

    now = dt.datetime.now(dt.timezone.utc)
    out = PipelineStatus(pipeline, connection, source_name, direction, schedule, timezone,
                         next_run({"schedule": schedule, "timezone": timezone}, now))
    out.last_runs = {"pull": None, "push": None, "sync": None}
    cursors = _cursors(project, connection, source_name)
    path = project.store_path(store)
    if not store_exists(path):
        out.entities = [EntityStatus(e, **_cursor(cursors.get(e))) for e in entities]
        return out
    with open_store(path, read_only=True) as con:
        held = held_connections(project, {connection}, store_dsn(project, store))
        latest = run_rows(con, pipeline=pipeline, latest_per_kind=True, held=held)
        for run in latest:
            out.last_runs[run["kind"]] = run
        out.last_run = latest[0] if latest else None
        tables = _tables(con)
        open_counts = _open_counts(con, connection, tables)
        for entity in entities:
            status = EntityStatus(entity, **_cursor(cursors.get(entity)), **open_counts.get(entity, {}))
            if "links" in tables and entity in TABLE and TABLE[entity] in tables:
                rows, deleted = con.execute(
                    f"SELECT count(*), count(c.deleted_at) FROM canonical.{TABLE[entity]} c JOIN sync.links l "
                    "ON l.canonical_id = c.id WHERE l.entity = ? AND l.connection = ?", [entity, connection]).fetchone()
                status.rows, status.deleted = int(rows), int(deleted)
            out.entities.append(status)
    out.totals = {k: sum(getattr(e, k) for e in out.entities) for k in OPEN}
    return out


def _tables(con: Any) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                      "WHERE table_schema IN ('sync', 'canonical')").fetchall()}


def _open_counts(con: Any, connection: str, tables: set[str]) -> dict[str, dict[str, int]]:
    """What still waits for a person, per entity — over every run, not only the last one."""
    out: dict[str, dict[str, int]] = {}

    def put(entity: str, key: str, n: int) -> None:
        out.setdefault(entity, {})[key] = int(n)

    if {"rejected", "links", "changes"} <= tables:
        # A rejection is open until a later change of the same record is applied (pull: the CRM sent a
        # record that maps; push: the value went out): sync.rejected keeps the history, this the present.
        for entity, set_aside, refused in con.execute("""
            WITH r AS (
                -- refused by the CRM: marked so; rows written before the mark are those naming no field
                SELECT r.entity, r.direction = 'push' AND (coalesce(r.raw ->> 'refused_by', '') = 'crm'
                                                           OR coalesce(r.field, '') = '') AS refused,
                       coalesce(CASE WHEN r.direction = 'push' THEN r.raw ->> 'canonical_id' END, l.canonical_id)
                           AS cid,
                       CASE WHEN r.direction = 'push' THEN r.raw ->> 'canonical_id' ELSE r.remote_id END AS rec,
                       max(r.rejected_at) AS at
                FROM sync.rejected r
                LEFT JOIN sync.links l ON r.direction = 'pull' AND l.entity = r.entity
                     AND l.connection = r.connection AND l.remote_id = r.remote_id
                WHERE r.connection = ?
                GROUP BY ALL)
            SELECT entity, count(DISTINCT rec) FILTER (WHERE NOT refused), count(DISTINCT rec) FILTER (WHERE refused)
            FROM r
            WHERE cid IS NULL OR NOT EXISTS (SELECT 1 FROM sync.changes c WHERE c.canonical_id = r.cid
                                             AND c.changed_at > r.at)
            GROUP BY entity""", [connection]).fetchall():
            put(entity, "set_aside", set_aside)
            put(entity, "refused", refused)
    if "conflicts" in tables:
        for entity, n in con.execute("SELECT entity, count(*) FROM sync.conflicts WHERE connection = ? "
                                     "AND status = 'pending' GROUP BY entity", [connection]).fetchall():
            put(entity, "held", n)
    if "outbox" in tables:
        for entity, n in con.execute("SELECT entity, count(*) FROM sync.outbox WHERE connection = ? "
                                     "AND status IN ('pending', 'sending', 'failed') GROUP BY entity",
                                     [connection]).fetchall():
            put(entity, "outbox_pending", n)
    return out


def _cursor(value: Any) -> dict[str, Any]:
    return {"cursor": cursor_time(value), "cursor_raw": value}


def cursor_time(value: Any) -> dt.datetime | None:
    """A CRM's cursor (AmoCRM: epoch seconds; Bitrix24: an ISO date with offset) as a UTC timestamp."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _cursors(project: Project, connection: str, source_name: str) -> dict[str, Any]:
    """The incremental cursors from dlt's local state (dlt restores it from the store on a new machine)."""
    out = {}
    for entity, body in held_resources(project.dlt_dir, connection, source_name).items():
        for value in (body.get("incremental") or {}).values():
            out[entity] = value.get("last_value")
    return out
