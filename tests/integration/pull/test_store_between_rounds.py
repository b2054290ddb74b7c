"""A pull keeps the DuckDB store open only from a read round's load to the end of its apply
(crmsync.store.keeping): another process — `crmsync status`, the serve page, a token refresh — gets the
file between rounds and sees what the rounds before committed."""

import os
import subprocess
import time

import duckdb

from crmsync.project import Project
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here


def test_another_process_reads_the_store_between_the_rounds_of_a_pull(project, fake_crm):
    server = fake_crm("amocrm", contacts=600, deals=0, tasks=0, rate_limit=False)
    server.faults.add("hang", count=1, path="page=2", hang_seconds=4)  # a slow page: the next round waits for it
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    store = Project.at(project).store_path()
    pull = subprocess.Popen([*crmsync_cmd(), "pull", "amocrm", "--json", "--project-dir", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CRMSYNC_READ_ROUND_RECORDS": "250"})
    seen = []  # contacts in canonical, each time this process got the store while the pull ran
    try:
        while pull.poll() is None:
            time.sleep(0.25)  # now and then, as a person or a page would: the pull's own opens wait, dlt's do not
            try:
                con = duckdb.connect(str(store), read_only=True)
            except (duckdb.IOException, duckdb.ConnectionException):
                continue  # not there yet, or held by a round
            try:
                seen.append(con.execute("SELECT count(*) FROM canonical.contacts").fetchone()[0])
            except duckdb.CatalogException:
                pass  # before the first round's apply
            finally:
                con.close()
        out, err = pull.communicate(timeout=60)
    finally:
        if pull.poll() is None:
            pull.kill()
    assert pull.returncode == 0, err
    assert '"status": "ok"' in out
    assert any(0 < n < 600 for n in seen), seen  # in mid-pull, with the first round's contacts committed
    assert duckdb.connect(str(store), read_only=True).execute("SELECT count(*) FROM canonical.contacts").fetchone() \
        == (600,)
