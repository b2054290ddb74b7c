"""``crmsync demo``: the whole product on the embedded default, against fake CRMs on loopback."""

from __future__ import annotations

from pathlib import Path

import click

from crmsync.cli.options import echo_json, json_option
from crmsync.demo import run_demo


@click.command("demo")
@click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("crmsync-demo"),
              show_default=True, help="Where the demo project is created (reset on every run).")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the fake CRMs' data.")
@click.option("--contacts", type=click.IntRange(0), default=60, show_default=True)
@click.option("--deals", type=click.IntRange(0), default=40, show_default=True)
@click.option("--tasks", type=click.IntRange(0), default=50, show_default=True)
@json_option
def demo(project_dir: Path, seed: int, contacts: int, deals: int, tasks: int, as_json: bool) -> None:
    """Fake AmoCRM, Bitrix24 and HubSpot on 127.0.0.1: sync into DuckDB, edit both sides, resolve a conflict, sync."""
    progress = (lambda _: None) if as_json else (lambda msg: click.echo(f"· {msg}", err=True))
    result = run_demo(project_dir, seed=seed, contacts=contacts, deals=deals, tasks=tasks, progress=progress)
    if as_json:
        echo_json(result.as_dict())
        return
    for crm in result.crms:
        click.echo(f"\n{crm.crm}  ({crm.requests} API requests, {crm.limit_errors} rate-limit errors)")
        for entity, c in crm.first_sync.items():
            edit = crm.edit_sync.get(entity, {})
            same = f" ({c['matched']} already known from another CRM)" if c.get("matched") else ""
            click.echo(f"  {entity:<8} first sync: pulled {c['applied']:>4}{same}, "
                       f"created in {crm.crm} {c['created']:>3}   "
                       f"after edits on both sides: pulled {edit.get('applied', 0):>2}, "
                       f"created {edit.get('created', 0)}, updated {edit.get('updated', 0)}, "
                       f"conflicts {edit.get('conflicts', 0)}, "
                       f"held {edit.get('held', 0)}{_aside(c, edit)}")
        for s in crm.samples:
            phones = ", ".join(s["phones"]) or "no phone"
            click.echo(f"      {s['name']} (v{s['version']}): {phones}; {s['company'] or 'no company'}")
        c = crm.conflict
        if c:
            click.echo(f"  conflict on {c['field']} of deal {c['remote_id']}: local {c['local']}, {crm.crm} {c['crm']}"
                       f" → resolved: {c['resolved'] or 'not yet'}; the next sync updated "
                       f"{sum(e['updated'] for e in crm.resolve_sync.values())} record(s)")
        click.echo(f"  now in {crm.crm}: {', '.join(crm.in_crm) or 'nothing of ours'}")
        click.echo(f"  one more sync: {crm.quiet['writes']} writes, {crm.quiet['applied']} changes applied")
    rows = ", ".join(f"{n} {t}" for t, n in result.canonical_rows.items())
    click.echo(f"\ncanonical tables: {rows}")
    every = result.in_every_crm
    if every.get("sample"):
        sample = every["sample"]
        click.echo(f"the same person in all {len(result.crms)} CRMs (matched by e-mail or phone): {every['contacts']} "
                   f"contacts, one canonical row each, e.g. {sample['name']} {', '.join(sample['emails'])} "
                   f"(id {sample['id']})")
    click.echo(f"look inside: duckdb {result.store} \"select name, phones, company from canonical.contacts\"")
    click.echo(f"or: crmsync status --project-dir {result.project}; "
               f"crmsync conflicts list --all --project-dir {result.project}")
    click.echo(f"\nrun it as a service (scheduler, API at /docs, status page at {result.serve['page']}; "
               f"the page's API key: {result.serve['api_key']}):")
    click.echo(f"  {result.serve['command']}")


def _aside(first: dict[str, int], edit: dict[str, int]) -> str:
    """Records a CRM cannot hold as they are (e.g. more phone numbers than it has properties) are set
    aside with their reason in sync.rejected; the demo says how many rather than hide them."""
    counts = (first.get("rejected", 0), edit.get("rejected", 0))
    return f"; set aside (sync.rejected): {counts[0]} then {counts[1]}" if any(counts) else ""
