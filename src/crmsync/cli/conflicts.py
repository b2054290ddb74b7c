"""``crmsync conflicts list|resolve``: fields changed on both sides, and the decisions on them."""

from __future__ import annotations

import json

import click

from crmsync.cli.options import echo_json, json_option, project_option
from crmsync.errors import UserError
from crmsync.project import Project


@click.group("conflicts")
def conflicts() -> None:
    """Fields changed both in a CRM and locally since the last sync (sync.conflicts).

    Each pipeline's `conflicts:` policy settles most clashes by itself (and keeps a row for each);
    `manual` ones wait here, held back from every push, until resolved.
    """


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@conflicts.command("list")
@click.option("--all", "everything", is_flag=True, help="Also the ones a policy or a person already resolved.")
@click.option("--entity", help="Only this entity (contact, deal, task).")
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True, help="At most this many rows.")
@json_option
@project_option
def list_(project: Project, everything: bool, entity: str | None, limit: int, as_json: bool) -> None:
    """Pending conflicts (newest first): field, base, local and CRM values, and the id to resolve."""
    from crmsync.conflict_review import list_conflicts

    result = list_conflicts(project, everything=everything, entity=entity, limit=limit)
    if as_json:
        echo_json(result.as_dict())
        return
    if not result.conflicts:
        click.echo("no pending conflicts" if not everything else "no conflicts recorded")
        return
    for c in result.conflicts:
        outcome = c["status"] if c["status"] != "resolved" else f"resolved: {c['resolution']} ({c['policy']})"
        click.echo(f"{c['conflict_id']}  {c['entity']}.{c['field']}  {c['canonical_id']} via {c['connection']}  "
                   f"[{outcome}]")
        click.echo(f"    base {_show(c['base'])}  local {_show(c['local'])}  crm {_show(c['crm'])}")
    if result.pending:
        click.echo(f"{result.pending} pending: crmsync conflicts resolve ID --take local|crm (or --value JSON)")


@conflicts.command("resolve")
@click.argument("ids", nargs=-1)
@click.option("--take", type=click.Choice(["local", "crm"]), help="Keep the local value or the CRM's value.")
@click.option("--value", "raw_value", metavar="JSON", help='Keep this value instead, as JSON ("text", 42, null).')
@click.option("--all", "every_pending", is_flag=True, help="Every pending conflict (narrow with --entity/--field).")
@click.option("--entity", help="With --all: only this entity.")
@click.option("--field", "field_name", help="With --all: only this canonical field (e.g. amount, custom.source).")
@json_option
@project_option
def resolve(project: Project, ids: tuple[str, ...], take: str | None, raw_value: str | None, every_pending: bool,
            entity: str | None, field_name: str | None, as_json: bool) -> None:
    """Decide pending conflicts IDS: the canonical row gets the chosen value now, and the next
    push or sync writes it to every CRM that holds something else."""
    from crmsync.conflict_review import resolve as do_resolve

    value = None
    if raw_value is not None:
        try:
            value = json.loads(raw_value)
        except json.JSONDecodeError as exc:
            raise UserError(f"--value must be JSON (a string needs quotes: '\"text\"'): {exc}") from None
    result = do_resolve(project, ids=list(ids), take=take, value=value, has_value=raw_value is not None,
                        every_pending=every_pending, entity=entity, field_name=field_name)
    if as_json:
        echo_json(result.as_dict())
        return
    for r in result.resolved:
        click.echo(f"{r['conflict_id']}  {r['entity']}.{r['field']} = {_show(r['value'])}  ({r['resolution']})")
    click.echo(f"resolved {len(result.resolved)}; run `crmsync sync PIPELINE` (or push) to send the choice")
