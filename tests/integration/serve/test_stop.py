"""SIGTERM while a run is writing to the CRM: the server interrupts it (no grace here), the open
transaction rolls back, nothing is half-written; the next run — the started server's catch-up or a
manual one — finishes the job, and no record reaches the CRM twice."""

import signal
import time

from tests.integration.serve.served import make_project, wait_for
from tests.integration.sync.test_sync_cli import sql
from tests.integration.test_pull_cli import run_here

NEW = 300  # AmoCRM creates in bulk of 250: two batches


def names(server):
    return [r.get("first_name") for r in server.app.table("contacts").rows.values()]


def pushes(project):
    return sql(project, "SELECT count(*) FROM sync.runs WHERE kind = 'push' AND status = 'ok'")[0][0]


def test_sigterm_during_a_push_leaves_nothing_half_written(tmp_path, fake_crm, serve):
    # AmoCRM's real limit (7 requests/s) spaces the batches: the test sees the first land before the second goes
    project, amo = make_project(tmp_path, fake_crm, schedule="manual", rate_limit=True)
    run_here(project, "sync", "amocrm", "--json")
    before = len(names(amo))
    pushed = pushes(project)
    sql(project, f"INSERT INTO canonical.contacts (id, version, first_name, last_name, name) "
                 f"SELECT 'term-' || i, 1, 'Term' || i, 'Test', 'Term' || i || ' Test' FROM range({NEW}) t(i)")

    served = serve(project, "--stop-grace", "0")
    job = served.post("/api/pipelines/amocrm/runs", {"kind": "push"})
    # the first batch is in the CRM: from now the second request hangs until the server is stopped
    wait_for(lambda: len(names(amo)) > before, 60, "the first batch of creates", every=0.002)
    amo.faults.add("hang", count=1, path="/api/v4/contacts", hang_seconds=4)
    started = time.monotonic()
    served.stop(signal.SIGTERM)
    assert time.monotonic() - started < 30
    assert "Traceback" not in served.output()
    written = len(names(amo))
    assert before < written < before + NEW  # stopped mid-run
    assert pushes(project) == pushed  # the interrupted push recorded no success

    again = serve(project)
    done = again.wait_job(again.post("/api/pipelines/amocrm/runs", {"kind": "sync"})["job_id"])
    assert done["status"] == "ok", done
    created = [n for n in names(amo) if str(n).startswith("Term")]
    assert sorted(created) == sorted(f"Term{i}" for i in range(NEW))  # each exactly once
    assert sql(project, "SELECT count(DISTINCT remote_id), count(*) FROM sync.links WHERE canonical_id LIKE 'term-%'"
               ) == [(NEW, NEW)]
    assert sql(project, "SELECT count(*) FROM sync.outbox WHERE status IN ('sending', 'pending')") == [(0,)]
    quiet = again.wait_job(again.post("/api/pipelines/amocrm/runs", {"kind": "sync"})["job_id"])
    assert sum(c["created"] + c["updated"] for c in quiet["result"]["entities"].values()) == 0
    assert job["status"] in ("queued", "running")
