"""Which dlt destination loads a store's raw tables, and in which file format: the one place that knows.

A DuckDB store: crmsync's tuned DuckDB destination (:mod:`.duckdb_dest`), fed jsonl. A Postgres store:
dlt's postgres destination with the DSN of the pipeline's ``staging.dsn_env``; jsonl is not a format it
loads, so dlt's own choice (``insert_values``) is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def store_destination(path: Path) -> tuple[Any, str | None]:
    """The dlt destination for the store at ``path`` and the ``loader_file_format`` to load it with."""
    from crmsync.store import postgres_env

    env = postgres_env(path)
    if env is not None:
        from dlt.destinations import postgres

        from crmsync.store_postgres import dsn

        return postgres(credentials=dsn(path.parent, env)), None
    from .duckdb_dest import store_destination as duckdb_destination

    return duckdb_destination(str(path)), "jsonl"
