"""Options shared by command groups."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from crmsync.project import Project
from crmsync.secrets.masking import mask


def project_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--project-dir DIR`` (default: the current folder); the command receives ``project: Project``."""

    @click.option("--project-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="The crmsync project folder (with connectors/, mappings/, pipelines/) [default: .].")
    @functools.wraps(func)
    def wrapper(*args: Any, project_dir: Path | None, **kwargs: Any) -> Any:
        return func(*args, project=Project.at(project_dir), **kwargs)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (stable for scripts).")


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON; any live secret value is masked on the way out (a second net)."""
    click.echo(mask(json.dumps(data, indent=2, ensure_ascii=False, default=str)))
