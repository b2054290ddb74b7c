"""The FastAPI application: routes per area, one error shape, the scheduler started and stopped with it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI

from crmsync import __version__
from crmsync.appsync.service import AppSync
from crmsync.errors import CrmsyncError
from crmsync.project import Project
from crmsync.serve.clock import Clock
from crmsync.serve.errors import ApiError, api_error_handler, library_error_handler
from crmsync.serve.jobs import Runner
from crmsync.serve.metrics import Metrics
from crmsync.serve.scheduler import Scheduler, log_run

DESCRIPTION = """The operations API of `crmsync serve`: pipelines and their schedules, runs to start and
follow, run history, conflicts, connections, metrics. Responses have the shapes `crmsync … --json` prints.

Every route but `/healthz` needs an API key (`crmsync api-keys create NAME --scope read|operate|admin`)
sent as `Authorization: Bearer <key>`: `read` lists, `operate` starts runs and resolves conflicts,
`admin` manages connections. Refusals are `{"error": {"status", "code", "message"}}`.

The app sync API under `/api/sync/` (WatermelonDB's sync protocol, per tenant) takes a JWT instead of an
API key; its contract is in docs/app-sync.md."""


def load_pipelines(project: Project) -> dict[str, Any]:
    from crmsync.errors import UserError
    from crmsync.specs.project_specs import load_specs

    specs = load_specs(project)
    if not specs.ok:
        shown = "\n  ".join(str(p) for p in specs.problems[:10])
        raise UserError(f"the project has {len(specs.problems)} spec problem(s); fix them first "
                        f"(crmsync validate lists them all):\n  {shown}")
    return dict(specs.pipelines)


def create_app(project: Project, *, clock: Clock | None = None, schedule: bool = True, stop_grace: float = 60.0,
               retry_base: float = 60.0) -> FastAPI:
    """The app for ``project``; the scheduler runs from startup to shutdown (``schedule=False``: runs only
    on request). ``stop_grace``: seconds a run in flight may take to finish when the server stops."""
    pipelines = load_pipelines(project)
    metrics = Metrics()
    runner = Runner(project, on_finish=[metrics.observe, log_run])
    app_sync = AppSync.start(project, pipelines, on_finish=[metrics.observe, log_run])
    scheduler = Scheduler(project, runner, pipelines, clock, retry_base=retry_base, enabled=schedule,
                          fan_out=app_sync.fan_out, runs_here=app_sync.runs_here(runner))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            scheduler.stop()
            runner.stop(stop_grace)
            app_sync.stop(stop_grace)

    app = FastAPI(title="crmsync", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.project, app.state.pipelines = project, pipelines
    app.state.runner, app.state.scheduler, app.state.metrics = runner, scheduler, metrics
    app.state.app_sync = app_sync
    if not app_sync.unavailable:
        from crmsync.appsync.limits import PushSizeLimit

        app.add_middleware(PushSizeLimit, max_bytes=int(app_sync.settings.max_push_mb * 2**20))
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(CrmsyncError, library_error_handler)

    from crmsync.serve import page
    from crmsync.serve.routes import app_sync as app_sync_routes
    from crmsync.serve.routes import conflicts, connections, ops
    from crmsync.serve.routes import pipelines as pipeline_routes

    for module in (ops, pipeline_routes, conflicts, connections, app_sync_routes, page):
        app.include_router(module.router)
    return app
