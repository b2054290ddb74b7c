"""``crmsync sync PIPELINE``: pull what changed in the CRM, then push what changed locally."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_run, json_option, project_option, strict_option
from crmsync.cli.push import echo_plan
from crmsync.project import Project


@click.command("sync")
@click.argument("pipeline")
@click.option("--entity", "entities", multiple=True, metavar="ENTITY",
              help="Only this entity (contact, deal, task); repeatable. Default: the pipeline's entities.")
@click.option("--full-refresh", is_flag=True, help="Forget the read cursors and read everything again.")
@click.option("--dry-run", is_flag=True,
              help="Read the CRM, then show what the pull would change and the push would send; change nothing.")
@strict_option
@json_option
@project_option
def sync(project: Project, pipeline: str, entities: tuple[str, ...], full_refresh: bool, dry_run: bool,
         as_json: bool, strict: bool) -> None:
    """Two-way sync of PIPELINE: pull (three-way merge, conflict policies), then push, in one run.

    A field changed on both sides follows the pipeline's `conflicts:` policy; every clash is kept in
    sync.conflicts, and `manual` ones wait for `crmsync conflicts resolve`. `--json` prints per entity
    `created`, `updated`, `deleted` (sent to the CRM), `conflicts` (clashes found), `held` (fields
    waiting for a manual decision), `rejected` and `applied` (canonical rows the pull changed), and the
    pull and push parts in full. Exit 5 when records were set aside, refused or held (--no-strict: 0).
    """
    from crmsync.cli.progress import progress_for
    from crmsync.sync import run_sync

    with progress_for(as_json) as progress:
        result = run_sync(project, pipeline, entities=list(entities) or None, full_refresh=full_refresh,
                          dry_run=dry_run, progress=progress)

    def text() -> None:
        verb = "would sync (dry run: nothing was changed or sent)" if dry_run else "synced"
        click.echo(f"{verb} {pipeline} ({result.connection}) in {result.seconds:.1f} s — run {result.run_id}")
        for entity, c in result.entities.items():
            click.echo(f"  {entity:<8} pulled {c['applied']:>6}  created {c['created']:>5}  "
                       f"updated {c['updated']:>5}  deleted {c['deleted']:>4}  conflicts {c['conflicts']:>4}  "
                       f"held {c['held']:>4}  rejected {c['rejected']:>4}")
            if dry_run and result.push:
                echo_plan(result.push.plan.get(entity) or {})

    echo_run(result.as_dict(), as_json=as_json, strict=strict, text=text)
