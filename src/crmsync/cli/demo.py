"""``crmsync demo``: the whole product on the embedded default, against fake CRMs on loopback."""

from __future__ import annotations

import json

import click

from crmsync.demo import run_demo


@click.command("demo")
@click.option("--seed", type=int, default=42, show_default=True, help="Seed of the fake CRMs' data.")
@click.option("--contacts", type=click.IntRange(0), default=60, show_default=True)
@click.option("--deals", type=click.IntRange(0), default=40, show_default=True)
@click.option("--tasks", type=click.IntRange(0), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo(seed: int, contacts: int, deals: int, tasks: int, as_json: bool) -> None:
    """Start fake AmoCRM and Bitrix24 on 127.0.0.1, read what they hold over their APIs, stop them."""
    progress = (lambda _: None) if as_json else (lambda msg: click.echo(f"· {msg}", err=True))
    result = run_demo(seed=seed, contacts=contacts, deals=deals, tasks=tasks, progress=progress)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
        return
    for crm in result.crms:
        click.echo(f"\n{crm.crm} ({crm.url}, {crm.requests} API requests)")
        for ent in crm.entities:
            click.echo(f"  {ent.entity:<9} {ent.count:>6}")
            for sample in ent.samples:
                click.echo(f"      e.g. {sample}")
