"""One materialisation is one crmsync run: the library call the CLI makes, its ``sync.runs`` row as
Dagster metadata, and its failure as a Dagster ``Failure`` that says what crmsync said.

Which failures Dagster's retry policy may retry follows crmsync's ``transient`` flag (crmsync.errors, the
``error.transient`` of ``--json``): a CRM that kept failing (429s, 5xx, timeouts past crmsync's own retries),
an answer lost in flight, and a busy connection or store are worth another attempt; a CRM's refusal (a 4xx it
will not change its mind about — also exit code 3), a configuration error (2), a connection that needs a
person to re-authorise it, and a bug (1) are not: they fail at once, with crmsync's message. Every crmsync run
is safe to repeat (the outbox and the idempotency keys see to it), so a retry never duplicates a write.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import dagster as dg

from crmsync.errors import INTERNAL, CrmsyncError, interruption, is_transient
from crmsync.project import Project

KINDS = ("sync", "pull", "push")  # RunConfig.kind: Dagster's launchpad offers and checks them
PUSH_COUNTS = ("created", "updated", "deleted")
HISTORY_DEPTH = 50  # runs of one pipeline searched for this run's row (others may have started since)


class RunConfig(dg.Config):
    """What a run does, as in the CLI: ``crmsync sync`` by default (what a schedule runs)."""

    kind: Literal["sync", "pull", "push"] = "sync"  # the crmsync command this materialisation is
    full_refresh: bool = False  # forget the read cursors and read everything again (sync, pull)


def run_pipeline(project: Project, pipeline: str, entities: list[str] | None, config: RunConfig) -> Any:
    """The crmsync run itself, through the function behind the CLI command of ``config.kind``."""
    from crmsync.errors import UserError

    if config.kind not in KINDS:
        raise UserError(f"run config kind {config.kind!r} is not one of: {', '.join(KINDS)}")
    if config.kind == "push":
        if config.full_refresh:
            raise UserError("run config full_refresh applies to sync and pull, not push")
        from crmsync.push import run_push

        return run_push(project, pipeline, entities=entities)
    if config.kind == "pull":
        from crmsync.pull import run_pull

        return run_pull(project, pipeline, entities=entities, full_refresh=config.full_refresh)
    from crmsync.sync import run_sync

    return run_sync(project, pipeline, entities=entities, full_refresh=config.full_refresh)


def run_row(project: Project, pipeline: str, run_id: str | None = None, *,
            since: dt.datetime | None = None) -> dict[str, Any] | None:
    """The run's row in ``sync.runs`` as ``crmsync runs --json`` prints it (crmsync.run_history): by id,
    or the newest run of ``pipeline`` that started at or after ``since`` (a run that failed says no id)."""
    from crmsync.run_history import list_runs

    for row in list_runs(project, pipeline=pipeline, limit=HISTORY_DEPTH).runs:
        if run_id is not None and row["run_id"] == run_id:
            return as_json(row)
        if run_id is None and since is not None and row["started_at"] and row["started_at"] >= since:
            return as_json(row)
    return None


def as_json(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` as plain JSON, times as text the way ``crmsync runs --json`` prints them."""
    return json.loads(json.dumps(row, default=str))


def entity_metadata(row: dict[str, Any], entity: str) -> dict[str, Any]:
    """What one entity's materialisation shows: the run (id, kind, status, error), the entity's counts
    from ``sync.runs`` (records read and applied, written to the CRM, set aside, conflicts, held) and
    the whole row as JSON."""
    counts = dict(row.get("entities", {}).get(entity) or {})
    pulled = ((row.get("parts") or {}).get("pull") or {}).get("entities", {}).get(entity) or {}
    pushed = ((row.get("parts") or {}).get("push") or {}).get("entities", {}).get(entity) or {}
    out: dict[str, Any] = {"run_id": row["run_id"], "kind": row["kind"], "status": row["status"],
                           "connection": row["connection"]}
    if row.get("seconds") is not None:
        out["seconds"] = float(row["seconds"])
    if "read" in pulled:
        out["read"] = int(pulled["read"])
    if pushed or row["kind"] == "push":
        out["written"] = sum(int(counts.get(k, 0)) for k in PUSH_COUNTS)
    out.update({name: int(value) for name, value in counts.items() if isinstance(value, (int, float))})
    if row.get("error"):
        out["error"] = str(row["error"])
    out["run"] = dg.MetadataValue.json(row)
    return out


def row_from_result(result: Any, kind: str) -> dict[str, Any]:
    """What the run's row says, from its result: for the rare case the row cannot be read back (the
    store held by another process for longer than crmsync waits)."""
    data = result.as_dict()
    parts = {k: data[k] for k in ("pull", "push") if isinstance(data.get(k), dict)}
    if kind != "sync":
        parts = {kind: {k: data[k] for k in ("seconds", "entities") if k in data}}
    return as_json({"run_id": data["run_id"], "pipeline": data["pipeline"], "connection": data["connection"],
                    "kind": kind, "status": data["status"], "seconds": data.get("seconds"),
                    "issues": data.get("issues"), "entities": data.get("entities", {}), "parts": parts,
                    "error": None})


def retriable(exc: BaseException) -> bool:
    """Whether another attempt may succeed: crmsync says the failure is transient (the CRM kept failing, an
    answer was lost, the connection or store was busy), not a refusal, a setting to fix or a bug."""
    return is_transient(exc)


def failure_of(exc: Exception, row: dict[str, Any] | None) -> dg.Failure:
    """crmsync's error as a Dagster Failure: its message and hint, its exit code and error code, and the
    failed run's row from ``sync.runs`` when it got that far."""
    from crmsync.logs import write_crash
    from crmsync.secrets.masking import mask

    if isinstance(exc, CrmsyncError):
        code = exc.exit_code
        text = f"{exc}\n{exc.hint}" if exc.hint else str(exc)
    else:  # a bug: the traceback goes to the project's log folder, as the CLI does, and stays chained here
        import traceback

        code = INTERNAL
        path = write_crash("".join(traceback.format_exception(exc)))
        text = f"internal error: {type(exc).__name__}: {exc} (traceback written to {path})"
    metadata: dict[str, Any] = {"exit_code": code, "error_code": _error_code(code), "transient": retriable(exc)}
    if row is not None:
        metadata["run_id"] = row["run_id"]
        metadata["run"] = dg.MetadataValue.json(row)
    return dg.Failure(description=mask(text), metadata=metadata, allow_retries=retriable(exc))


def _error_code(code: int) -> str:
    from crmsync.errors import EXIT_CODES

    return EXIT_CODES.get(code, EXIT_CODES[INTERNAL])[0]


def stopped(exc: BaseException) -> bool:
    """A Ctrl-C or Dagster's termination: passed on untouched (the next run finishes the job)."""
    return interruption(exc) or not isinstance(exc, Exception)
