"""``crmsync pull PIPELINE``: read the CRM incrementally into the canonical tables."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_run, json_option, project_option, strict_option
from crmsync.project import Project


@click.command("pull")
@click.argument("pipeline")
@click.option("--entity", "entities", multiple=True, metavar="ENTITY",
              help="Only this entity (contact, deal, task); repeatable. Default: the pipeline's entities.")
@click.option("--full-refresh", is_flag=True, help="Forget the cursors and read everything again.")
@strict_option
@json_option
@project_option
def pull(project: Project, pipeline: str, entities: tuple[str, ...], full_refresh: bool, as_json: bool,
         strict: bool) -> None:
    """Read PIPELINE's CRM (only what changed since the last run) into canonical.* tables.

    Records that fail mapping are set aside in sync.rejected with their reason; the rest is applied.
    `--json` prints per entity the records `read` from the CRM, `applied` to canonical (of them
    `new_rows`: rows added), `rejected`; exit 5 when some were set aside (--no-strict: 0).
    """
    from crmsync.cli.progress import progress_for
    from crmsync.pull import run_pull

    with progress_for(as_json) as progress:
        result = run_pull(project, pipeline, entities=list(entities) or None, full_refresh=full_refresh,
                          progress=progress)

    def text() -> None:
        click.echo(f"pulled {pipeline} ({result.connection}) in {result.seconds:.1f} s — run {result.run_id}")
        for entity, c in result.entities.items():
            click.echo(f"  {entity:<8} read {c['read']:>7}  applied {c['applied']:>7}  new {c['new_rows']:>7}  "
                       f"rejected {c['rejected']:>5}  deleted {c['deleted']:>5}")

    echo_run(result.as_dict(), as_json=as_json, strict=strict, text=text)
