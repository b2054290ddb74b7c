"""``crmsync remap``: map the raw records already in the store again, with the current mappings.

The data team's loop when a mapping changes: no CRM call (a full re-read at the CRM's rate limit takes
~10 minutes per million records at 250 a page, 7 pages a second). The raw rows (``raw_<connection>.*``)
go through the same apply as a pull (:class:`crmsync.pull.PullApply`): a record whose new canonical
values equal its base is unchanged; a value the new mapping changes is merged three-way against the
base, so local (SQL) edits survive, lands in ``sync.changes`` (side ``remap:<connection>``), and becomes
the new base — the CRM holds the same raw record, so nothing is pushed because of it. A value the new
mapping cannot take is set aside in ``sync.rejected``. The catalog (custom fields, stages) is the
metadata the last pull stored (:mod:`crmsync.read.stored_metadata`). Records the CRM deleted are left
alone. One ``sync.runs`` row of kind ``remap``; chunks commit as a pull's do, so memory stays bounded by
the chunk and a remap killed midway is finished by the next one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmsync.project import Project

REMAP_WAL = "256MB"  # DuckDB's checkpoint_threshold during a remap: its WAL (what a crash replays) stays below this


@dataclass
class RemapResult:
    run_id: str
    pipeline: str
    connection: str
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    status: str = "ok"

    def as_dict(self) -> dict[str, Any]:
        from crmsync.runs import issues_of

        return {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
                "status": self.status, "issues": issues_of(self.entities), "seconds": round(self.seconds, 3),
                "entities": self.entities}


def run_remap(project: Project, pipeline_name: str, *, entities: list[str] | None = None,
              progress: Callable[[str], None] = lambda _: None) -> RemapResult:
    """Everything ``crmsync remap PIPELINE`` does: check the specs, hold the connection's run lock,
    map the stored raw records again, record the run."""
    from crmsync.runs import guarded_run, prepare_run

    run = prepare_run(project, pipeline_name, kind="remap", entities=entities)
    with guarded_run(project, run, "remap") as ticket:
        return remap_store(project, run, ticket, progress)


def remap_store(project: Project, run: Any, ticket: Any, progress: Callable[[str], None]) -> RemapResult:
    from crmsync.canonical.tables import ensure
    from crmsync.pull import COMMIT_RECORDS, PullApply, PullSpec
    from crmsync.read.stored_metadata import OfflineSession, stored_metadata
    from crmsync.runs import outcome, write_run
    from crmsync.store import checkpoint_every, open_store, store_exists

    pipe = run.pipeline
    path = project.store_path(run.store)
    if not store_exists(path):
        from crmsync.errors import UserError

        raise UserError(f"nothing to remap: the store {path} does not exist yet; run `crmsync pull {pipe.name}` "
                        "first (remap maps the raw records pulls stored)")
    spec = PullSpec(pipeline=pipe.name, connection=pipe.connection, crm=pipe.crm, connector=run.connector,
                    mappings=run.mappings, canonical=run.canonical, session=OfflineSession(pipe.name, pipe.connection),
                    base_url="", store=run.store, conflicts=pipe.conflicts, pushes=pipe.direction != "pull",
                    match=pipe.match, deletes=pipe.deletes, progress=progress, commit_size=COMMIT_RECORDS)
    applier = PullApply(spec, run.entities, ticket=ticket, everything=True)
    result = RemapResult(ticket.run_id, pipe.name, pipe.connection)
    with contextlib.closing(applier), open_store(path) as con:
        checkpoint_every(con, REMAP_WAL)
        ensure(con, run.canonical)
        applier.fetched_metadata = stored_metadata(con, pipe.connection)
        progress(f"mapping the stored raw records of {', '.join(applier.entities)} again ({pipe.connection})")
        con.execute("BEGIN")
        applier.rows(con)
        for entity in applier.entities:
            counts = applier.counts[entity]
            result.entities[entity] = counts.as_dict()
            progress(f"{entity}: remapped {counts.read}, applied {counts.applied}, rejected {counts.rejected}")
        result.seconds = (dt.datetime.now(dt.timezone.utc) - ticket.started).total_seconds()
        result.status = outcome(result.entities)
        write_run(con, ticket, pipeline=pipe.name, connection=pipe.connection, status=result.status,
                  entities=result.entities, parts={"remap": {"seconds": round(result.seconds, 3),
                                                             "apply": round(applier.seconds, 3)}})
        con.execute("COMMIT")
    return result
