"""The staging store an integration test runs against: ``store`` is DuckDB or PostgreSQL.

``store`` is DuckDB unless the test is marked :data:`both_stores`; then it runs twice: on a DuckDB file in
the project (the default store) and on an empty Postgres database of its own (the throwaway server of
:mod:`tests.postgres_plugin`, its DSN in ``CRMSYNC_PG_DSN`` as a user would set it). Neither run is
skipped: the test set-up installs the server. Fixtures that make a project (``project`` of the CLI
tests) take ``store`` and write its ``staging:`` block into the pipelines, so a suite's helpers follow.
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


STORES = ["duckdb", "postgres"]
both_stores = pytest.mark.parametrize("store", STORES, indirect=True)


@pytest.fixture
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[StoreUnderTest]:
    if getattr(request, "param", "duckdb") == "postgres":
        monkeypatch.setenv(DEFAULT_DSN_ENV, request.getfixturevalue("pg_dsn"))
        yield StoreUnderTest("postgres", POSTGRES + DEFAULT_DSN_ENV)
    else:
        yield StoreUnderTest("duckdb", DEFAULT_STORE)


def use_store(project_root: Path, store: StoreUnderTest) -> None:
    """Point every pipeline of the project at ``store`` (its ``staging:`` block rewritten)."""
    import yaml

    if store.engine == "duckdb":
        return  # the scaffold's pipelines already use the default DuckDB file
    for path in sorted((project_root / "pipelines").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["staging"] = store.staging
        path.write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")


def project_store(project_root: Path) -> StoreUnderTest:
    """The store the project's pipelines use (all the same in these tests)."""
    import yaml

    for path in sorted((project_root / "pipelines").glob("*.yaml")):
        staging = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("staging") or {}
        if staging.get("type") == "postgres":
            return StoreUnderTest("postgres", POSTGRES + staging.get("dsn_env", DEFAULT_DSN_ENV))
    return StoreUnderTest("duckdb", DEFAULT_STORE)
