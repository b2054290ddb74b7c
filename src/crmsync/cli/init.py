"""``crmsync init``: scaffold a project."""

from __future__ import annotations

from pathlib import Path

import click

from crmsync.cli.options import echo_json, json_option

NEXT_STEPS = """\
Next steps:
  cd {dir}
  crmsync connect amocrm --name amocrm        # OAuth in the browser, or --long-lived-token
  crmsync connect bitrix24 --name bitrix24    # OAuth, or --webhook-url
  crmsync validate                            # check every spec offline
  crmsync pull amocrm                         # first sync (likewise: crmsync pull bitrix24)"""


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--force", is_flag=True, help="Overwrite spec files that already exist in DIRECTORY.")
@json_option
def init(directory: Path, force: bool, as_json: bool) -> None:
    """Create a crmsync project in DIRECTORY (default: here) from the built-in one.

    It holds the AmoCRM and Bitrix24 connectors, their mappings to the canonical contact/deal/task
    model, and pipelines `amocrm` and `bitrix24` that use connections of the same names. Existing
    spec files are never overwritten without --force.
    """
    from crmsync.scaffold import init_project

    result = init_project(directory, force=force)
    if as_json:
        echo_json(result.as_dict())
        return
    click.echo(f"Created a crmsync project in {result.root} ({len(result.created)} files).")
    for rel in result.overwritten:
        click.echo(f"  overwrote {rel}")
    click.echo(NEXT_STEPS.format(dir=_shell_path(directory)))


def _shell_path(directory: Path) -> str:
    text = str(directory)
    return f"'{text}'" if any(c.isspace() for c in text) else text
