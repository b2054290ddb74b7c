"""A push killed with SIGKILL between a batch's HTTP call and recording its answer: the next sync
finishes the job with no duplicate create and no lost update, and the one after sends nothing."""

import json
import os
import signal
import subprocess

import pytest

from tests.integration.sync.test_sync_cli import project, sent, sql  # noqa: F401  (project is a fixture)
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here

NEW = 300  # AmoCRM: 2 create batches of up to 250; Bitrix24: 6 batches of 50


def first_names(server, crm):
    key = "first_name" if crm == "amocrm" else "NAME"
    return [r.get(key) for r in server.app.table("contacts").rows.values()]


@pytest.mark.parametrize(("crm", "store"), [("amocrm", "duckdb"), ("bitrix24", "duckdb"), ("amocrm", "postgres")],
                         indirect=["store"])
def test_a_push_killed_mid_batch_resumes_without_duplicates_or_lost_updates(project, fake_crm, crm):  # noqa: F811
    server = fake_crm(crm, contacts=20, deals=4, tasks=4, rate_limit=False)
    if crm == "amocrm":
        run_here(project, "connect", crm, "--name", crm, "--base-url", server.url, "--long-lived-token", "demo-token")
    else:
        run_here(project, "connect", crm, "--name", crm, "--webhook-url", server.url + "/rest/1/demo/")
    run_here(project, "sync", crm, "--json")
    before = len(first_names(server, crm))
    (cid,) = sql(project, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(project, "UPDATE canonical.contacts SET last_name = 'Updated' WHERE id = ?", [cid])
    sql(project, f"INSERT INTO canonical.contacts (id, version, first_name, last_name, name) "
                 f"SELECT 'kill-' || i, 1, 'Kill' || i, 'Test', 'Kill' || i || ' Test' FROM range({NEW}) t(i)")

    killed = subprocess.run([*crmsync_cmd(), "push", crm, "--project-dir", str(project), "--json"],
                            env={**os.environ, "CRMSYNC_TEST_CRASH_AFTER_SEND": "kill:2"},
                            capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert sql(project, "SELECT count(*) FROM sync.outbox WHERE status = 'sending'")[0][0] > 0
    assert len(first_names(server, crm)) > before  # the lost batch did reach the CRM

    resumed = json.loads(run_here(project, "sync", crm, "--json"))
    names = first_names(server, crm)
    assert len(names) == before + NEW
    assert sorted(n for n in names if str(n).startswith("Kill")) == sorted(f"Kill{i}" for i in range(NEW))
    assert sql(project, "SELECT count(DISTINCT remote_id), count(*) FROM sync.links WHERE canonical_id LIKE 'kill-%'"
               ) == [(NEW, NEW)]
    assert sql(project, "SELECT count(*) FROM sync.outbox WHERE status IN ('sending', 'pending')") == [(0,)]
    remote = sql(project, "SELECT remote_id FROM sync.links WHERE canonical_id = ?", [cid])[0][0]
    row = server.app.table("contacts").rows[int(remote)]
    assert row.get("last_name", row.get("LAST_NAME")) == "Updated"
    assert resumed["entities"]["contact"]["rejected"] == 0
    assert sent(json.loads(run_here(project, "sync", crm, "--json"))) == 0


def test_a_push_finished_after_a_kill_keeps_a_local_edit_made_meanwhile(project, fake_crm):  # noqa: F811
    """The killed run's op carried one field; another field edited locally after the kill must survive
    the next run's settling of that op (its read-back is no reason to overwrite the edit) and reach the CRM."""
    server = fake_crm("amocrm", contacts=5, deals=0, tasks=0, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    run_here(project, "sync", "amocrm", "--json", "--no-strict")
    (cid,) = sql(project, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(project, "UPDATE canonical.contacts SET first_name = 'Sent', updated_at = now() WHERE id = ?", [cid])
    killed = subprocess.run([*crmsync_cmd(), "push", "amocrm", "--project-dir", str(project), "--json"],
                            env={**os.environ, "CRMSYNC_TEST_CRASH_AFTER_SEND": "kill:1"},
                            capture_output=True, text=True, timeout=180)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    sql(project, "UPDATE canonical.contacts SET last_name = 'Meanwhile', updated_at = now() WHERE id = ?", [cid])

    run_here(project, "sync", "amocrm", "--json", "--no-strict")
    assert sql(project, "SELECT first_name, last_name FROM canonical.contacts WHERE id = ?", [cid]) == [
        ("Sent", "Meanwhile")]
    remote = int(sql(project, "SELECT remote_id FROM sync.links WHERE canonical_id = ?", [cid])[0][0])
    row = server.app.table("contacts").rows[remote]
    assert (row["first_name"], row["last_name"]) == ("Sent", "Meanwhile")
