"""Write-back: canonical changes → outbox → the CRM's bulk write calls → links and history."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

from crmsync.project import Project

from .run import PushResult, push_connection

__all__ = ["PushResult", "push_connection", "run_push"]


def run_push(project: Project, pipeline_name: str, *, entities: list[str] | None = None, dry_run: bool = False,
             progress: Callable[[str], None] = lambda _: None, session: Any = None) -> PushResult:
    """Everything ``crmsync push PIPELINE`` does: check the specs, open the connection, push, record the run."""
    from crmsync.connections.session import authorized_session
    from crmsync.errors import UserError
    from crmsync.mapping import load_canonical, parse_mapping
    from crmsync.specs.problems import did_you_mean
    from crmsync.specs.project_specs import load_specs
    from crmsync.specs.yamlload import load_yaml

    specs = load_specs(project)
    if not specs.ok:
        shown = "\n  ".join(str(p) for p in specs.problems[:10])
        raise UserError(f"the project has {len(specs.problems)} spec problem(s); fix them first "
                        f"(crmsync validate lists them all):\n  {shown}")
    pipeline = specs.pipelines.get(pipeline_name)
    if pipeline is None:
        raise UserError(f"no pipeline {pipeline_name!r}{did_you_mean(pipeline_name, specs.pipelines)}; "
                        f"known: {', '.join(sorted(specs.pipelines)) or 'none (add pipelines/<name>.yaml)'}")
    if pipeline.direction == "pull":
        raise UserError(f"pipeline {pipeline_name} is pull-only (direction: pull); it does not push")
    chosen = list(pipeline.entities)
    if entities:
        unknown = [e for e in entities if e not in chosen]
        if unknown:
            raise UserError(f"pipeline {pipeline_name} does not sync {unknown[0]!r}; its entities: {', '.join(chosen)}")
        chosen = [e for e in chosen if e in entities]
    connector = load_yaml(project.connectors_dir / f"{pipeline.crm}.yaml")
    mappings = {e: parse_mapping(specs.mappings[(pipeline.crm, e)], f"mappings/{pipeline.crm}/{e}.yaml")
                for e in chosen}
    session = session or authorized_session(project, pipeline.connection)
    session.records_can_fail = True  # a refused record is set aside, not the end of the run
    store = pipeline.staging.options.get("path", "crmsync.duckdb") if pipeline.staging else "crmsync.duckdb"
    started = dt.datetime.now(dt.timezone.utc)
    try:
        return push_connection(project, pipeline=pipeline.name, connection=pipeline.connection, crm=pipeline.crm,
                               connector=connector, mappings=mappings, canonical=load_canonical(project.root),
                               entities=chosen, session=session, base_url=session.base_url, store=store,
                               write_mode=pipeline.write_mode, dry_run=dry_run, progress=progress)
    except Exception as exc:
        if not dry_run:
            _record_failure(project, store, pipeline.name, pipeline.connection, started, exc)
        raise


def _record_failure(project: Project, store: str, pipeline: str, connection: str, started: dt.datetime,
                    exc: Exception) -> None:
    from crmsync.canonical.tables import ensure
    from crmsync.secrets.masking import mask
    from crmsync.store import open_store

    run_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    try:
        with open_store(project.store_path(store)) as con:
            ensure(con, {})
            con.execute("INSERT INTO sync.runs VALUES (?, ?, ?, 'push', ?, now(), 'failed', NULL, ?)",
                        [run_id, pipeline, connection, started, mask(f"{type(exc).__name__}: {exc}")[:2000]])
    except Exception:  # recording must never hide the original failure
        pass
