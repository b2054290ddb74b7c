"""Run one read of a connection into the store: ``raw_<connection>`` tables, cursors in dlt state."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmsync.project import Project

from . import dlt_setup


@dataclass
class ReadResult:
    load_id: str | None
    read: dict[str, int] = field(default_factory=dict)  # records received per entity this run
    dataset: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per dlt step (extract, normalize, load)


def dataset_name(connection: str) -> str:
    return f"raw_{connection}"


def read_connection(project: Project, *, connection: str, connector: dict[str, Any], entities: list[str],
                    session: Any, base_url: str, store: str, full_refresh: bool = False,
                    progress: Callable[[str], None] | None = None) -> ReadResult:
    if not full_refresh and _nothing_new(project, connection=connection, connector=connector, entities=entities,
                                         session=session, base_url=base_url, store=store):
        if progress is not None:
            progress(f"{connection}: nothing new since the last run")
        return ReadResult(None, dict.fromkeys(entities, 0), dataset_name(connection))
    dlt = dlt_setup.configure(project)
    from .duckdb_dest import store_destination
    from .progress import ReadProgress
    from .source import crm_source

    pipeline = dlt.pipeline(
        pipeline_name=f"crmsync_{connection}",
        pipelines_dir=str(project.dlt_dir),
        destination=store_destination(str(project.store_path(store))),
        dataset_name=dataset_name(connection),
    )
    source = crm_source(dlt, connector, entities, session, base_url,
                        ReadProgress(progress) if progress is not None else None)
    try:
        info = pipeline.run(source, loader_file_format="jsonl", refresh="drop_sources" if full_refresh else None)
    except Exception as exc:
        ours = _our_error(exc)
        if ours is None:
            raise
        raise ours from exc  # the CRM's own words (and exit code), not dlt's step wrapper
    load_id = info.loads_ids[-1] if info.loads_ids else None
    counts = {e: 0 for e in entities}
    trace = pipeline.last_trace
    if trace is not None and trace.last_normalize_info is not None:
        for table, rows in trace.last_normalize_info.row_counts.items():
            if table in counts:
                counts[table] = rows
    return ReadResult(load_id, counts, dataset_name(connection), _step_seconds(trace))


def _our_error(exc: BaseException) -> BaseException | None:
    """The crmsync error (a CRM's answer, a missing setting) dlt wrapped in its step failure, if any."""
    from crmsync.errors import CrmsyncError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CrmsyncError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _step_seconds(trace: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for step in getattr(trace, "steps", None) or []:
        if step.step in ("extract", "normalize", "load") and step.started_at and step.finished_at:
            out[step.step] = round((step.finished_at - step.started_at).total_seconds(), 3)
    return out


def _nothing_new(project: Project, *, connection: str, connector: dict[str, Any], entities: list[str], session: Any,
                 base_url: str, store: str) -> bool:
    """The CRM has nothing newer than the raw tables and dlt has nothing half-done: dlt need not start."""
    from crmsync.store import open_store

    from .probe import dlt_has_pending, nothing_new

    path = project.store_path(store)
    if not path.exists() or dlt_has_pending(project.dlt_dir / f"crmsync_{connection}"):
        return False
    with open_store(path) as con:
        return nothing_new(con, dataset=dataset_name(connection), connector=connector, entities=entities,
                           session=session, base_url=base_url)
