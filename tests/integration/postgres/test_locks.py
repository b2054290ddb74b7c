"""Per-connection locks on a Postgres store are advisory locks on the database: two real processes."""

import hashlib
import subprocess
import sys
import threading
import time

import pytest

from crmsync.connections import repository
from crmsync.connections.tokens import TokenManager
from crmsync.errors import BUSY, BusyError
from crmsync.locks import AdvisoryMutex
from crmsync.project import Project
from crmsync.run_history import held_connections
from crmsync.runs import LOCK_WAIT, PreparedRun, run_lock
from crmsync.secrets.vault import vault_for
from crmsync.specs.models import Pipeline
from crmsync.store import store_name
from crmsync.store_postgres import DEFAULT_DSN_ENV
from tests.integration.connections.helpers import cli_env, connect_oauth, make_project

DSN_ENV = "CRMSYNC_TEST_LOCK_DSN"

_HOLD_RUN = f"""
import sys
from crmsync.project import Project
from crmsync.runs import PreparedRun, run_lock
from crmsync.specs.models import Pipeline
pipeline = Pipeline.from_data({{"name": "p", "crm": "amocrm", "connection": sys.argv[2], "entities": ["contact"],
                                "staging": {{"type": "postgres", "dsn_env": "{DSN_ENV}"}}}})
from crmsync.store import store_name
with run_lock(Project.at(sys.argv[1]), PreparedRun(pipeline, {{}}, {{}}, {{}}, ["contact"], store_name(pipeline))):
    print("held", flush=True)
    sys.stdin.readline()
"""


def _run(connection: str) -> PreparedRun:
    pipeline = Pipeline.from_data({"name": "p", "crm": "amocrm", "connection": connection, "entities": ["contact"],
                                   "staging": {"type": "postgres", "dsn_env": DSN_ENV}})
    return PreparedRun(pipeline, {}, {}, {}, ["contact"], store_name(pipeline))


def _hold(project: Project, connection: str, dsn: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_RUN, str(project.root), connection],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(**{DSN_ENV: dsn}))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line == "held\n", proc.stderr.read() if proc.stderr else line
    return proc


@pytest.fixture
def project(tmp_path, pg_dsn, monkeypatch):
    monkeypatch.setenv(DSN_ENV, pg_dsn)
    monkeypatch.delenv(LOCK_WAIT, raising=False)
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    return make_project(tmp_path / "proj")


def test_a_second_run_of_a_connection_is_busy_while_another_process_holds_its_advisory_lock(project, pg_dsn):
    holder = _hold(project, "amocrm", pg_dsn)
    try:
        assert held_connections(project, {"amocrm", "bitrix24"}, pg_dsn) == {"amocrm"}
        with pytest.raises(BusyError) as caught, run_lock(project, _run("amocrm")):
            pytest.fail("the run went ahead while another process held its connection")
        assert caught.value.exit_code == BUSY == 4
        assert "advisory lock 'crmsync:run-amocrm'" in str(caught.value) and "nothing was done" in str(caught.value)
        assert pg_dsn.split("@")[0].split(":")[-1] not in str(caught.value)  # the DSN's password is not shown
        with run_lock(project, _run("bitrix24")):  # another connection runs meanwhile
            pass
        assert not (project.locks_dir / "run-amocrm.lock").exists()  # no lock file on a Postgres store
    finally:
        holder.kill()
        holder.wait()
    # The server drops a killed holder's session, and its lock with it.
    deadline = time.monotonic() + 15
    while held_connections(project, {"amocrm"}, pg_dsn) and time.monotonic() < deadline:
        time.sleep(0.1)
    with run_lock(project, _run("amocrm")):
        assert AdvisoryMutex(pg_dsn, "run-amocrm").held_elsewhere()  # this session holds it now


def test_a_run_waits_for_the_advisory_lock_when_told_to(project, pg_dsn, monkeypatch):
    holder = _hold(project, "amocrm", pg_dsn)
    monkeypatch.setenv(LOCK_WAIT, "30")

    def end_the_other_run() -> None:
        assert holder.stdin is not None
        holder.stdin.write("done\n")
        holder.stdin.flush()

    ender = threading.Timer(1.0, end_the_other_run)
    started = time.monotonic()
    ender.start()
    try:
        with run_lock(project, _run("amocrm")):
            waited = time.monotonic() - started
    finally:
        ender.cancel()
        holder.kill()
        holder.wait()
    assert 1.0 <= waited < 30  # it waited for the other run, then went ahead


_REFRESH = """
import hashlib, sys
from crmsync.project import Project
from crmsync.connections.tokens import TokenManager
m = TokenManager(Project.at(sys.argv[1]), "main")
stale = m.connection.credentials["access_token"]
print("ready", flush=True)
sys.stdin.readline()  # the gun: both processes hold the same stale token by now
m.refresh(stale=stale)
print(hashlib.sha256(m.connection.credentials["access_token"].encode()).hexdigest())
"""


def test_two_processes_refreshing_under_the_advisory_lock_make_one_refresh(project, pg_dsn, fake_amocrm,
                                                                            monkeypatch):
    # A pipeline on a Postgres store: the project's connections, and their refresh lock, live there.
    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    (project.root / "pipelines").mkdir()
    (project.root / "pipelines" / "amocrm.yaml").write_text(
        "name: amocrm\ncrm: amocrm\nconnection: main\nentities: [contact]\n"
        f"staging: {{type: postgres, dsn_env: {DEFAULT_DSN_ENV}}}\n")
    connect_oauth(project, "amocrm", fake_amocrm)
    assert TokenManager(project, "main").lock_dsn == pg_dsn
    procs = [subprocess.Popen([sys.executable, "-c", _REFRESH, str(project.root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=cli_env(**{DEFAULT_DSN_ENV: pg_dsn}))
             for _ in range(2)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n", p.stderr.read() if p.stderr else ""
    for p in procs:  # both fire at once
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert fake_amocrm.app.oauth.refresh_count == 1
    stored = repository.get(project, "main", vault_for(project.state_dir)).credentials["access_token"]
    assert {o[0].strip() for o in outs} == {hashlib.sha256(stored.encode()).hexdigest()}
    assert not (project.locks_dir / "connection-main.lock").exists()  # the advisory lock, not a file
