"""A run whose Postgres advisory lock is lost mid-push (its session ended: a server restart, the network,
``pg_terminate_backend``) notices before its next write to the CRM and stops with a transient error; the
outbox keeps what was not sent, and the next run finishes the job with no duplicate."""

import json

import psycopg
import pytest

from crmsync.errors import BUSY
from tests.integration.sync.test_killed_push import first_names
from tests.integration.sync.test_sync_cli import project, sql  # noqa: F401  (project is a fixture)
from tests.integration.test_pull_cli import run, run_here

NEW = 120  # Bitrix24 creates up to 50 a `batch` call: three batches


def _end_the_lock_session_during_the_first_write(server, dsn):
    """The fake CRM, on the first create batch it gets, has the server end the run lock's session (as an
    administrator or a server restart would) before it answers; the batch itself is applied and answered."""
    handle, writes = server.app.handle, []

    def handle_and_end(request):
        if "crm.contact.add" in server.writes(request):
            writes.append(request.path)
            if len(writes) == 1:
                with psycopg.connect(dsn, autocommit=True) as admin:
                    ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                                          "application_name = 'crmsync lock crmsync:run-bitrix24'").fetchall()
                assert ended == [(True,)], ended
        return handle(request)

    server.app.handle = handle_and_end  # this test's own fake: no other test sees it
    return writes


@pytest.mark.parametrize("store", ["postgres"], indirect=True)  # a lock file cannot be lost while its process lives
def test_a_push_that_loses_its_advisory_lock_stops_before_its_next_write(project, fake_crm, pg_dsn):  # noqa: F811
    server = fake_crm("bitrix24", contacts=10, deals=2, tasks=1, rate_limit=False)
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", server.url + "/rest/1/demo/")
    run_here(project, "sync", "bitrix24", "--json")
    before = len(first_names(server, "bitrix24"))
    sql(project, f"INSERT INTO canonical.contacts (id, version, first_name, last_name, name) "
                 f"SELECT 'lock-' || i, 1, 'Lock' || i, 'Test', 'Lock' || i || ' Test' FROM range({NEW}) t(i)")
    writes = _end_the_lock_session_during_the_first_write(server, pg_dsn)

    lost = run(project, "push", "bitrix24", "--json", ok=False)  # a process of its own, as a worker's run

    assert lost.returncode == BUSY, lost.stderr
    error = json.loads(lost.stdout)["error"]
    assert error["transient"] is True and error["code"] == "busy"
    assert "lost the Postgres advisory lock 'crmsync:run-bitrix24'" in error["message"], error
    assert "terminating connection due to administrator command" in error["message"]
    assert "sync.outbox" in error["message"] and pg_dsn.split("@")[0].split(":")[-1] not in lost.stderr + lost.stdout
    assert len(writes) == 1  # nothing sent after the lock was gone
    statuses = dict(sql(project, "SELECT status, count(*) FROM sync.outbox WHERE canonical_id LIKE 'lock-%' "
                                 "GROUP BY status"))
    assert set(statuses) == {"sent", "pending"} and 0 < statuses["sent"] < NEW  # one batch (its answer recorded)
    assert len(first_names(server, "bitrix24")) == before + statuses["sent"]  # and only it reached the CRM
    assert sql(project, "SELECT status FROM sync.runs WHERE kind = 'push' ORDER BY started_at DESC LIMIT 1") \
        == [("failed",)]

    run_here(project, "push", "bitrix24", "--json")  # a new lock, a new session: the rest goes out
    names = first_names(server, "bitrix24")
    assert sorted(n for n in names if str(n).startswith("Lock")) == sorted(f"Lock{i}" for i in range(NEW))
    assert len(names) == before + NEW  # no duplicate
    assert sql(project, "SELECT count(DISTINCT remote_id), count(*) FROM sync.links WHERE canonical_id LIKE 'lock-%'"
               ) == [(NEW, NEW)]
