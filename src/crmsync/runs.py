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
    store = pipeline.staging.options.get("path", "crmsync.duckdb") if pipeline.staging else "crmsync.duckdb"
    return PreparedRun(pipeline, load_yaml(project.connectors_dir / f"{pipeline.crm}.yaml"), mappings,
                       load_canonical(project.root), chosen, store)


def record_failure(project: Project, run: PreparedRun, kind: str, started: dt.datetime, exc: Exception) -> None:
    """A failed run is a row in sync.runs with the (masked) error; recording never hides the failure."""
    from crmsync.canonical.tables import ensure
    from crmsync.secrets.masking import mask
    from crmsync.store import open_store

    run_id = f"{started:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
    with contextlib.suppress(Exception), open_store(project.store_path(run.store)) as con:
        ensure(con, {})
        con.execute("INSERT INTO sync.runs VALUES (?, ?, ?, ?, ?, now(), 'failed', NULL, ?)",
                    [run_id, run.pipeline.name, run.pipeline.connection, kind, started,
                     mask(f"{type(exc).__name__}: {exc}")[:2000]])


LOCK_WAIT = "CRMSYNC_LOCK_WAIT_SECONDS"  # how long a run waits for another run of its connection (default 0)


@contextlib.contextmanager
def run_lock(project: Project, run: PreparedRun) -> Iterator[None]:
    """One pull, push or sync per connection at a time, across processes.

    Two pushes at once would both plan the same outbox ops and both send them; a pull next to a
    push could apply a half-recorded write. The lock is a file lock, so a killed run leaves none.
    """
    from filelock import FileLock, Timeout

    project.locks_dir.mkdir(parents=True, exist_ok=True)
    path = project.locks_dir / f"run-{run.pipeline.connection}.lock"
    try:
        wait = float(os.environ.get(LOCK_WAIT, "0"))
    except ValueError:
        raise UserError(f"{LOCK_WAIT} must be a number of seconds, not {os.environ[LOCK_WAIT]!r}") from None
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=wait)
    except Timeout:
        raise BusyError(f"another crmsync run of connection {run.pipeline.connection!r} is in progress (it holds "
                        f"{path}); nothing was done. Run again when it ends, or set {LOCK_WAIT} to wait for it."
                        ) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def guarded_run(project: Project, run: PreparedRun, kind: str, *, record: bool = True) -> Iterator[None]:
    """The connection's run lock around a run; a run that fails is recorded in ``sync.runs``
    (unless ``record`` is off: a dry run leaves no trace) and the error goes on to the caller.
    Python's cyclic garbage collector is off meanwhile (:mod:`crmsync.bulk_gc`)."""
    with run_lock(project, run), records_in_bulk():
        started = dt.datetime.now(dt.timezone.utc)
        try:
            yield
        except Exception as exc:
            if record:
                record_failure(project, run, kind, started, exc)
            raise
