"""``crmsync validate``: check every spec of a project offline, all problems in one run."""

from __future__ import annotations

import click

from crmsync.cli.options import echo_json, project_option
from crmsync.project import Project


@click.command("validate")
@project_option
@click.option("--json", "as_json", is_flag=True,
              help='Print {"ok", "problems", "files"} in the JSON envelope (README: JSON output).')
def validate(project: Project, as_json: bool) -> None:
    """Check connectors/, mappings/ and pipelines/ against their schemas and against each other.

    Every problem is printed as FILE:LINE: FIELD.PATH: what is wrong (allowed: …), sorted by file
    and line. Exit code 0 when all is well, 2 when there are problems.
    """
    from crmsync.specs.project_specs import load_specs

    specs = load_specs(project)
    if as_json:
        echo_json(specs.as_dict(), exit_code=0 if specs.ok else 2,
                  error=None if specs.ok else {"code": "config", "message": summary(len(specs.files), specs.problems),
                                               "hint": "fix each problem listed under problems",
                                               "transient": False})
    else:
        for problem in specs.problems:
            click.echo(str(problem))
        click.echo(summary(len(specs.files), specs.problems))
    if not specs.ok:
        raise click.exceptions.Exit(2)


def summary(files: int, problems: list) -> str:
    checked = f"{files} file{'s' if files != 1 else ''} checked"
    if not problems:
        return f"{checked}: no problems"
    bad = len({p.file for p in problems})
    return (f"{checked}: {len(problems)} problem{'s' if len(problems) != 1 else ''} "
            f"in {bad} file{'s' if bad != 1 else ''}")
