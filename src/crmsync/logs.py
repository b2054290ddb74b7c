"""The project's log folder (``.crmsync/logs/``): ``crmsync.log`` records every command's start, end and
error; a crash (a bug) also gets a file of its own there with the traceback. Every record passes the
secret mask first.

``CRMSYNC_LOG_LEVEL`` (default INFO; DEBUG also records each HTTP request line from urllib3, masked).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from pathlib import Path

from crmsync.project import Project
from crmsync.secrets.masking import MaskingFilter, mask

LOG_FILE = "crmsync.log"
_installed: dict[str, logging.Handler] = {}  # at most one: the project this process works on now
_current: list[Project] = []  # that project (the crash file goes there)
log = logging.getLogger("crmsync")
LOGGERS = ("crmsync", "urllib3")


def log_to_project(project: Project) -> logging.Handler | None:
    """Send crmsync's (and urllib3's) log records to the project's log file, and only to it: a process
    that works on several projects in turn (tests, a server) never writes one's records into another's."""
    path = str(project.logs_dir / LOG_FILE)
    _current[:] = [project]
    if path in _installed:
        return None
    for old, handler in list(_installed.items()):
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(handler)
        handler.close()
        del _installed[old]
    try:
        project.logs_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:  # a read-only project still runs read-only commands
        return None
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"))
    level = getattr(logging, os.environ.get("CRMSYNC_LOG_LEVEL", "INFO").upper(), logging.INFO)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(min(level, logger.level or logging.WARNING))
        logger.addHandler(handler)
    _installed[path] = handler
    return handler


def current_project() -> Project | None:
    return _current[0] if _current else None


def write_crash(text: str) -> Path:
    """The traceback of a crash, masked, in the project's log folder (the system's temp folder only
    when the command never got as far as a project); also summarised in ``crmsync.log``."""
    project = current_project()
    folder = project.logs_dir if project is not None else Path(tempfile.gettempdir())
    name = f"crmsync-crash-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{os.getpid()}.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        path.write_text(mask(text), encoding="utf-8")
    except OSError:
        path = Path(tempfile.gettempdir()) / name
        path.write_text(mask(text), encoding="utf-8")
    log.error("crash; traceback in %s\n%s", path, mask(text))
    return path
