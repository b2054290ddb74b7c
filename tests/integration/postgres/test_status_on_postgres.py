"""A project whose pipeline uses a Postgres store answers `crmsync status`, `crmsync runs` and the server's
API (the status page's data) from that store, as it does from a DuckDB file."""

import json
import os

import pytest

from tests.integration.serve.conftest import serve  # noqa: F401 (the fixture)
from tests.integration.serve.served import LEAP_DAY, set_pipeline
from tests.integration.test_pull_cli import run_here


@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # DuckDB's: tests/integration/serve, test_runs
def test_status_runs_and_the_served_api_read_the_project_s_store(tmp_path, fake_crm, store, serve):  # noqa: F811
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    (project / "pipelines" / "bitrix24.yaml").unlink()
    # a schedule whose slot cannot come while the server runs (a run of its own would make the lists differ)
    set_pipeline(project, "amocrm", schedule=LEAP_DAY, entities=["contact"], conflicts={"default": "crm_wins"},
                 staging=store.staging)
    amo = fake_crm("amocrm", contacts=15, deals=2, tasks=2, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,  # kept in the Postgres store
             "--long-lived-token", "demo-token")
    synced = json.loads(run_here(project, "sync", "amocrm", "--json"))
    assert synced["pull"]["entities"]["contact"]["read"] == 15
    assert (project / "crmsync.duckdb").exists() == (store.engine == "duckdb")  # Postgres: nothing in a file

    status = json.loads(run_here(project, "status", "--json"))
    [pipeline] = [p for p in status["pipelines"] if p["pipeline"] == "amocrm"]
    assert pipeline["last_run"]["run_id"] == synced["run_id"] and pipeline["last_run"]["status"] == "ok", pipeline
    assert pipeline["last_run"]["parts"]["pull"]["entities"]["contact"]["new_rows"] == 15
    runs = json.loads(run_here(project, "runs", "--json"))["runs"]
    assert [r["run_id"] for r in runs][:1] == [synced["run_id"]] and runs[0]["status"] == "ok"

    served = serve(project, env=dict(os.environ))
    assert served.get("/api/runs?limit=100")["runs"] == json.loads(run_here(project, "runs", "--json", "--limit",
                                                                             "100"))["runs"]
    # The served status is what the CLI prints (but for its envelope), schedule and times included.
    served_status = served.get("/api/status")
    printed = json.loads(run_here(project, "status", "--json"))
    assert served_status == {"pipelines": printed["pipelines"]}
    page = served.get("/api/pipelines")
    assert "amocrm" in json.dumps(page)
