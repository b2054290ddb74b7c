"""The staging store an integration test runs against: ``store`` is DuckDB or PostgreSQL (parametrised).

A test that takes ``store`` runs twice: on a DuckDB file in the project (the default store) and on an
empty Postgres database of its own (the throwaway server of :mod:`tests.postgres_plugin`, its DSN in
``CRMSYNC_PG_DSN`` as a user would set it). Neither run is skipped: the test set-up installs the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crmsync.project import DEFAULT_STORE, Project
from crmsync.store import POSTGRES, open_store
from crmsync.store_postgres import DEFAULT_DSN_ENV


@dataclass
class StoreUnderTest:
    engine: str   # duckdb | postgres
    name: str     # the store's name within a project (crmsync.store.store_name)

    @property
    def staging(self) -> dict[str, Any]:
        """The pipeline YAML's ``staging:`` block for this store."""
        if self.engine == "postgres":
            return {"type": "postgres", "dsn_env": DEFAULT_DSN_ENV}
        return {"type": "duckdb", "path": self.name}

    def staging_yaml(self) -> str:
        return "staging: {" + ", ".join(f"{k}: {v}" for k, v in self.staging.items()) + "}\n"

    def rows(self, project: Project | Path, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        """A query's rows (DuckDB SQL, as crmsync's own), the store opened read-only and closed again."""
        root = project if isinstance(project, Project) else Project(Path(project))
        with open_store(root.store_path(self.name), read_only=True) as con:
            return con.execute(sql, list(params)).fetchall()


@pytest.fixture(params=["duckdb", "postgres"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreUnderTest]:
    if request.param == "postgres":
        monkeypatch.setenv(DEFAULT_DSN_ENV, request.getfixturevalue("pg_dsn"))
        yield StoreUnderTest("postgres", POSTGRES + DEFAULT_DSN_ENV)
    else:
        yield StoreUnderTest("duckdb", DEFAULT_STORE)
