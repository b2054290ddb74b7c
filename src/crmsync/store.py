"""The staging store (DuckDB by default): one place that opens it, so every caller gets the same rules.

DuckDB allows one read-write process per file. Callers keep connections short (open, work,
commit, close) so a second crmsync process — a scheduled run next to `crmsync status`, two token
refreshes — waits briefly instead of failing; :func:`open_store` retries while the file is locked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from crmsync.errors import UserError

LOCK_WAIT_SECONDS = 30.0


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise UserError(f"cannot open the store {path}: {exc}") from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


@contextmanager
def open_store(path: Path, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the store at ``path`` (created on first use), closed on exit."""
    if read_only and not path.exists():
        raise UserError(f"no store at {path} yet: run a pull first")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only)
    try:
        if not read_only:
            con.execute("CREATE SCHEMA IF NOT EXISTS sync")
        yield con
    finally:
        con.close()
