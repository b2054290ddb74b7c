"""Where a dry run works when it cannot write the store (a BI tool or an analyst holds it open read-only,
or the file is read-only): on a throwaway copy of the project's state.

A dry run reads the CRM (dlt loads raw tables and moves its cursors) and applies and plans inside a
transaction it rolls back: it needs write access. On a copy of the store and of dlt's folder it
needs none, and the real store and cursors stay exactly as they were. The specs are the project's own
(linked, not copied); the connection's session is made from the real project beforehand, so a token
refreshed meanwhile is saved where the next real run finds it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb

from crmsync.project import SPEC_DIRS, Project


def cannot_write(path: Path) -> bool:
    """The store exists and this process could not open it for writing right now."""
    if not path.exists():
        return False
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return True
    from crmsync.errors import BusyError, UserError
    from crmsync.store import open_store

    try:  # the store's own open: this process's read round and checkpoint are waited for, not taken for a lock
        with open_store(path, wait=False):
            return False
    except (BusyError, duckdb.ConnectionException):  # another process holds it; or this one, read-only
        return True
    except UserError:  # damaged, or not a store: the real run says so
        return False


def quiet_session(session: object) -> None:
    """The session's first good answer would record "last successful call" in the real store, which
    cannot be written now: a dry run leaves that alone (the next real run records it)."""
    auth = getattr(session, "auth", None)
    if auth is not None and hasattr(auth, "_ok_recorded"):
        auth._ok_recorded = True


@contextlib.contextmanager
def shadow_project(project: Project, store: str) -> Iterator[Project]:
    """A project in a temporary folder: the same specs, copies of the store (``store`` relative to the
    root) and of dlt's folder. Removed on exit."""
    from crmsync.waiting import notify

    source = project.store_path(store)
    with tempfile.TemporaryDirectory(prefix="crmsync-dry-run-") as tmp:
        root = Path(tmp)
        for name in (*SPEC_DIRS, "config"):
            if (project.root / name).exists():
                (root / name).symlink_to(project.root / name, target_is_directory=True)
        target = root / Path(store)
        target.parent.mkdir(parents=True, exist_ok=True)
        notify(f"the store {source.name} cannot be written now (another process holds it, or it is read-only): "
               f"the dry run works on a copy")
        for suffix in ("", ".wal"):
            if Path(f"{source}{suffix}").exists():
                shutil.copy2(f"{source}{suffix}", f"{target}{suffix}")
        if project.dlt_dir.exists():
            shutil.copytree(project.dlt_dir, Project(root).dlt_dir, symlinks=True)
        yield Project(root)
