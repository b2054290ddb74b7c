"""Run one read of a connection into the store: ``raw_<connection>`` tables, cursors in dlt state.

A read runs dlt in rounds (:class:`~crmsync.read.source.ConnectorRead`): each round loads the pages
that have arrived, and ``on_round`` may apply them while the next pages are being fetched. The
cursors move with the last round, so a read that stops half-way is read again next time.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crmsync.project import Project

from . import dlt_setup
from .held_state import held_resources, pipeline_name
from .stream import fetching_beside_the_engine


@dataclass
class ReadResult:
    load_id: str | None
    read: dict[str, int] = field(default_factory=dict)  # records received per entity this run
    dataset: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # seconds per dlt step (extract, normalize, load)
    rounds: int = 0  # dlt runs (each one a load package)

    def add_round(self, load_id: str | None, counts: dict[str, int], timings: dict[str, float]) -> None:
        self.load_id = load_id or self.load_id
        for entity, rows in counts.items():
            self.read[entity] = self.read.get(entity, 0) + rows
        for step, seconds in timings.items():
            self.timings[step] = round(self.timings.get(step, 0.0) + seconds, 3)
        self.rounds += 1


def dataset_name(connection: str) -> str:
    return f"raw_{connection}"


def read_connection(project: Project, *, connection: str, connector: dict[str, Any], entities: list[str],
                    session: Any, base_url: str, store: str, full_refresh: bool = False,
                    progress: Callable[[str], None] | None = None,
                    on_round: Callable[[ReadResult], None] | None = None,
                    on_start: Callable[[], None] | None = None) -> ReadResult:
    """``on_round``: called after each round's load (the raw tables hold it), with the totals so far;
    ``on_start``: called once it is clear that there is something to read, before the pages stream in
    (requests made there do not queue behind the listing's for the rate limit)."""
    result = ReadResult(None, dict.fromkeys(entities, 0), dataset_name(connection))
    if not full_refresh and _nothing_new(project, connection=connection, connector=connector, entities=entities,
                                         session=session, base_url=base_url, store=store):
        if progress is not None:
            progress(f"{connection}: nothing new since the last run")
        return result
    if on_start is not None:
        on_start()
    from .progress import ReadProgress
    from .source import ConnectorRead

    reads = ConnectorRead(connector, entities, session, base_url,
                          ReadProgress(progress) if progress is not None else None)
    with fetching_beside_the_engine():
        _read_rounds(project, reads, connection=connection, connector=connector, store=store,
                     full_refresh=full_refresh, result=result, on_round=on_round, progress=progress)
    return result


def _read_rounds(project: Project, reads: Any, *, connection: str, connector: dict[str, Any], store: str,
                 full_refresh: bool, result: ReadResult, on_round: Callable[[ReadResult], None] | None,
                 progress: Callable[[str], None] | None = None) -> None:
    from dlt.common.runtime.signals import intercepted_signals

    try:
        # dlt holds a Ctrl-C (or SIGTERM) back until its next check inside a run, and forgets one that came
        # after its last check when the run returns: the read then went on as if nothing had come (exit 0
        # instead of 130). Held here across every round, it is raised between rounds (:func:`_stop_if_asked`).
        with intercepted_signals():
            _rounds(project, reads, connection=connection, connector=connector, store=store,
                    full_refresh=full_refresh, result=result, on_round=on_round, progress=progress)
    except BaseException:
        _close(reads, project.store_path(store), report=False)  # the error that stopped the read is the one told
        raise
    _close(reads, project.store_path(store), report=True)


def _stop_if_asked() -> None:
    """Raise the Ctrl-C or SIGTERM that came during the round just applied, if one did (its rows are committed)."""
    from dlt.common.runtime.signals import raise_if_signalled

    raise_if_signalled()


def _rounds(project: Project, reads: Any, *, connection: str, connector: dict[str, Any], store: str,
            full_refresh: bool, result: ReadResult, on_round: Callable[[ReadResult], None] | None,
            progress: Callable[[str], None] | None) -> None:
    # The listings start before dlt does (~1 s of imports and set-up): at a rate limit that is
    # seven pages' worth of the CRM's time.
    reads.start({} if full_refresh else held_resources(project.dlt_dir, connection, connector["name"]))
    dlt = dlt_setup.configure(project)
    from .destination import store_destination
    from .probe import dlt_has_pending

    destination, file_format = store_destination(project.store_path(store))

    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name(connection),
        pipelines_dir=str(project.dlt_dir),
        destination=destination,
        dataset_name=dataset_name(connection),
    )
    if dlt_has_pending(project.dlt_dir / pipeline_name(connection)):
        pipeline = _finish_pending(pipeline, result, on_round, full_refresh=full_refresh, progress=progress,
                                   store=project.store_path(store))
        _stop_if_asked()
    while not reads.done:
        refresh = "drop_sources" if full_refresh and reads.rounds == 0 else None
        _round(pipeline, reads.next_source(dlt), {"refresh": refresh, "loader_file_format": file_format}, result,
               on_round, store=project.store_path(store))
        _stop_if_asked()


