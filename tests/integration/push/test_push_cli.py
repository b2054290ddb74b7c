"""``crmsync push`` end to end: a project, a connection to the fake, pull, an SQL edit, dry run, push."""

import json

import duckdb
import pytest

from crmsync.project import Project
from crmsync.store import open_store
from tests.integration.test_pull_cli import run, run_here
from tests.store_plugin import both_stores, project_store, use_store


@pytest.fixture
def project(tmp_path, store):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    use_store(tmp_path / "p", store)
    return tmp_path / "p"


def sql(project, statement, params=()):
    """A statement on the project's store (DuckDB SQL, as crmsync's own; translated on a Postgres store)."""
    store = project_store(project)
    if store.engine == "postgres":
        with open_store(Project(project).store_path(store.name)) as pg:
            return pg.execute(statement, list(params)).fetchall()
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    try:
        return con.execute(statement, list(params)).fetchall()
    finally:
        con.close()


@both_stores
def test_dry_run_then_push(project, fake_crm):
    server = fake_crm("bitrix24", contacts=20, deals=5, tasks=5, rate_limit=False)
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", server.url + "/rest/1/demo/")
    run_here(project, "pull", "bitrix24", "--json")
    (cid,) = sql(project, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(project, "UPDATE canonical.contacts SET last_name = 'Тестова' WHERE id = ?", [cid])

    shown = run_here(project, "push", "bitrix24", "--dry-run")
    assert "would push bitrix24" in shown and f'update {cid}' in shown and '"last_name": "Тестова"' in shown
    planned = json.loads(run_here(project, "push", "bitrix24", "--dry-run", "--json"))
    assert planned["dry_run"] and planned["entities"]["contact"]["updated"] == 1
    assert sql(project, "SELECT count(*) FROM sync.runs WHERE kind = 'push'") == [(0,)]

    done = json.loads(run_here(project, "push", "bitrix24", "--json"))
    assert done["entities"]["contact"] == {"created": 0, "updated": 1, "deleted": 0, "conflicts": 0, "rejected": 0,
                                           "held": 0}
    assert sql(project, "SELECT kind, status FROM sync.runs WHERE run_id = ?", [done["run_id"]]) == [("push", "ok")]
    again = json.loads(run_here(project, "push", "bitrix24", "--entity", "contact", "--json"))
    assert again["entities"] == {"contact": {"created": 0, "updated": 0, "deleted": 0, "conflicts": 0,
                                             "rejected": 0, "held": 0}}


def test_push_errors_are_specific(project):
    r = run(project, "push", "amocrn", ok=False)
    assert r.returncode == 2 and "no pipeline 'amocrn' (did you mean 'amocrm'?)" in r.stderr
    r = run(project, "push", "amocrm", "--entity", "lead", ok=False)
    assert r.returncode == 2 and "does not sync 'lead'" in r.stderr and "Traceback" not in r.stderr
