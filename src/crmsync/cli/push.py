"""``crmsync push PIPELINE``: write canonical changes back to the CRM (or, with --dry-run, show them)."""

from __future__ import annotations

import json
from typing import Any

import click

from crmsync.cli.options import echo_run, json_option, project_option, strict_option
from crmsync.project import Project


@click.command("push")
@click.argument("pipeline")
@click.option("--entity", "entities", multiple=True, metavar="ENTITY",
              help="Only this entity (contact, deal, task); repeatable. Default: the pipeline's entities.")
@click.option("--dry-run", is_flag=True, help="Print what would be created and updated; send nothing.")
@strict_option
@json_option
@project_option
def push(project: Project, pipeline: str, entities: tuple[str, ...], dry_run: bool, as_json: bool,
         strict: bool) -> None:
    """Write canonical rows that changed since the CRM last agreed (and new rows) to PIPELINE's CRM.

    Every write goes through sync.outbox first; a record the mapping or the CRM refuses is set aside
    in sync.rejected with the reason and the rest is written. `--json` prints per entity the records
    `created`, `updated`, `deleted` in the CRM, `rejected` and `held` (with --dry-run: what would be, and the
    plan); exit 5 when records were set aside, refused or held (--no-strict: 0).
    """
    from crmsync.cli.progress import progress_for
    from crmsync.push import run_push

    with progress_for(as_json) as progress:
        result = run_push(project, pipeline, entities=list(entities) or None, dry_run=dry_run, progress=progress)

    def text() -> None:
        verb = "would push" if dry_run else "pushed"
        click.echo(f"{verb} {pipeline} ({result.connection}) in {result.seconds:.1f} s — run {result.run_id}")
        for entity, c in result.entities.items():
            click.echo(f"  {entity:<8} created {c['created']:>6}  updated {c['updated']:>6}  "
                       f"deleted {c['deleted']:>5}  rejected {c['rejected']:>5}  held {c['held']:>5}")
            if dry_run:
                echo_plan(result.plan.get(entity) or {})

    echo_run(result.as_dict(), as_json=as_json, strict=strict, text=text)


def echo_plan(plan: dict[str, Any]) -> None:
    """One entity's dry-run plan (crmsync push, crmsync sync): the first few ops of each kind."""
    for kind in ("creates", "updates", "deletes"):
        for op in plan.get(kind) or []:
            target = f" → {op['remote_id']}" if op.get("remote_id") else ""
            fields = json.dumps(op.get("fields"), ensure_ascii=False, default=str)
            click.echo(f"    {op['kind']:<6} {op['canonical_id']}{target}: {fields}")
    for r in plan.get("rejected") or []:
        click.echo(f"    set aside {r['canonical_id']}: {r['field']}: {r['reason']}")
    for held in plan.get("held") or []:
        click.echo(f"    held   {held['canonical_id']}: {', '.join(held['fields'])} (crmsync conflicts list)")
