"""`crmsync serve` as a real process on a sped-up clock (a scheduled minute passes in half a second;
the real scheduler, child processes and store underneath): scheduled runs happen, a slot that comes
while the previous run goes on is skipped and recorded, a failing CRM is retried with growing gaps
while the other pipeline keeps its schedule, and slots missed while the server was down run once."""

import datetime as dt
import signal
import time

import requests

from tests.integration.serve.served import make_project, set_pipeline, wait_for
from tests.integration.test_pull_cli import run_here

SCALE = 120  # one scheduled minute = 0.5 s: every run (a whole `crmsync sync` process) outlasts a slot


def when(iso):
    return dt.datetime.fromisoformat(iso)


def test_schedule_skip_backoff_and_catch_up(tmp_path, fake_crm, serve):
    project, _ = make_project(tmp_path, fake_crm, schedule="* * * * *")
    broken = fake_crm("amocrm", contacts=3, deals=1, tasks=1, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "broken", "--base-url", broken.url,
             "--long-lived-token", "demo-token")
    set_pipeline(project, "broken", like="amocrm", name="broken", crm="amocrm", connection="broken",
                 entities=["contact"], schedule="* * * * *")
    requests.post(broken.url + "/_fake/revoke-tokens", timeout=5).raise_for_status()
    env = {"CRMSYNC_SERVE_TIME_SCALE": str(SCALE), "CRMSYNC_SERVE_TIME_ORIGIN": str(time.time())}

    served = serve(project, "--retry-base", "60", env=env)
    wait_for(lambda: sum(j["status"] == "ok" for j in served.jobs("amocrm")) >= 4, 60, "four scheduled runs")
    wait_for(lambda: sum(j["status"] == "failed" for j in served.jobs("broken")) >= 3, 60, "three failed runs")

    healthy = served.jobs("amocrm")
    assert {j["trigger"] for j in healthy} == {"schedule"}, [j for j in healthy if j["status"] == "failed"]
    # queued: waiting for the store, which the other pipeline's run holds (runs take turns on one DuckDB file)
    assert all(j["status"] in ("ok", "skipped", "running", "queued") for j in healthy), \
        [(j["status"], j["error"]) for j in healthy]
    skipped = [j for j in healthy if j["status"] == "skipped"]
    assert skipped, "a slot during a run must be skipped"
    assert "was still in progress" in skipped[0]["error"]
    # one run per connection at a time: no two runs of amocrm overlap
    ran = [j for j in healthy if j["status"] == "ok"]
    for a, b in zip(ran, ran[1:], strict=False):
        assert when(a["finished_at"]) <= when(b["started_at"])

    failing = [j for j in served.jobs("broken") if j["status"] == "failed"]
    assert "401" in failing[0]["error"] or "token" in failing[0]["error"].lower(), failing[0]["error"]
    assert [j["trigger"] for j in failing[1:3]] == ["retry", "retry"]
    gaps = [(when(b["created_at"]) - when(a["finished_at"])).total_seconds()
            for a, b in zip(failing, failing[1:], strict=False)]
    # retries wait 60, 120 … scheduled seconds (0.5, 1 … real): each gap at least the one its count of failures asks
    assert gaps[0] >= 60 / SCALE * 0.9 and gaps[1] >= 120 / SCALE * 0.9, gaps
    assert len(failing) < len([j for j in healthy if j["status"] == "ok"]) + len(skipped)
    def broken_health():
        return next(p for p in served.get("/api/pipelines")["pipelines"] if p["pipeline"] == "broken")

    # between its retries (one may be running when we look: then its health is "running")
    wait_for(lambda: broken_health()["health"] == "failing", 30, "the broken pipeline shown as failing")
    assert broken_health()["failures"] >= 3
    pipes = {p["pipeline"]: p for p in served.get("/api/pipelines")["pipelines"]}
    assert pipes["amocrm"]["health"] in ("ok", "running")
    assert pipes["amocrm"]["schedule"] == "* * * * *" and pipes["amocrm"]["next_run"]

    # the skips are recorded in the run history, with their reason
    recorded = served.get("/api/runs?pipeline=amocrm&status=skipped&limit=100")["runs"]
    wait_for(lambda: served.get("/api/runs?pipeline=amocrm&status=skipped&limit=100")["runs"], 20, "skips recorded")
    recorded = served.get("/api/runs?pipeline=amocrm&status=skipped&limit=100")["runs"]
    assert "still in progress" in recorded[0]["error"]

    assert served.stop() in (0, -signal.SIGTERM)
    time.sleep(5 * 60 / SCALE)  # five scheduled minutes pass with no server
    again = serve(project, "--retry-base", "60", env=env)
    wait_for(lambda: any(j["trigger"] == "schedule" for j in again.jobs("amocrm")), 30, "a scheduled run after")
    first = again.jobs("amocrm")
    assert first[0]["trigger"] == "catch-up"
    assert [j["trigger"] for j in first].count("catch-up") == 1  # five missed slots, one run
    assert [j["trigger"] for j in again.jobs("broken")].count("catch-up") == 1
    assert again.stop() in (0, -signal.SIGTERM)
