"""The real CLI on a Postgres store while another process runs the same connection: exit 4, nothing done."""

import json
import os
import subprocess
import sys

from crmsync.store_postgres import DEFAULT_DSN_ENV
from tests.integration.postgres.test_locks import _HOLD_RUN, DSN_ENV
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here


def writes(server) -> int:
    return sum(n for route, n in server.stats.by_route.items() if not route.startswith("GET"))


def test_sync_on_a_postgres_store_is_busy_while_another_machine_runs_the_connection(project, fake_crm, pg_dsn,
                                                                                   monkeypatch):
    yaml = project / "pipelines" / "amocrm.yaml"
    text = yaml.read_text()
    yaml.write_text(text[:text.index("staging:")] + f"staging:\n  type: postgres\n  dsn_env: {DEFAULT_DSN_ENV}\n")
    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)  # the connection is kept in the Postgres store too
    amo = fake_crm("amocrm", contacts=8, deals=3, tasks=3, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    env = {**os.environ, DEFAULT_DSN_ENV: pg_dsn, DSN_ENV: pg_dsn}
    env.pop("CRMSYNC_LOCK_WAIT_SECONDS", None)
    # The other worker's project folder is elsewhere (another machine): only the database is shared.
    other = project.parent / "other-machine"
    (other / "pipelines").mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_RUN, str(other), "amocrm"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    before = writes(amo)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        r = subprocess.run([*crmsync_cmd(), "sync", "amocrm", "--json", "--project-dir", str(project)],
                           capture_output=True, text=True, timeout=120, env=env)
    finally:
        holder.kill()
        holder.wait()
    assert r.returncode == 4, r.stderr
    assert "another crmsync run of connection 'amocrm' is in progress" in r.stderr
    assert "advisory lock 'crmsync:run-amocrm'" in r.stderr and "Traceback" not in r.stderr
    assert json.loads(r.stdout)["error"]["code"] == "busy"
    assert writes(amo) == before  # nothing was sent to the CRM
