"""Pipelines (schedule, next and last run, health), runs to start and follow, and the run history."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from crmsync.serve import storeguard
from crmsync.serve.auth import require
from crmsync.serve.errors import ApiError, responses

router = APIRouter(prefix="/api", tags=["pipelines and runs"])


def _pipeline(request: Request, name: str) -> Any:
    pipelines = request.app.state.pipelines
    if name not in pipelines:
        raise ApiError(404, "not_found", f"no pipeline {name!r}; known: {', '.join(sorted(pipelines)) or 'none'}")
    return pipelines[name]


def _statuses(request: Request, response: Response, names: list[str]) -> list[dict[str, Any]]:
    """What `crmsync status --json` says of the pipelines (read from the store between runs)."""
    from crmsync.output import normalise
    from crmsync.status import StatusResult, pipeline_status

    pipes = request.app.state.pipelines

    def work() -> list[dict[str, Any]]:
        return normalise(StatusResult([  # as the CLI prints it: the same fields, times to the second
            pipeline_status(request.app.state.project, pipeline=p.name, connection=p.connection,
                            entities=list(p.entities), store=_store(p), source_name=p.crm, schedule=p.schedule,
                            direction=p.direction, timezone=getattr(p, "timezone", None))
            for p in (pipes[n] for n in names)]).as_dict())["pipelines"]

    return storeguard.read(request, response, work)


def _describe(request: Request, status: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's status plus what the server knows now: schedule, next run, the run in flight, health."""
    p = request.app.state.pipelines[status["pipeline"]]
    shown = request.app.state.scheduler.describe(p.name)
    last = status.get("last_run") or {}
    health = ("running" if shown["running"] else "failing" if shown["failures"] else
              "never run" if not last else "failing" if last.get("status") == "failed" else "ok")
    return {**status, **shown, "crm": p.crm, "direction": p.direction, "health": health}


def _store(p: Any) -> str:
    from crmsync.store import store_name

    return store_name(p)


@router.get("/pipelines", summary="Every pipeline: schedule, next run, last run, health (and `status --json`)",
            responses=responses(401, 403), dependencies=[Depends(require("read"))])
def list_pipelines(request: Request, response: Response) -> dict[str, Any]:
    names = sorted(request.app.state.pipelines)
    return {"pipelines": [_describe(request, s) for s in _statuses(request, response, names)]}


@router.get("/pipelines/{name}", summary="One pipeline", responses=responses(401, 403, 404),
            dependencies=[Depends(require("read"))])
def get_pipeline(request: Request, response: Response, name: str) -> dict[str, Any]:
    _pipeline(request, name)
    return _describe(request, _statuses(request, response, [name])[0])


class RunRequest(BaseModel):
    kind: Literal["sync", "pull", "push"] = Field("sync", description="What to run, as the CLI command of that name")
    dry_run: bool = Field(False, description="sync/push: show what would change and be sent; change nothing")
    entities: list[str] | None = Field(None, description="Only these entities (default: the pipeline's)")
    full_refresh: bool = Field(False, description="sync/pull: forget the read cursors and read everything again")


@router.post("/pipelines/{name}/runs", status_code=202, responses=responses(400, 401, 403, 404),
             summary="Start a run now (a child process); follow it at /api/jobs/{job_id}",
             dependencies=[Depends(require("operate"))])
def start_run(request: Request, name: str, body: RunRequest | None = None) -> dict[str, Any]:
    body = body or RunRequest()
    pipe = _pipeline(request, name)
    if body.dry_run and body.kind == "pull":
        raise ApiError(400, "bad_request", "a pull has no dry run (a sync dry run reads and shows what would change)")
    if body.full_refresh and body.kind == "push":
        raise ApiError(400, "bad_request", "a push has no full refresh")
    unknown = [e for e in body.entities or [] if e not in pipe.entities]
    if unknown:
        raise ApiError(400, "bad_request", f"pipeline {name} does not sync {unknown[0]!r}; its entities: "
                                           f"{', '.join(pipe.entities)}")
    other = {"pull": "push", "push": "pull"}.get(body.kind)
    if other and pipe.direction == other:
        raise ApiError(400, "bad_request", f"pipeline {name} is {other}-only (direction: {other})")
    job = request.app.state.runner.submit(pipe, kind=body.kind, dry_run=body.dry_run, trigger="api",
                                          entities=body.entities, full_refresh=body.full_refresh)
    return job.as_dict()


@router.get("/jobs", summary="Runs this server started (newest first), with what each printed",
            responses=responses(401, 403), dependencies=[Depends(require("read"))])
def list_jobs(request: Request, pipeline: str | None = None,
              limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
    return {"jobs": [j.as_dict() for j in request.app.state.runner.jobs(pipeline)[:limit]]}


@router.get("/jobs/{job_id}", summary="One run this server started: running, ok, failed, skipped; its result",
            responses=responses(401, 403, 404), dependencies=[Depends(require("read"))])
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    job = request.app.state.runner.get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} (the server keeps the newest; the history is /api/runs)")
    return job.as_dict()


@router.get("/runs", summary="Run history from sync.runs, as `crmsync runs --json` lists it (newest first)",
            responses=responses(401, 403, 404), dependencies=[Depends(require("read"))])
def list_runs(request: Request, response: Response, pipeline: str | None = None, status: str | None = None,
              limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
    """The rows `crmsync runs --json` prints (crmsync.run_history), filtered by status."""
    from crmsync.output import normalise
    from crmsync.run_history import list_runs as runs

    if pipeline is not None and pipeline not in request.app.state.pipelines:
        raise ApiError(404, "not_found", f"no pipeline {pipeline!r}")

    def work() -> dict[str, Any]:
        rows = runs(request.app.state.project, pipeline=pipeline, limit=None if status else limit).runs
        if status:
            rows = [r for r in rows if r["status"] == status][:limit]
        return normalise({"runs": rows})

    return storeguard.read(request, response, work)


@router.get("/status", summary="Exactly what `crmsync status --json` prints",
            responses=responses(401, 403), dependencies=[Depends(require("read"))])
def status(request: Request, response: Response) -> dict[str, Any]:
    return {"pipelines": _statuses(request, response, sorted(request.app.state.pipelines))}
