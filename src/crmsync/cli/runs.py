"""``crmsync runs [PIPELINE]``: run history from sync.runs, newest first."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.project import Project


@click.command("runs")
@click.argument("pipeline", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many runs.")
@json_option
@project_option
def runs(project: Project, pipeline: str | None, limit: int, as_json: bool) -> None:
    """Past runs of PIPELINE (default: every pipeline): kind, outcome (ok, issues, failed, interrupted,
    running), when, how long, records set aside and held, the error. A sync is one run with its pull
    and push parts."""
    from crmsync.output import timestamp
    from crmsync.run_history import list_runs

    result = list_runs(project, pipeline=pipeline, limit=limit)
    if as_json:
        echo_json(result.as_dict())
        return
    if not result.runs:
        click.echo("no runs yet")
        return
    for r in result.runs:
        took = f"{r['seconds']:.1f} s" if r["seconds"] is not None else "-"
        issues = r["issues"]
        extra = f"  rejected {issues['rejected']} held {issues['held']}" if any(issues.values()) else ""
        click.echo(f"{timestamp(r['started_at'])}  {r['pipeline']:<10} {r['kind']:<4} {r['status']:<11} {took:>8}  "
                   f"{r['run_id']}{extra}")
        if r["error"]:
            click.echo(f"    error: {r['error']}")
