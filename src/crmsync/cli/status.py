"""``crmsync status [PIPELINE]``: what each pipeline last did, what waits for a person, when it runs next."""

from __future__ import annotations

from typing import Any

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.project import Project


@click.command("status")
@click.argument("pipeline", required=False)
@json_option
@project_option
def status(project: Project, pipeline: str | None, as_json: bool) -> None:
    """Per pipeline: the last pull, push and sync with their outcome; records set aside or refused and
    fields held in manual conflicts that are still open (over all runs); writes not yet sent; per
    entity rows and cursor; the next scheduled run. Reads the store read-only."""
    from crmsync.output import timestamp
    from crmsync.status import project_status

    result = project_status(project, pipeline)
    if as_json:
        echo_json(result.as_dict())
        return
    for p in result.pipelines:
        nxt = f"next run {timestamp(p.next_run_at)} ({p.schedule})" if p.next_run_at else "no schedule"
        click.echo(f"{p.pipeline} ({p.connection}, {p.direction}): {nxt}")
        for kind in ("sync", "pull", "push", "remap"):
            run = p.last_runs.get(kind)
            if run:
                click.echo(f"  last {kind:<4} {timestamp(run['finished_at'] or run['started_at'])}  "
                           f"{run['status']}{_issues(run)}  run {run['run_id']}")
                if run.get("error"):
                    click.echo(f"    error: {run['error']}")
        if not any(p.last_runs.values()):
            click.echo("  never run")
        t = p.totals
        click.echo(f"  open: set aside {t['set_aside']}, refused by the CRM {t['refused']}, held in conflicts "
                   f"{t['held']}, writes not yet sent {t['outbox_pending']}")
        for e in p.entities:
            click.echo(f"  {e.entity:<8} rows {e.rows:>7}  deleted {e.deleted:>5}  set aside {e.set_aside:>4}  "
                       f"refused {e.refused:>4}  held {e.held:>4}  cursor {timestamp(e.cursor) or '-'}")


def _issues(run: dict[str, Any]) -> str:
    issues = run.get("issues") or {}
    shown = [f"{n} {k}" for k, n in issues.items() if n]
    return f" ({', '.join(shown)})" if shown else ""
