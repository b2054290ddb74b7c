"""A pull whose read round cannot be written out (the disk fails at the round's checkpoint) says so: the
run fails with the store's path and DuckDB's words, sync.runs records why, and nothing committed is lost."""

import threading

import duckdb
import pytest

import crmsync.store as store
from crmsync.errors import UserError
from crmsync.project import Project
from crmsync.pull import run_pull
from tests.integration.test_pull_cli import project, run_here  # noqa: F401  (project is a fixture)


def test_a_pull_whose_round_cannot_be_written_out_fails_saying_why(project, fake_crm, monkeypatch):  # noqa: F811
    server = fake_crm("amocrm", contacts=40, deals=0, tasks=0, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    where = Project.at(project)

    reads_cap = store._memory_cap

    def failing_disk(con):  # the first thing the round's write-out asks of the store (on its own thread)
        if threading.current_thread().name == "crmsync-checkpoint":
            raise duckdb.IOException("IO Error: Could not write file: No space left on device")
        return reads_cap(con)  # the apply's own reads of the cap (slices sized to it) are not the write-out

    monkeypatch.setattr(store, "_memory_cap", failing_disk)
    with pytest.raises(UserError, match="No space left on device") as told:
        run_pull(where, "amocrm")  # the whole command: the run is recorded
    assert str(where.store_path()) in str(told.value)
    monkeypatch.undo()
    con = duckdb.connect(str(where.store_path()), read_only=True)
    try:
        runs = con.execute("SELECT kind, status, error FROM sync.runs").fetchall()
        assert [(k, s) for k, s, _ in runs] == [("pull", "failed")] and "No space left" in runs[0][2], runs
        assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone() == (40,)  # the round's rows kept
    finally:
        con.close()
