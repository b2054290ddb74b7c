"""``crmsync api-keys create|list|revoke``: keys for the operations API of `crmsync serve`."""

from __future__ import annotations

import json

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.project import Project


@click.group("api-keys")
def api_keys() -> None:
    """API keys for `crmsync serve`, sent as `Authorization: Bearer KEY`.

    \b
    Scopes (each includes the ones before it):
      read     list pipelines, runs, conflicts, connections; /metrics
      operate  start runs, resolve conflicts
      admin    create and delete connections, OAuth
    A key is shown once, when created; only its hash is kept (.crmsync/api-keys.json).
    """


@api_keys.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "operate", "admin"]), default="read", show_default=True)
@json_option
@project_option
def create(project: Project, name: str, scope: str, as_json: bool) -> None:
    """Make key NAME and print it (the only time it is shown)."""
    from crmsync.serve.keys import create_key

    result = create_key(project, name, scope)
    if as_json:
        # the envelope, but not echo_json: its masking hides any "token" field, and this is the one time
        # the key is shown
        from crmsync.cli.options import command_name
        from crmsync.output import success

        click.echo(json.dumps(success(command_name(), result), indent=2))
        return
    click.echo(result["token"])
    click.echo(f"key {name} ({result['key_id']}, scope {scope}): copy it now, it is not shown again", err=True)


@api_keys.command("list")
@json_option
@project_option
def list_(project: Project, as_json: bool) -> None:
    """Keys with their scope and state (never the key itself)."""
    from crmsync.serve.keys import list_keys

    result = list_keys(project)
    if as_json:
        echo_json(result)
        return
    if not result["keys"]:
        click.echo("no API keys: crmsync api-keys create NAME --scope read|operate|admin")
    for k in result["keys"]:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        click.echo(f"{k['key_id']}  {k['name']:<20} {k['scope']:<8} created {k['created_at']}  {state}")


@api_keys.command("revoke")
@click.argument("name_or_id")
@json_option
@project_option
def revoke(project: Project, name_or_id: str, as_json: bool) -> None:
    """Revoke a key (by name or id): it stops working at once."""
    from crmsync.serve.keys import revoke_key

    result = revoke_key(project, name_or_id)
    if as_json:
        echo_json(result)
        return
    for k in result["revoked"]:
        click.echo(f"revoked {k['name']} ({k['key_id']})")
