"""What every pipeline run (pull, push, sync) does around its work: check the specs, pick the pipeline
and its entities, load the connector and mappings, hold the connection's run lock, and record a
failed run in ``sync.runs``."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.bulk_gc import records_in_bulk
from crmsync.errors import BusyError, UserError
from crmsync.project import Project


@dataclass
class PreparedRun:
    pipeline: Any                  # crmsync.specs.models.Pipeline
    connector: dict[str, Any]      # the connector spec as written (validated)
    mappings: dict[str, Any]       # canonical entity -> MappingSpec
    canonical: dict[str, dict[str, Any]]
    entities: list[str]
    store: str


def prepare_run(project: Project, pipeline_name: str, *, kind: str, entities: list[str] | None = None) -> PreparedRun:
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
    other = {"pull": "push", "push": "pull"}.get(kind)
    if other and pipeline.direction == other:
        raise UserError(f"pipeline {pipeline_name} is {other}-only (direction: {other}); it does not {kind}")
    chosen = list(pipeline.entities)
    if entities:
        unknown = [e for e in entities if e not in chosen]
        if unknown:
            raise UserError(f"pipeline {pipeline_name} does not sync {unknown[0]!r}; its entities: {', '.join(chosen)}")
        chosen = [e for e in chosen if e in entities]
    mappings = {e: parse_mapping(specs.mappings[(pipeline.crm, e)], f"mappings/{pipeline.crm}/{e}.yaml")
                for e in chosen}
    from crmsync.store import store_name

    store = store_name(pipeline)
    folder = project.store_path(store).parent
    if not folder.is_dir():
        raise UserError(f"pipelines/{pipeline_name}.yaml: staging.path: the folder {folder} does not exist",
                        hint=f"create it (mkdir -p {folder}) or point staging.path at an existing folder")
    return PreparedRun(pipeline, load_yaml(project.connectors_dir / f"{pipeline.crm}.yaml"), mappings,
                       load_canonical(project.root), chosen, store)


def new_run_id(started: dt.datetime) -> str:
    return f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass
class RunTicket:
    """One run as ``sync.runs`` knows it: a sync's pull and push parts share its id and its one row."""

    run_id: str
    kind: str                      # pull | push | sync
    started: dt.datetime


# What a finished run's status says (also `crmsync runs`, `crmsync status`, README "Runs"):
#   ok: all done; issues: done, but records were set aside, refused or held; failed; interrupted;
#   running: a sync between its pull part (committed) and its end, or a run that died there.
FINAL = ("ok", "issues", "failed", "interrupted")


def issues_of(entities: dict[str, dict[str, int]]) -> dict[str, int]:
    """Records a run set aside (its mapping or the CRM refused them) and fields held in manual conflicts."""
    return {"rejected": sum(int(c.get("rejected", 0)) for c in entities.values()),
            "held": sum(int(c.get("held", 0)) for c in entities.values())}


def outcome(entities: dict[str, dict[str, int]]) -> str:
    return "issues" if any(issues_of(entities).values()) else "ok"


def write_run(con: Any, ticket: RunTicket, *, pipeline: str, connection: str, status: str,
              entities: dict[str, dict[str, int]] | None = None, parts: dict[str, Any] | None = None,
              error: str | None = None, finished: bool = True) -> None:
    """The run's one row in sync.runs, written or rewritten (a sync writes it with its pull part, in
    the pull's transaction, and again at its end); ``parts`` and an earlier error are kept unless given."""
    from crmsync.jsontext import dumps

    old = con.execute("SELECT parts FROM sync.runs WHERE run_id = ?", [ticket.run_id]).fetchone()
    merged = {**(loads_or_empty(old[0]) if old else {}), **(parts or {})}
    con.execute("INSERT OR REPLACE INTO sync.runs (run_id, pipeline, connection, kind, started_at, finished_at, "
                "status, counts, error, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [ticket.run_id, pipeline, connection, ticket.kind, ticket.started,
                 dt.datetime.now(dt.timezone.utc) if finished else None, status,
                 dumps(entities) if entities is not None else None, error, dumps(merged) if merged else None])


