"""``crmsync sync PIPELINE``: pull, then push, as one run under the connection's lock.

The pull applies what changed in the CRM (three-way merge, conflict policies) and commits; the push
then writes what changed locally. With ``dry_run`` the CRM is still read (the raw tables are a
cache), but the pull is applied and the push planned inside one transaction that is rolled back:
the plan printed is exactly what a real sync would send, and nothing local or remote changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync.dry_copy import cannot_write, quiet_session, shadow_project
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
    crm_answer_wait: float = 0.0  # seconds the run waited for the CRM's answers (its own time)

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

    @property
    def status(self) -> str:
        from crmsync.runs import outcome

        return outcome(self.entities)

    def parts(self) -> dict[str, Any]:
        return {"pull": self.pull.part() if self.pull else None, "push": self.push.part() if self.push else None}

    def as_dict(self) -> dict[str, Any]:
        from crmsync.runs import issues_of

        out = {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
               "dry_run": self.dry_run, "status": self.status, "issues": issues_of(self.entities),
               "seconds": round(self.seconds, 3), "rate_limit_wait": round(self.rate_limit_wait, 3),
               "crm_answer_wait": round(self.crm_answer_wait, 3),
               "entities": self.entities, **self.parts()}
        if self.dry_run and self.push is not None:
            out["plan"] = self.push.plan
        return out


def run_sync(project: Project, pipeline_name: str, *, entities: list[str] | None = None, full_refresh: bool = False,
             dry_run: bool = False, progress: Callable[[str], None] = lambda _: None, session: Any = None
             ) -> SyncResult:
    """Everything ``crmsync sync PIPELINE`` does, recorded as one run in ``sync.runs`` (its pull and push
    parts under one id: the pull part is committed with the pull's changes, the end says how it went)."""
    from crmsync.canonical.tables import ensure
    from crmsync.connections.binding import ensure_bound
    from crmsync.connections.session import authorized_session
    from crmsync.pull import PullApply, pull_spec, read_phase
    from crmsync.push import push_connection
    from crmsync.push.quiet import Quiet
    from crmsync.runs import guarded_run, prepare_run, write_run
    from crmsync.store import hold, open_store

    run = prepare_run(project, pipeline_name, kind="sync", entities=entities)
    pipe = run.pipeline
    session = session or authorized_session(project, pipe.connection)
    if dry_run and not Path(run.store).is_absolute() and cannot_write(project.store_path(run.store)):
        quiet_session(session)
        with shadow_project(project, run.store) as shadow:
            return run_sync(shadow, pipeline_name, entities=entities, full_refresh=full_refresh, dry_run=True,
                            progress=progress, session=session)
    spec = dict(connection=pipe.connection, connector=run.connector, mappings=run.mappings, progress=progress)
    crm = dict(session=session, base_url=session.base_url)
    pulling = pull_spec(run, session, progress)

    path = project.store_path(run.store)
    with guarded_run(project, run, "sync", record=not dry_run) as ticket, contextlib.ExitStack() as stack:
        # One connection for the whole run, unless dlt has to load (it opens the store its own way):
        # nobody else writes between our steps, so a run may end by sealing the store (crmsync.push.quiet)
        held = stack.enter_context(hold(path)) if not dry_run and path.exists() else None
        quiet = Quiet.begin(project.state_dir, path) if held is not None else None
        ensure_bound(session, pipe.crm, pipe.name)  # the right CRM and account, before anything is written
        started = ticket.started
        result = SyncResult(ticket.run_id, pipe.name, pipe.connection, dry_run)
        # a dry run rolls it all back
        applier = PullApply(pulling, run.entities, commit_chunks=not dry_run, ticket=ticket)
        stack.callback(applier.close)  # its mapping process, should the run stop before finish ends it

        def reading() -> None:  # there is something to read: dlt is about to open the store
            if held is not None:
                held.release()
            applier.prefetch()

        pulled = None
        if pipe.direction != "push":
            pulled = read_phase(project, pulling, entities=run.entities, full_refresh=full_refresh,
                                # a real sync applies each read round as it loads; a dry run all at the end
                                on_round=None if dry_run else lambda _: applier.commit_rows(project),
                                on_start=reading)
        # dlt done: the rest of the run holds the store again. Its plans then compare by buckets (others
        # may have written meanwhile), but if they find nothing the run can still seal what it saw.
        final = held if held is None or held.whole else stack.enter_context(hold(path))
        with open_store(path) as con:
            ensure(con, run.canonical)
            con.execute("BEGIN")
            if pulled is not None:
                result.pull = applier.finish(con, pulled)
            if not dry_run:
                con.execute("COMMIT")
            if quiet is not None and held is not None:
                quiet.trusted = held.whole and _changed_nothing(pulled, applier)
            if pipe.direction != "pull":
                session.records_can_fail = True  # from here on a refused record is set aside
                result.push = push_connection(project, pipeline=pipe.name, crm=pipe.crm, canonical=run.canonical,
                                              entities=run.entities, store=run.store, write_mode=pipe.write_mode,
                                              dry_run=dry_run, con=con, deletes=pipe.deletes,
                                              metadata=applier.fetched_metadata, ticket=ticket, quiet=quiet,
                                              **spec, **crm)
            if dry_run:
                con.execute("ROLLBACK")
            else:
                result.seconds = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
                write_run(con, ticket, pipeline=pipe.name, connection=pipe.connection, status=result.status,
                          entities=result.entities, parts={k: v for k, v in result.parts().items() if v})
                if quiet is not None and final is not None:  # held from before the plans: nobody else wrote since
                    quiet.seal(con, final.whole and pipe.direction != "pull")  # the last write of the run
    result.seconds = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    result.rate_limit_wait = float(getattr(getattr(session, "pacer", None), "waited", 0.0) or 0.0)
    result.crm_answer_wait = float(getattr(getattr(session, "stats", None), "answer_seconds", 0.0) or 0.0)
    return result


def _changed_nothing(pulled: Any, applier: Any) -> bool:
    """Whether the pull part left canonical rows and links as they were: it read nothing, found no
    deletion and mapped no stored record (a plan may then trust a seal, crmsync.push.quiet)."""
    if pulled is None:
        return True
    if any(pulled.read.read.values()) or any(pulled.deleted.values()):
        return False
    return all(getattr(c, n) == 0 for c in applier.counts.values() for n in c.__dataclass_fields__)
