"""Write-back: canonical changes → outbox → the CRM's bulk write calls → links and history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmsync.project import Project

from .run import PushResult, push_connection

__all__ = ["PushResult", "push_connection", "run_push"]


def run_push(project: Project, pipeline_name: str, *, entities: list[str] | None = None, dry_run: bool = False,
             progress: Callable[[str], None] = lambda _: None, session: Any = None) -> PushResult:
    """Everything ``crmsync push PIPELINE`` does: check the specs, open the connection, push, record the run."""
    from crmsync.connections.binding import ensure_bound
    from crmsync.connections.session import authorized_session
    from crmsync.dry_copy import cannot_write, quiet_session, shadow_project
    from crmsync.runs import guarded_run, prepare_run

    run = prepare_run(project, pipeline_name, kind="push", entities=entities)
    session = session or authorized_session(project, run.pipeline.connection)
    if dry_run and not Path(run.store).is_absolute() and cannot_write(project.store_path(run.store)):
        quiet_session(session)
        with shadow_project(project, run.store) as shadow:  # crmsync.dry_copy says why
            return run_push(shadow, pipeline_name, entities=entities, dry_run=True, progress=progress,
                            session=session)
    session.records_can_fail = True  # a refused record is set aside, not the end of the run
    with guarded_run(project, run, "push", record=not dry_run) as ticket:
        ensure_bound(session, run.pipeline.crm, run.pipeline.name)  # the right CRM and account, before any write
        return push_connection(project, pipeline=run.pipeline.name, connection=run.pipeline.connection,
                               crm=run.pipeline.crm, connector=run.connector, mappings=run.mappings,
                               canonical=run.canonical, entities=run.entities, session=session,
                               base_url=session.base_url, store=run.store, write_mode=run.pipeline.write_mode,
                               dry_run=dry_run, deletes=run.pipeline.deletes, progress=progress,
                               ticket=ticket)
