"""``crmsync remap PIPELINE``: map the raw records in the store again with the current mappings."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_run, json_option, project_option, strict_option
from crmsync.project import Project


@click.command("remap")
@click.argument("pipeline")
@click.option("--entity", "entities", multiple=True, metavar="ENTITY",
              help="Only this entity (contact, deal, task); repeatable. Default: the pipeline's entities.")
@strict_option
@json_option
@project_option
def remap(project: Project, pipeline: str, entities: tuple[str, ...], as_json: bool, strict: bool) -> None:
    """Apply PIPELINE's current mappings to the raw records already in the store, without calling the CRM.

    Run it after changing a mapping. It merges like a pull: local (SQL) edits survive, each value the
    new mapping changes is recorded in sync.changes, values it cannot map are set aside in
    sync.rejected. Custom fields and stages come from the metadata the last pull stored.
    `--json` prints per entity the raw records `read` from the store, `applied` (changed rows),
    `unchanged`, `rejected`; exit 5 when some were set aside (--no-strict: 0).

    Records new to the store are written in slices sized to DuckDB's memory cap: with
    CRMSYNC_DUCKDB_MEMORY_LIMIT=1GB a first remap of 1M records takes about half the time
    of crmsync's own cap, for ~1.2 GB of memory instead of ~0.5 GB (README).
    """
    from crmsync.cli.progress import progress_for
    from crmsync.remap import run_remap

    with progress_for(as_json) as progress:
        result = run_remap(project, pipeline, entities=list(entities) or None, progress=progress)

    def text() -> None:
        click.echo(f"remapped {pipeline} ({result.connection}) in {result.seconds:.1f} s — run {result.run_id}")
        for entity, c in result.entities.items():
            click.echo(f"  {entity:<8} records {c['read']:>7}  applied {c['applied']:>7}  new {c['new_rows']:>7}  "
                       f"unchanged {c['unchanged']:>7}  rejected {c['rejected']:>5}  conflicts {c['conflicts']:>5}")

    echo_run(result.as_dict(), as_json=as_json, strict=strict, text=text)
