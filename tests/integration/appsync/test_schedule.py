"""The scheduler runs each pipeline for every tenant that has its connection (the pipeline YAML is the
template), in the tenant's own folder and store; a tenant without the connection gets no run."""

import duckdb

from tests.integration.serve.served import wait_for


def test_each_slot_runs_for_every_tenant_with_the_connection(app_server, fake_crm):
    server = app_server(schedule="* * * * *", time_scale=120)   # a scheduled minute in half a second
    amo = fake_crm("amocrm", contacts=3, deals=0, tasks=0, rate_limit=False)
    server.connect("acme", amo)
    assert server.call("GET", "/api/sync/initial", "globex").status_code == 200   # a tenant, without connections
    sync = server.app.state.app_sync
    acme, globex = sync.state("acme"), sync.state("globex")

    done = wait_for(lambda: [j for j in acme.runner.jobs() if j.status == "ok"], 120, "a scheduled run of acme")
    assert done[0].trigger in ("schedule", "catch-up") and done[0].kind == "sync"
    assert globex.runner.jobs() == []
    lock = acme.runner.store_lock
    with lock, duckdb.connect(str(server.tenant_dir("acme") / "crmsync.duckdb")) as con:
        assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM sync.runs WHERE status = 'ok'").fetchone()[0] >= 1
    status = server.ok("GET", "/api/sync/status", "acme")
    assert [p["pipeline"] for p in status["pipelines"]] == ["amocrm"] and status["pipelines"][0]["next_run"]
    assert status["runs"] and status["runs"][0]["pipeline"] == "amocrm"
    assert server.app.state.runner.jobs() == []  # the project's own store has no connection: no run that only fails
