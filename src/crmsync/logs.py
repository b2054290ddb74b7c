"""The project's log file (``.crmsync/logs/crmsync.log``): every record passes the secret mask first.

``CRMSYNC_LOG_LEVEL`` (default INFO; DEBUG also records each HTTP request line from urllib3, masked).
"""

from __future__ import annotations

import logging
import os

from crmsync.project import Project
from crmsync.secrets.masking import MaskingFilter

LOG_FILE = "crmsync.log"
_installed: set[str] = set()


def log_to_project(project: Project) -> logging.Handler | None:
    """Send crmsync's (and urllib3's) log records to the project's log file; idempotent per file."""
    path = project.logs_dir / LOG_FILE
    if str(path) in _installed:
        return None
    project.logs_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    level = getattr(logging, os.environ.get("CRMSYNC_LOG_LEVEL", "INFO").upper(), logging.INFO)
    for name in ("crmsync", "urllib3"):
        logger = logging.getLogger(name)
        logger.setLevel(min(level, logger.level or logging.WARNING))
        logger.addHandler(handler)
    _installed.add(str(path))
    return handler
