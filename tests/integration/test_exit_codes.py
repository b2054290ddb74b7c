"""README's exit-code table, command by command, through the real CLI against the fakes:
0 all done · 5 done but records set aside / refused / held (--no-strict: 0) · 2 configuration · 3 CRM ·
4 busy · 130 interrupted (also inside dlt's extract and normalize)."""

import json
import signal
import subprocess
import threading
import time

import duckdb
import pytest
from filelock import FileLock

from crmsync import errors
from tests.integration.pull.test_pull_connection import add_contact_with_a_broken_email
from tests.integration.sync.test_sync_cli import clash, set_policy
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run, run_here

RUNS = ("pull", "push", "sync")


def exit_code(project, *args):
    r = run(project, *args, ok=False)
    assert "Traceback" not in r.stderr
    return r


def runs(project):
    con = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    try:
        return con.execute("SELECT kind, status, error FROM sync.runs ORDER BY started_at").fetchall()
    finally:
        con.close()


def test_one_table_in_the_help_and_in_the_readme():
    import re
    from pathlib import Path

    r = subprocess.run([*crmsync_cmd(), "--help"], capture_output=True, text=True, timeout=60)
    for code, (_, meaning) in errors.EXIT_CODES.items():
        assert re.search(rf"^\s+{code}\s+{re.escape(meaning[:30])}", r.stdout, re.M), (code, r.stdout)
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Exit codes"):readme.index("### Status and run history")]
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| `(\d+)` \|[^|]+\| (`\w+`|—) \|$", table, re.M)}
    assert set(rows) == set(errors.EXIT_CODES)
    assert all(rows[code] == (f"`{name}`" if name else "—") for code, (name, _) in errors.EXIT_CODES.items())


@pytest.mark.parametrize("command", RUNS)
def test_0_done_and_2_configuration(project, amo, command):
    assert exit_code(project, command, "amocrm").returncode == 0
    bad = exit_code(project, command, "amocrn")
    assert bad.returncode == 2 and "did you mean 'amocrm'" in bad.stderr
    assert exit_code(project, command).returncode == 2  # no PIPELINE: a usage error


def test_5_pull_with_a_record_set_aside_and_no_strict(project, amo):
    add_contact_with_a_broken_email(amo)
    r = exit_code(project, "pull", "amocrm")
    assert r.returncode == 5 and "1 record(s) were set aside" in r.stderr
    assert runs(project)[-1][:2] == ("pull", "issues")
    assert exit_code(project, "pull", "amocrm", "--no-strict", "--full-refresh").returncode == 0


def test_5_push_and_sync_with_fields_held_in_manual_conflicts(project, amo):
    from tests.integration.sync.test_sync_cli import Amo

    set_policy(project, "amocrm", "crm_wins", {"contact.position": "manual"})
    run_here(project, "sync", "amocrm")
    clash(project, Amo(amo))
    r = exit_code(project, "sync", "amocrm")
    assert r.returncode == 5 and "wait on manual conflicts" in r.stderr
    assert exit_code(project, "push", "amocrm").returncode == 5
    assert exit_code(project, "push", "amocrm", "--no-strict").returncode == 0
    assert exit_code(project, "sync", "amocrm", "--no-strict").returncode == 0
    assert [s for _, s, _ in runs(project)] == ["ok", "issues", "issues", "issues", "issues"]


@pytest.mark.parametrize("command", ["pull", "sync"])
def test_3_the_crm_refused(project, fake_crm, command):
    server = fake_crm("amocrm", contacts=8, rate_limit=False, faults=["403:1.0@/api/v4/contacts"])
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    r = exit_code(project, command, "amocrm")
    assert r.returncode == 3 and "403" in r.stderr
    assert runs(project)[-1][:2] == (command, "failed")  # a failed sync is failed, in one row
    assert len(runs(project)) == 1


@pytest.mark.parametrize("command", RUNS)
def test_4_busy_names_the_lock_and_records_nothing(project, amo, command):
    (project / ".crmsync" / "locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(project / ".crmsync" / "locks" / "run-amocrm.lock")):
        r = exit_code(project, command, "amocrm")
    assert r.returncode == 4 and "another crmsync run of connection 'amocrm' is in progress" in r.stderr


def test_4_when_a_duckdb_client_holds_the_store_says_who(project, amo, monkeypatch):
    run_here(project, "pull", "amocrm")
    holder = duckdb.connect(str(project / "crmsync.duckdb"))  # an SQL user's open session
    try:
        started = time.monotonic()
        r = subprocess.run([*crmsync_cmd(), "status", "--json", "--project-dir", str(project)], capture_output=True,
                           text=True, timeout=120, env={**__import__("os").environ,
                                                        "CRMSYNC_STORE_LOCK_WAIT_SECONDS": "2"})
    finally:
        holder.close()
    assert r.returncode == 4, r.stderr
    assert "PID" in r.stderr and "waiting up to" in r.stderr  # the wait is visible, and who holds the store
    assert json.loads(r.stdout)["error"]["code"] == "busy"
    assert time.monotonic() - started < 60


def test_130_on_ctrl_c_in_the_middle_of_a_read(project, fake_crm):
    server = fake_crm("amocrm", contacts=6000, deals=1, tasks=1)  # real rate limit: the read takes seconds
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    proc = subprocess.Popen([*crmsync_cmd(), "pull", "amocrm", "--json", "--project-dir", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = threading.Event()

    def wait_for_pages() -> None:
        while server.stats.by_route.get("GET /api/v4/contacts", 0) < 3 and proc.poll() is None:
            time.sleep(0.05)
        seen.set()

    threading.Thread(target=wait_for_pages, daemon=True).start()
    assert seen.wait(60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out)["error"]["code"] == "interrupted"
    assert runs(project)[-1][:2] == ("pull", "interrupted")


def test_interruption_is_found_inside_dlts_step_failure():
    from types import SimpleNamespace

    from dlt.common.exceptions import SignalReceivedException
    from dlt.pipeline.exceptions import PipelineStepFailed

    pipeline = SimpleNamespace(has_pending_data=False, pipeline_name="p")
    assert errors.interruption(PipelineStepFailed(pipeline, "extract", None, SignalReceivedException(2)))
    assert not errors.interruption(PipelineStepFailed(pipeline, "normalize", None, ValueError("bad")))
