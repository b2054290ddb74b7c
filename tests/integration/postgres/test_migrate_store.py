"""``crmsync migrate-store``: a synced project's DuckDB store moved into Postgres through the real CLI, then
synced again from Postgres with nothing to redo; a non-empty target refused, ``--replace`` accepted."""

import json
import os
import subprocess

import duckdb

from crmsync.output import check
from crmsync.store_postgres import DEFAULT_DSN_ENV
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here

ENV = "CRMSYNC_MIGRATE_TARGET"


def migrate(project, dsn, *args):
    return subprocess.run([*crmsync_cmd(), "migrate-store", "--from", "crmsync.duckdb", "--to", "postgres",
                           "--dsn-env", ENV, *args, "--project-dir", str(project)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, ENV: dsn})


def duckdb_counts(project):
    with duckdb.connect(str(project / "crmsync.duckdb"), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN "
                             "('canonical', 'sync') OR table_schema LIKE 'raw_%'").fetchall()
        return {f"{s}.{t}": con.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in tables}


def test_a_synced_project_moves_to_postgres_and_carries_on_there(project, amo, pg_dsn, monkeypatch):
    run_here(project, "sync", "amocrm")
    before = duckdb_counts(project)
    assert before["canonical.contacts"] == 8 and before["sync.connections"] == 1 and before["sync.runs"] == 1

    r = migrate(project, pg_dsn, "--json")
    assert r.returncode == 0, r.stderr
    document = json.loads(r.stdout)
    check(document)
    tables = {t["table"]: (t["source_rows"], t["target_rows"]) for t in document["tables"]}
    caches = set(document["left_empty"])  # DuckDB's hash() values mean nothing to Postgres
    assert caches <= {"sync.push_checked"}
    copied = {name: n for name, n in before.items() if name not in caches}
    assert tables == {name: (n, n) for name, n in copied.items()}  # every table, every row, counted on both
    assert any(name.startswith("raw_amocrm.") for name in tables) and document["rows"] == sum(copied.values())

    again = migrate(project, pg_dsn)  # the target holds data now: refused, nothing touched
    assert again.returncode == 2 and "already holds data" in again.stderr and "--replace" in again.stderr
    replaced = migrate(project, pg_dsn, "--replace")
    assert replaced.returncode == 0, replaced.stderr
    assert "every count matches" in replaced.stdout and "canonical.contacts" in replaced.stdout

    # The pipeline now on the Postgres store: its connection (sealed in the vault), links and cursors came
    # along, so a sync finds nothing to create and nothing to write.
    yaml = project / "pipelines" / "amocrm.yaml"
    text = yaml.read_text()
    yaml.write_text(text[:text.index("staging:")] + f"staging:\n  type: postgres\n  dsn_env: {DEFAULT_DSN_ENV}\n")
    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    (project / "crmsync.duckdb").rename(project / "moved-away.duckdb")
    writes = sum(n for route, n in amo.stats.by_route.items() if not route.startswith("GET"))
    synced = json.loads(run_here(project, "sync", "amocrm", "--json"))
    assert synced["entities"]["contact"]["created"] == 0 and synced["pull"]["entities"]["contact"]["new_rows"] == 0
    assert synced["status"] == "ok"
    assert sum(n for route, n in amo.stats.by_route.items() if not route.startswith("GET")) == writes
