"""The module ``dagster dev -m crmsync.dagster.project`` (or a workspace's ``python_module``) loads: the
Dagster definitions of the crmsync project in ``CRMSYNC_PROJECT_DIR`` (default: the current folder)."""

from __future__ import annotations

import os

from crmsync.dagster.definitions import PROJECT_ENV, definitions

defs = definitions(os.environ.get(PROJECT_ENV) or os.getcwd())
