"""``definitions(project_dir)``: a crmsync project as Dagster ``Definitions`` — per pipeline its assets
(crmsync.dagster.assets), a job that materialises them with the run tags a deployment's queue limits
key on, and a schedule from its ``schedule:`` and ``timezone:`` (none for ``manual`` or no schedule).

A slot that comes while a run of the same connection is queued or in progress is skipped, not queued
behind it, as ``crmsync serve`` does: the next slot (or the run in progress) catches up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from crmsync.project import Project

PROJECT_ENV = "CRMSYNC_PROJECT_DIR"  # the project `dagster dev -m crmsync.dagster.project` loads
# Transient failures (exit 3 and 4, crmsync.dagster.run) are tried again after 1, 3, 7 minutes (± 1: the
# jitter, so runs of many connections do not return at once); the CRM's own short faults are already
# retried inside a run, so what reaches Dagster is an outage worth waiting out.
DEFAULT_RETRY_POLICY = dg.RetryPolicy(max_retries=3, delay=60, backoff=dg.Backoff.EXPONENTIAL,
                                      jitter=dg.Jitter.PLUS_MINUS)
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def definitions(project_dir: Path | str, *, retry_policy: dg.RetryPolicy | None = DEFAULT_RETRY_POLICY,
                schedules_running: bool = True) -> dg.Definitions:
    """The Dagster definitions of the crmsync project at ``project_dir``.

    ``retry_policy``: what Dagster does with a transient failure (None: no retries). ``schedules_running``:
    whether the pipelines' schedules start on (as ``crmsync serve`` runs them) or wait to be switched on
    in Dagster's UI. A project whose specs have problems is refused with the list of them.
    """
    from crmsync.dagster.assets import job_name, pipeline_assets, run_tags

    project = Project.at(project_dir)
    pipelines = _pipelines(project)
    assets, jobs, schedules = [], [], []
    for pipe in pipelines:
        assets.append(pipeline_assets(project, pipe, retry_policy=retry_policy))
        job = dg.define_asset_job(job_name(pipe.name), selection=dg.AssetSelection.groups(job_name(pipe.name)),
                                  tags=run_tags(project, pipe),
                                  description=f"crmsync sync {pipe.name} (all of its entities)")
        jobs.append(job)
        schedule = pipeline_schedule(pipe, job, running=schedules_running)
        if schedule is not None:
            schedules.append(schedule)
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules)


def _pipelines(project: Project) -> list[Any]:
    from crmsync.errors import UserError
    from crmsync.specs.project_specs import load_specs

    specs = load_specs(project)
    if not specs.ok:
        shown = "\n  ".join(str(p) for p in specs.problems[:10])
        raise UserError(f"the crmsync project {project.root} has {len(specs.problems)} spec problem(s); fix them "
                        f"first (crmsync validate lists them all):\n  {shown}")
    return [specs.pipelines[name] for name in sorted(specs.pipelines)]


def cron_of(pipeline: Any) -> str | None:
    """The pipeline's cron expression as the YAML says it; None for ``manual`` or no schedule."""
    from crmsync.schedule import MANUAL

    expression = (pipeline.schedule or "").strip()
    return None if not expression or expression == MANUAL else expression


def pipeline_schedule(pipeline: Any, job: Any, *, running: bool) -> dg.ScheduleDefinition | None:
    from crmsync.dagster.assets import CONNECTION_TAG

    cron = cron_of(pipeline)
    if cron is None:
        return None
    connection = job.tags[CONNECTION_TAG]

    @dg.schedule(name=f"{job.name}_schedule", cron_schedule=cron, job=job,
                 execution_timezone=pipeline.timezone or "UTC",  # crmsync reads a schedule in UTC by default
                 default_status=dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED,
                 description=f"pipelines/{pipeline.name}.yaml: schedule {cron!r} in {pipeline.timezone or 'UTC'}")
    def _slot(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
        busy = context.instance.get_run_records(
            dg.RunsFilter(tags={CONNECTION_TAG: connection}, statuses=IN_FLIGHT), limit=1)
        if busy:
            return dg.SkipReason(f"a run of connection {pipeline.connection!r} is queued or in progress "
                                 f"({busy[0].dagster_run.run_id}): this slot is skipped, as crmsync serve does")
        return dg.RunRequest()

    return _slot
