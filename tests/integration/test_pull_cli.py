"""The real CLI, end to end: init a project, connect both fakes, pull, pull again, status."""

import json
import subprocess
from pathlib import Path

import pytest
import requests

from tests.integration.test_cli import crmsync_cmd


def run(project: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([*crmsync_cmd(), *args, "--project-dir", str(project)] if args[0] not in ("init",)
                       else [*crmsync_cmd(), *args], capture_output=True, text=True, timeout=180)
    if ok:
        assert r.returncode == 0, f"{args}: {r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def project(tmp_path):
    run(tmp_path, "init", str(tmp_path / "p"))
    return tmp_path / "p"


def test_init_connect_pull_status(project, fake_crm):
    amo = fake_crm("amocrm", contacts=300, deals=60, tasks=40)             # real rate limits on
    b24 = fake_crm("bitrix24", contacts=300, deals=60, tasks=40)
    run(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url, "--long-lived-token", "demo-token")
    run(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", b24.url + "/rest/1/demo/")

    for name in ("amocrm", "bitrix24"):
        result = json.loads(run(project, "pull", name, "--json").stdout)
        assert {e: c["read"] for e, c in result["entities"].items()} == {"contact": 300, "deal": 60, "task": 40}
        assert all(c["rejected"] == 0 for c in result["entities"].values())
        timings = result["timings"]  # where a run's time went, dlt's steps included
        assert {"read", "read.extract", "read.normalize", "read.load", "apply"} <= set(timings)
        assert 0 < timings["read.extract"] <= timings["read"] <= result["seconds"]
    assert amo.stats.by_status.get(429, 0) == 0 and b24.stats.by_status.get(503, 0) == 0

    requests.post(amo.url + "/_fake/touch", json={"entity": "leads", "count": 2})
    again = json.loads(run(project, "pull", "amocrm", "--entity", "deal", "--json").stdout)
    assert again["entities"] == {"deal": {"read": 2, "applied": 2, "new_rows": 0, "unchanged": 0, "rejected": 0,
                                          "deleted": 0, "conflicts": 0, "matched": 0}}

    status = json.loads(run(project, "status", "--json").stdout)
    by_name = {p["pipeline"]: p for p in status["pipelines"]}
    assert by_name["amocrm"]["last_run"]["status"] == "ok"
    assert {e["entity"]: e["rows"] for e in by_name["bitrix24"]["entities"]} == {"contact": 300, "deal": 60,
                                                                                 "task": 40}
    assert all(e["cursor"] for e in by_name["amocrm"]["entities"])


def test_pull_errors_are_specific(project, fake_crm):
    r = run(project, "pull", "amocrn", ok=False)
    assert r.returncode == 2 and "no pipeline 'amocrn' (did you mean 'amocrm'?)" in r.stderr
    r = run(project, "pull", "amocrm", "--entity", "lead", ok=False)
    assert r.returncode == 2 and "does not sync 'lead'" in r.stderr
    assert "Traceback" not in r.stderr
    r = run(project, "pull", "amocrm", ok=False)  # no connection named amocrm yet
    assert r.returncode == 2 and "no connection named 'amocrm'" in r.stderr and "crmsync connect" in r.stderr


def run_here(project: Path, *args: str) -> str:
    """The same command line in this process (no interpreter start, no re-import): for the many
    successful calls of a scenario; failures and exit codes are checked with :func:`run`."""
    from click.testing import CliRunner

    from crmsync.cli import cli

    where = [] if args[0] == "init" else ["--project-dir", str(project)]
    result = CliRunner().invoke(cli, [*args, *where], catch_exceptions=False)
    assert result.exit_code == 0, f"{args}: {result.output}"
    return result.stdout


def test_a_crm_refusing_the_read_is_reported_in_its_own_words(project, fake_crm):
    amo = fake_crm("amocrm", contacts=30, deals=5, tasks=5, rate_limit=False,
                   faults=["403:1.0@/api/v4/contacts"])
    run(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url, "--long-lived-token", "demo-token")
    r = run(project, "pull", "amocrm", ok=False)
    assert r.returncode == 3, r.stderr  # the CRM said no: not an internal error wrapped by dlt
    assert "internal error" not in r.stderr and "PipelineStepFailed" not in r.stderr
    assert "403" in r.stderr and "blocked this IP" in r.stderr
