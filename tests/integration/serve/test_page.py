"""The status page in a real headless browser (Playwright driving Debian's chromium): it asks for a
key, shows the pipelines and their runs, resolves a pending conflict, and "Run now" starts a run
whose result then appears (and carries the decision to the CRM)."""

import json
import os
import shutil

import pytest

from tests.integration.serve.served import LEAP_DAY, make_project
from tests.integration.sync.test_sync_cli import Amo, clash, set_policy
from tests.integration.test_pull_cli import run_here

CHROMIUM = "CRMSYNC_CHROMIUM"  # a chromium binary other than Debian's, if wanted


def chromium() -> str:
    found = os.environ.get(CHROMIUM) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail(f"no chromium for the browser test: install Debian's (`apt-get install -y chromium`, which "
                    f"`make test` does when run as root) or point {CHROMIUM} at one. Playwright's own browser "
                    f"download is not used.")
    return found


def test_status_page_shows_pipelines_and_runs_and_runs_now(tmp_path, fake_crm, serve):
    from playwright.sync_api import expect, sync_playwright

    # a schedule shown on the page whose slot cannot come during the test (a */15 slot did, once: a third run)
    project, server = make_project(tmp_path, fake_crm, schedule=LEAP_DAY)
    set_policy(project, "amocrm", "crm_wins", {"contact.position": "manual"})
    run_here(project, "sync", "amocrm", "--json")
    amo = Amo(server)
    _, remote_id = clash(project, amo)  # position: 'Local' here, 'CRM' there
    run_here(project, "sync", "amocrm", "--json", "--no-strict")  # held in a manual conflict: exit 5 if strict
    served = serve(project)
    before = len(served.get("/api/runs?limit=100")["runs"])
    # the API lists runs exactly as `crmsync runs --json` prints them
    assert served.get("/api/runs?limit=100")["runs"] == json.loads(
        run_here(project, "runs", "--json", "--limit", "100"))["runs"]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(served.base + "/")
            expect(page.locator("#login")).to_be_visible()
            page.fill("#key", served.key)
            page.click("#use-key")
            pipelines = page.locator("#pipelines tbody tr")
            expect(pipelines.first).to_contain_text("amocrm")
            expect(pipelines.first).to_contain_text(LEAP_DAY)
            runs = page.locator("#runs tbody tr")
            expect(runs).to_have_count(before)
            expect(runs.first).to_contain_text("issues")  # the last sync holds a field in a manual conflict

            conflict = page.locator("#conflicts tbody tr").first
            expect(conflict).to_contain_text("contact.position")
            expect(conflict).to_contain_text('"Local"')
            expect(conflict).to_contain_text('"CRM"')
            conflict.get_by_role("button", name="keep local").click()
            expect(page.locator("#notice")).to_contain_text("resolved: keep local")
            expect(page.locator("#conflicts tbody")).to_contain_text("none pending")
            assert amo.position(remote_id) == "CRM"  # decided, not yet sent

            page.click("button[data-pipeline=amocrm]")
            expect(page.locator("#notice")).to_contain_text("run of amocrm ok", timeout=90_000)
            expect(runs).to_have_count(before + 1, timeout=15_000)  # the sync: one run, pull and push parts
            expect(runs.first).to_contain_text("amocrm")
            assert amo.position(remote_id) == "Local"  # the run sent the decision
            page.reload()  # the key stays for the tab
            expect(page.locator("#pipelines tbody tr").first).to_contain_text("amocrm")
        finally:
            browser.close()