def loads_or_empty(text: Any) -> dict[str, Any]:
    from crmsync.jsontext import loads

    if not text:
        return {}
    value = loads(text) if isinstance(text, (str, bytes)) else text
    return value if isinstance(value, dict) else {}


def record_failure(project: Project, run: PreparedRun, ticket: RunTicket, exc: BaseException, *,
                   status: str = "failed") -> None:
    """A failed (or interrupted) run is its row in sync.runs with the (masked) error; a sync whose pull
    part was recorded keeps it. Recording never hides the failure."""
    from crmsync.canonical.tables import ensure
    from crmsync.secrets.masking import mask
    from crmsync.store import open_store

    with contextlib.suppress(Exception), open_store(project.store_path(run.store)) as con:
        ensure(con, {})
        counts = con.execute("SELECT counts FROM sync.runs WHERE run_id = ?", [ticket.run_id]).fetchone()
        text = "interrupted" if status == "interrupted" and not str(exc) else f"{type(exc).__name__}: {exc}"
        write_run(con, ticket, pipeline=run.pipeline.name, connection=run.pipeline.connection, status=status,
                  entities=loads_or_empty(counts[0]) if counts and counts[0] else None, error=mask(text)[:2000])


LOCK_WAIT = "CRMSYNC_LOCK_WAIT_SECONDS"  # how long a run waits for another run of its connection (default 0)


@contextlib.contextmanager
def run_lock(project: Project, run: PreparedRun) -> Iterator[None]:
    """One pull, push or sync per connection at a time, across processes (and, on a Postgres store,
    across machines: crmsync.locks picks a lock file or an advisory lock by the pipeline's store).

    Two pushes at once would both plan the same outbox ops and both send them; a pull next to a
    push could apply a half-recorded write. A killed run leaves no lock behind.
    """
    from crmsync.locks import mutex, store_dsn

    try:
        wait = float(os.environ.get(LOCK_WAIT, "0"))
    except ValueError:
        raise UserError(f"{LOCK_WAIT} must be a number of seconds, not {os.environ[LOCK_WAIT]!r}") from None
    dsn = store_dsn(project, run.store)
    lock = mutex(project, f"run-{run.pipeline.connection}", dsn)
    got = lock.acquire(0)
    if not got and wait > 0:
        from crmsync.waiting import notify, seconds

        notify(f"waiting up to {seconds(wait)} for another run of connection {run.pipeline.connection!r} "
               f"(it holds {lock.where}; {LOCK_WAIT})")
        got = lock.acquire(wait)
    if not got:
        raise BusyError(f"another crmsync run of connection {run.pipeline.connection!r} is in progress (it holds "
                        f"{lock.where}); nothing was done. Run again when it ends, or set {LOCK_WAIT} to wait for it.")
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def guarded_run(project: Project, run: PreparedRun, kind: str, *, record: bool = True) -> Iterator[RunTicket]:
    """The connection's run lock around a run; a run that fails or is interrupted is recorded in
    ``sync.runs`` under the ticket's id (unless ``record`` is off: a dry run leaves no trace) and
    the error goes on to the caller. Python's cyclic garbage collector is off meanwhile
    (:mod:`crmsync.bulk_gc`)."""
    from crmsync.errors import interruption
    from crmsync.logs import log
    from crmsync.store import postgres_env, writing

    path = project.store_path(run.store)
    with run_lock(project, run), records_in_bulk(), (
            contextlib.nullcontext() if postgres_env(path) is not None else writing(path)):
        started = dt.datetime.now(dt.timezone.utc)
        ticket = RunTicket(new_run_id(started), kind, started)
        log.info("run %s: %s %s started", ticket.run_id, kind, run.pipeline.name)
        try:
            yield ticket
        except BaseException as exc:
            stopped = interruption(exc)
            log.warning("run %s: %s: %s", ticket.run_id, "interrupted" if stopped else "failed", exc)
            if record and (stopped or isinstance(exc, Exception)):
                record_failure(project, run, ticket, exc, status="interrupted" if stopped else "failed")
            raise
        log.info("run %s: done", ticket.run_id)
