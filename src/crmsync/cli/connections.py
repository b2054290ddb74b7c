"""``crmsync connections list|show|delete|test|rotate-key``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.connections import manage, repository
from crmsync.project import Project


@click.group("connections")
def connections() -> None:
    """Stored connections: status, details (never secrets), deletion, key rotation."""


@connections.command("list")
@json_option
@project_option
def list_(project: Project, as_json: bool) -> None:
    """Each connection with its status (ok / needs re-authorisation / failing) and last successful call."""
    rows = manage.list_connections(project)
    if as_json:
        echo_json({"connections": [r.to_dict() for r in rows]})
        return
    if not rows:
        click.echo("no connections yet: create one with `crmsync connect`")
        return
    header = ("NAME", "CRM", "AUTH", "STATUS", "LAST OK (UTC)", "TOKEN EXPIRES (UTC)")
    table = [header] + [(r.name, r.crm, r.auth, r.status, r.last_ok_at or "-", r.token_expires_at or "-")
                        for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip())
    for r in rows:
        if r.fix:
            click.echo(f"{r.name}: {r.status}; fix: {r.fix}")


@connections.command("show")
@click.argument("name")
@json_option
@project_option
def show(project: Project, name: str, as_json: bool) -> None:
    """Details of one connection. Secrets are never shown, only whether each is set."""
    data = manage.show_connection(project, name)
    if as_json:
        echo_json(data)
        return
    for key, value in data.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        click.echo(f"{key + ':':<18} {'-' if value is None else value}")


@connections.command("delete")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (scripts; required with --json "
                                                 "when stdin is not a terminal).")
@json_option
@project_option
def delete(project: Project, name: str, yes: bool, as_json: bool) -> None:
    """Delete a connection and its stored credentials (asks first; --yes to skip). Pipelines that use it
    stop working until it is connected again."""
    from crmsync.errors import UserError

    repository.get(project, name)  # an unknown name fails here, before any question
    if not yes:
        if as_json or not sys.stdin.isatty():
            raise UserError(f"deleting connection {name!r} needs confirmation: add --yes",
                            hint=f"crmsync connections delete {name} --yes")
        if not click.confirm(f"Delete connection {name!r} and its stored credentials?", default=False, err=True):
            raise UserError(f"connection {name!r} was not deleted", hint="add --yes to delete without asking")
    result = manage.delete_connection(project, name)
    echo_json(result) if as_json else click.echo(f"deleted connection {name}")


@connections.command("test")
@click.argument("name")
@json_option
@project_option
def test(project: Project, name: str, as_json: bool) -> None:
    """Make the connector's cheap check call through the connection (refreshing its token if needed)."""
    result = manage.test_connection(project, name)
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(f"{name}: ok in {result.seconds:.2f} s" + (" (token refreshed)" if result.refreshed else ""))


@connections.command("rotate-key")
@click.option("--new-key-file", type=click.Path(dir_okay=False, path_type=Path),
              help="Only when the key comes from CRMSYNC_SECRET_KEY: where to write the new key.")
@json_option
@project_option
def rotate_key(project: Project, new_key_file: Path | None, as_json: bool) -> None:
    """Re-encrypt every connection under a new vault key (one transaction)."""
    result = manage.rotate_key(project, new_key_file)
    if as_json:
        echo_json(result.to_dict())
        return
    click.echo(f"re-encrypted {result.connections} connection(s): key {result.old_key_id} -> {result.new_key_id} "
               f"({result.key_source})")
    for step in result.next_steps:
        click.echo(f"next: {step}")
