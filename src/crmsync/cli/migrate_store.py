"""``crmsync migrate-store --from crmsync.duckdb --to postgres``: move a project's store to Postgres."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.project import DEFAULT_STORE, Project


@click.command("migrate-store")
@click.option("--from", "source", default=DEFAULT_STORE, show_default=True, metavar="FILE",
              help="The DuckDB store to copy (a path in the project, as in staging.path).")
@click.option("--to", "target", type=click.Choice(["postgres"]), default="postgres", show_default=True,
              help="The kind of store to copy it into.")
@click.option("--dsn-env", metavar="VAR",
              help="The environment variable holding the Postgres DSN [default: the pipelines' staging.dsn_env, "
                   "else CRMSYNC_PG_DSN]. The DSN is read from it (or config/secrets.toml), never from the "
                   "command line.")
@click.option("--replace", is_flag=True, help="Drop the target's canonical, sync and raw_* schemas first "
                                              "(without it a target that holds data is refused).")
@json_option
@project_option
def migrate_store(project: Project, source: str, target: str, dsn_env: str | None, replace: bool,
                  as_json: bool) -> None:
    """Copy the project's DuckDB store into a Postgres store: canonical.*, sync.* (runs, history, links,
    outbox, conflicts, the vault's sealed connections) and the raw tables, in one transaction, then compare
    the row count of every table. Point the pipelines' staging at the Postgres store afterwards
    (`staging: {type: postgres, dsn_env: VAR}`); workers elsewhere need the same vault key."""
    from crmsync.migrate_store import migrate_store as run

    result = run(project, source, dsn_env=dsn_env, replace=replace)
    if as_json:
        echo_json(result.as_dict())
        return
    data = result.as_dict()
    click.echo(f"copied {source} into the Postgres store (${data['dsn_env']}) in {result.seconds:.1f} s"
               + (" (replaced what was there)" if replace else ""))
    width = max((len(t.table) for t in result.tables), default=5)
    click.echo(f"  {'table':<{width}}  {'source':>9}  {'postgres':>9}")
    for t in result.tables:
        click.echo(f"  {t.table:<{width}}  {t.source:>9}  {t.target:>9}  {'ok' if t.source == t.target else 'DIFFERS'}")
    click.echo(f"{len(result.tables)} tables, {data['rows']} rows: every count matches")
