"""One sync is one run in sync.runs with its pull and push parts, and its outcome is the truth: a sync whose
push fails is failed (exit 1 for a bug, the traceback in the project's log folder), one killed mid-way is
interrupted — in `crmsync status` and `crmsync runs` alike."""

import json
import os
import signal
import subprocess

from tests.integration.push.test_push_cli import sql
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here


def edit_one(root):
    (cid,) = sql(root, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(root, "UPDATE canonical.contacts SET last_name = 'Edited' WHERE id = ?", [cid])


def sync_with(root, hook):
    return subprocess.run([*crmsync_cmd(), "sync", "amocrm", "--json", "--project-dir", str(root)],
                          env={**os.environ, "CRMSYNC_TEST_CRASH_AFTER_SEND": hook}, capture_output=True, text=True,
                          timeout=180)


def test_a_sync_is_one_run_with_both_parts(project, amo):  # noqa: F811
    done = json.loads(run_here(project, "sync", "amocrm", "--json"))
    assert sql(project, "SELECT run_id, kind, status FROM sync.runs") == [(done["run_id"], "sync", "ok")]
    (parts,) = sql(project, "SELECT parts FROM sync.runs")[0]
    assert set(json.loads(parts)) == {"pull", "push"}
    assert json.loads(parts)["pull"]["entities"]["contact"]["new_rows"] == 8


def test_a_sync_whose_push_fails_is_failed_in_one_row(project, amo):  # noqa: F811
    run_here(project, "sync", "amocrm")
    edit_one(project)
    r = sync_with(project, "1")  # a bug after the write's HTTP call: the push part raises
    assert r.returncode == 1 and "internal error: RuntimeError" in r.stderr
    crash = [p for p in (project / ".crmsync" / "logs").iterdir() if p.name.startswith("crmsync-crash-")]
    assert len(crash) == 1 and "CRMSYNC_TEST_CRASH_AFTER_SEND" in crash[0].read_text()
    assert json.loads(r.stdout)["error"]["code"] == "internal"
    rows = sql(project, "SELECT kind, status, error IS NOT NULL, parts FROM sync.runs ORDER BY started_at")
    assert [r[:3] for r in rows] == [("sync", "ok", False), ("sync", "failed", True)]
    assert "pull" in json.loads(rows[1][3])  # the pull part it committed is kept with the failure

    status = json.loads(run_here(project, "status", "amocrm", "--json"))["pipelines"][0]
    assert status["last_run"]["status"] == "failed" and status["last_runs"]["sync"]["status"] == "failed"
    assert "RuntimeError" in status["last_runs"]["sync"]["error"]


def test_a_sync_killed_mid_push_reads_interrupted(project, amo):  # noqa: F811
    run_here(project, "sync", "amocrm")
    edit_one(project)
    r = sync_with(project, "kill:1")
    assert r.returncode == -signal.SIGKILL
    assert sql(project, "SELECT status FROM sync.runs ORDER BY started_at DESC LIMIT 1") == [("running",)]
    history = json.loads(run_here(project, "runs", "amocrm", "--json"))["runs"]
    assert [h["status"] for h in history] == ["interrupted", "ok"]  # no run holds the lock: it died
    shown = run_here(project, "runs")
    assert "interrupted" in shown
    again = json.loads(run_here(project, "sync", "amocrm", "--json"))  # the next run finishes the job
    assert again["status"] == "ok"
