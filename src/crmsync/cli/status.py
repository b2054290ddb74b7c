"""``crmsync status [PIPELINE]``: what each pipeline last did and where it stands."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.errors import UserError
from crmsync.project import Project


@click.command("status")
@click.argument("pipeline", required=False)
@json_option
@project_option
def status(project: Project, pipeline: str | None, as_json: bool) -> None:
    """Per pipeline and entity: last run, cursor, rows, set-aside records, errors."""
    from crmsync.specs.problems import did_you_mean
    from crmsync.specs.project_specs import load_specs
    from crmsync.status import StatusResult, pipeline_status

    specs = load_specs(project)
    names = sorted(specs.pipelines)
    if pipeline:
        if pipeline not in specs.pipelines:
            raise UserError(f"no pipeline {pipeline!r}{did_you_mean(pipeline, names)}; known: {', '.join(names)}")
        names = [pipeline]
    result = StatusResult([
        pipeline_status(project, pipeline=p.name, connection=p.connection, entities=list(p.entities),
                        store=p.staging.options.get("path", "crmsync.duckdb"), source_name=p.crm)
        for p in (specs.pipelines[n] for n in names)])
    if as_json:
        echo_json(result.as_dict())
        return
    for p in result.pipelines:
        run = p.last_run
        when = f"last run {run['finished_at'] or run['started_at']} ({run['kind']}, {run['status']})" if run \
            else "never run"
        click.echo(f"{p.pipeline} ({p.connection}): {when}")
        if run and run.get("error"):
            click.echo(f"  error: {run['error']}")
        for e in p.entities:
            click.echo(f"  {e.entity:<8} rows {e.rows:>7}  deleted {e.deleted:>5}  set aside {e.set_aside:>5}  "
                       f"cursor {e.cursor if e.cursor is not None else '-'}")
