"""``crmsync sync PIPELINE``: pull, then push, as one run under the connection's lock.

The pull applies what changed in the CRM (three-way merge, conflict policies) and commits; the push
then writes what changed locally. With ``dry_run`` the CRM is still read (the raw tables are a
cache), but the pull is applied and the push planned inside one transaction that is rolled back:
the plan printed is exactly what a real sync would send, and nothing local or remote changes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmsync.project import Project

PUSH_COUNTS = ("created", "updated", "deleted")


@dataclass
class SyncResult:
    run_id: str
    pipeline: str
    connection: str
    dry_run: bool = False
    pull: Any = None   # crmsync.pull.PullResult, or None when the pipeline is push-only
    push: Any = None   # crmsync.push.PushResult, or None when the pipeline is pull-only
    seconds: float = 0.0
    rate_limit_wait: float = 0.0  # seconds the run's requests waited to stay under the CRM's rate limit

    @property
    def entities(self) -> dict[str, dict[str, int]]:
        """Per entity: what was sent to the CRM (``created``, ``updated``, ``deleted``), the clashes
        found (``conflicts``), fields still waiting for a person (``held``), records set aside
        (``rejected``), canonical rows the pull changed (``applied``) and new records recognised as
        rows another CRM brought (``matched``)."""
        names = list((self.pull.entities if self.pull else {}) | (self.push.entities if self.push else {}))
        out = {}
        for entity in names:
            pulled = (self.pull.entities if self.pull else {}).get(entity, {})
            pushed = (self.push.entities if self.push else {}).get(entity, {})
            out[entity] = {**{k: pushed.get(k, 0) for k in PUSH_COUNTS}, "conflicts": pulled.get("conflicts", 0),
                           "held": pushed.get("held", 0),
                           "rejected": pulled.get("rejected", 0) + pushed.get("rejected", 0),
                           "applied": pulled.get("applied", 0), "matched": pulled.get("matched", 0)}
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
                "dry_run": self.dry_run, "status": "ok", "seconds": round(self.seconds, 3),
                "rate_limit_wait": round(self.rate_limit_wait, 3),
                "entities": self.entities, "pull": self.pull.as_dict() if self.pull else None,
                "push": self.push.as_dict() if self.push else None}


def run_sync(project: Project, pipeline_name: str, *, entities: list[str] | None = None, full_refresh: bool = False,
             dry_run: bool = False, progress: Callable[[str], None] = lambda _: None, session: Any = None
             ) -> SyncResult:
    """Everything ``crmsync sync PIPELINE`` does; a failed run is recorded in ``sync.runs``."""
    from crmsync.canonical.tables import ensure
    from crmsync.connections.binding import ensure_bound
    from crmsync.connections.session import authorized_session
    from crmsync.pull import PullApply, pull_spec, read_phase
    from crmsync.push import push_connection
    from crmsync.runs import guarded_run, prepare_run
    from crmsync.store import open_store

    run = prepare_run(project, pipeline_name, kind="sync", entities=entities)
    pipe = run.pipeline
    session = session or authorized_session(project, pipe.connection)
    started = dt.datetime.now(dt.timezone.utc)
    result = SyncResult(f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}", pipe.name, pipe.connection, dry_run)
    spec = dict(connection=pipe.connection, connector=run.connector, mappings=run.mappings, progress=progress)
    crm = dict(session=session, base_url=session.base_url)
    pulling = pull_spec(run, session, progress)
    applier = PullApply(pulling, run.entities, commit_chunks=not dry_run)  # a dry run rolls it all back

    with guarded_run(project, run, "sync", record=not dry_run):
        ensure_bound(session, pipe.crm, pipe.name)  # the right CRM and account, before anything is written
        pulled = None
        if pipe.direction != "push":
            pulled = read_phase(project, pulling, entities=run.entities, full_refresh=full_refresh,
                                # a real sync applies each read round as it loads; a dry run all at the end
                                on_round=None if dry_run else lambda _: applier.commit_rows(project),
                                on_start=applier.prefetch)
        with open_store(project.store_path(run.store)) as con:
            ensure(con, run.canonical)
            con.execute("BEGIN")
            if pulled is not None:
                result.pull = applier.finish(con, pulled)
            if not dry_run:
                con.execute("COMMIT")
            if pipe.direction != "pull":
                session.records_can_fail = True  # from here on a refused record is set aside
                result.push = push_connection(project, pipeline=pipe.name, crm=pipe.crm, canonical=run.canonical,
                                              entities=run.entities, store=run.store, write_mode=pipe.write_mode,
                                              dry_run=dry_run, con=con, deletes=pipe.deletes,
                                              metadata=applier.fetched_metadata, **spec, **crm)
            if dry_run:
                con.execute("ROLLBACK")
    result.seconds = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    result.rate_limit_wait = float(getattr(getattr(session, "pacer", None), "waited", 0.0) or 0.0)
    return result
