"""A CLI run of the connection in progress: the server's run of it is skipped, says why, and is
recorded; the CLI and the store stay usable beside the server."""

from filelock import FileLock

from tests.integration.serve.served import make_project
from tests.integration.sync.test_sync_cli import sql
from tests.integration.test_pull_cli import run_here


def test_a_run_while_the_cli_holds_the_connection_is_skipped_and_says_so(tmp_path, fake_crm, serve):
    project, _ = make_project(tmp_path, fake_crm)
    served = serve(project, "--no-schedule")
    locks = project / ".crmsync" / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with FileLock(str(locks / "run-amocrm.lock")):  # what a CLI `crmsync sync` holds
        job = served.wait_job(served.post("/api/pipelines/amocrm/runs", {"kind": "sync"})["job_id"])
    assert job["status"] == "skipped" and job["exit_code"] == 4
    assert "another crmsync run of connection 'amocrm' is in progress" in job["error"]
    assert sql(project, "SELECT status, error FROM sync.runs WHERE pipeline = 'amocrm'")[0][0] == "skipped"

    # beside the idle server the CLI writes the store, and then the server reads what it wrote
    run_here(project, "sync", "amocrm", "--json")
    statuses = [r["status"] for r in served.get("/api/runs?pipeline=amocrm")["runs"]]
    assert statuses == ["ok", "skipped"]  # the CLI sync: one run, its pull and push parts in one row
