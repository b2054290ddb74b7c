"""The module ``dagster dev -m crmsync.dagster.project`` (or a workspace's ``python_module``) loads: the
Dagster definitions of the crmsync project in ``CRMSYNC_PROJECT_DIR`` (default: the current folder)."""

from __future__ import annotations

import os

from crmsync.dagster.definitions import PROJECT_ENV, definitions
from crmsync.errors import UserError
from crmsync.project import Project


def _project_dir() -> str:
    chosen = os.environ.get(PROJECT_ENV)
    if chosen:
        return chosen
    try:
        return str(Project.at(os.getcwd()).root)
    except UserError:
        raise UserError(f"set {PROJECT_ENV} to a crmsync project folder: it is not set, and the current folder "
                        f"{os.getcwd()} has none of connectors/, mappings/, pipelines/") from None


defs = definitions(_project_dir())
