"""``crmsync status``: per pipeline and entity — last run, cursor, rows, set-aside records, errors."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from crmsync.canonical.tables import TABLE
from crmsync.project import Project
from crmsync.read.held_state import held_resources
from crmsync.store import open_store


@dataclass
class EntityStatus:
    entity: str
    rows: int = 0
    deleted: int = 0
    set_aside: int = 0          # rejected in the last run that read this entity
    cursor: Any = None          # where the next incremental read starts (the CRM's own value)
    last_counts: dict[str, int] = field(default_factory=dict)


@dataclass
class PipelineStatus:
    pipeline: str
    connection: str
    last_run: dict[str, Any] | None = None
    entities: list[EntityStatus] = field(default_factory=list)


@dataclass
class StatusResult:
    pipelines: list[PipelineStatus]

    def as_dict(self) -> dict[str, Any]:
        return {"pipelines": [asdict(p) for p in self.pipelines]}


def pipeline_status(project: Project, *, pipeline: str, connection: str, entities: list[str], store: str,
                    source_name: str) -> PipelineStatus:
    out = PipelineStatus(pipeline, connection)
    cursors = _cursors(project, connection, source_name)
    path = project.store_path(store)
    if not path.exists():
        out.entities = [EntityStatus(e) for e in entities]
        return out
    with open_store(path, read_only=True) as con:
        has_runs = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sync' "
                               "AND table_name = 'runs'").fetchone()[0]
        last = con.execute("SELECT run_id, kind, status, started_at, finished_at, counts, error FROM sync.runs "
                           "WHERE pipeline = ? ORDER BY started_at DESC LIMIT 1", [pipeline]).fetchone() \
            if has_runs else None
        counts = json.loads(last[5]) if last and last[5] else {}
        if last:
            out.last_run = {"run_id": last[0], "kind": last[1], "status": last[2],
                            "started_at": last[3].isoformat() if last[3] else None,
                            "finished_at": last[4].isoformat() if last[4] else None, "error": last[6]}
        for entity in entities:
            status = EntityStatus(entity, cursor=cursors.get(entity), last_counts=counts.get(entity, {}))
            if has_runs and entity in TABLE:
                rows, deleted = con.execute(
                    f"SELECT count(*), count(c.deleted_at) FROM canonical.{TABLE[entity]} c JOIN sync.links l "
                    "ON l.canonical_id = c.id WHERE l.entity = ? AND l.connection = ?", [entity, connection]).fetchone()
                status.rows, status.deleted = int(rows), int(deleted)
                status.set_aside = int(counts.get(entity, {}).get("rejected", 0))
            out.entities.append(status)
    return out


def _cursors(project: Project, connection: str, source_name: str) -> dict[str, Any]:
    """The incremental cursors from dlt's local state (dlt restores it from the store on a new machine)."""
    out = {}
    for entity, body in held_resources(project.dlt_dir, connection, source_name).items():
        for value in (body.get("incremental") or {}).values():
            out[entity] = value.get("last_value")
    return out