def _close(reads: Any, store: Path, *, report: bool) -> None:
    from crmsync.store import settled

    reads.close()
    settled(store, report=report)  # the last round's checkpoint (Kept.close): the file is closed on return


def _finish_pending(pipeline: Any, result: ReadResult, on_round: Callable[[ReadResult], None] | None, *,
                    full_refresh: bool, progress: Callable[[str], None] | None, store: Path) -> Any:
    """An earlier run died or failed between dlt's steps and left a load package: dlt finishes it
    first (it would extract nothing new in the same run). A package that cannot be finished — it
    failed before, it will fail again — is dropped with the rest of dlt's local working state, so
    dlt takes its state back from the store: the cursors of the last load that did finish, and the
    dropped package's records are read again from the CRM. Nothing is lost and nobody has to run
    ``dlt pipeline … drop-pending-packages`` by hand. A full refresh reads everything anyway."""
    if not full_refresh:
        try:
            _round(pipeline, None, {}, result, on_round, store=store)
            return pipeline
        except Exception as exc:
            from crmsync.errors import CrmsyncError, interruption

            if isinstance(exc, CrmsyncError) or interruption(exc):  # a Ctrl-C (dlt wraps it) stops; it drops nothing
                raise
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            if progress is not None:
                progress(f"a load an earlier run left unfinished cannot be completed ({reason[:200]}); "
                         "it is dropped and its records are read again")
    return pipeline.drop()


def _round(pipeline: Any, source: Any, options: dict[str, Any], result: ReadResult,
           on_round: Callable[[ReadResult], None] | None, *, store: Path | None = None) -> None:
    """One dlt run and the apply of what it loaded; ``store``: the store's path, kept open from dlt's
    load to the end of the apply (crmsync.store.keeping: one checkpoint a round)."""
    from crmsync.store import keeping

    with keeping(store) if store is not None else nullcontext():
        _load_and_apply(pipeline, source, options, result, on_round)


def _load_and_apply(pipeline: Any, source: Any, options: dict[str, Any], result: ReadResult,
                    on_round: Callable[[ReadResult], None] | None) -> None:
    try:
        info = pipeline.run(source, **options) if source is not None else pipeline.run()
    except Exception as exc:
        ours = _our_error(exc)
        if ours is None:
            raise
        raise ours from exc  # the CRM's own words (and exit code), not dlt's step wrapper
    counts: dict[str, int] = {}
    trace = pipeline.last_trace
    if trace is not None and trace.last_normalize_info is not None:
        counts = {t: n for t, n in trace.last_normalize_info.row_counts.items() if t in result.read}
    result.add_round(info.loads_ids[-1] if info and info.loads_ids else None, counts, _step_seconds(trace))
    if on_round is not None:
        on_round(result)


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
    from crmsync.store import open_store, store_exists

    from .probe import dlt_has_pending, nothing_new

    path = project.store_path(store)
    if not store_exists(path) or dlt_has_pending(project.dlt_dir / pipeline_name(connection)):
        return False
    with open_store(path) as con:
        return nothing_new(con, dataset=dataset_name(connection), connector=connector, entities=entities,
                           session=session, base_url=base_url)
