"""The real `crmsync` command, run as a subprocess."""

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from crmsync import __version__
from crmsync.output import check


def crmsync_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "crmsync"
    return [str(exe)] if exe.exists() else [shutil.which("crmsync") or sys.executable, "-m", "crmsync"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*crmsync_cmd(), *args], capture_output=True, text=True, timeout=timeout)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0
    assert "fake-crm" in r.stdout and "demo" in r.stdout and "Exit codes" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    r = run("fake-crm", "--help")
    assert r.returncode == 0 and "--fault" in r.stdout and "--no-rate-limit" in r.stdout


@pytest.mark.parametrize("args, message", [
    (["fake-crm", "bitrix24", "--token", "x"], "--token applies to amocrm and hubspot only, not bitrix24"),
    (["fake-crm", "amocrm", "--webhook-code", "x"], "--webhook-code applies to bitrix24 only"),
    (["fake-crm", "amocrm", "--fault", "teapot:x1"], "is not one of"),
    (["fake-crm", "salesforce"], "'salesforce' is not one of 'amocrm', 'bitrix24', 'hubspot'"),
    (["fake-crm", "amocrm", "--set", "next_link=sometimes"], "next_link='sometimes' is not one of: when_full, exact"),
    (["fake-crm", "amocrm", "--set", "nxt=1"], "not a setting of the fake amocrm"),
])
def test_bad_options_exit_2_with_a_specific_message(args, message):
    r = run(*args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def _start(*args: str) -> tuple[subprocess.Popen, str]:
    proc, url, _ = _start_with_line(*args)
    return proc, url


def _start_with_line(*args: str) -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([*crmsync_cmd(), "fake-crm", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if not line:
        proc.kill()
        pytest.fail("fake-crm printed no URL within 30 s")
    match = re.search(r"listening on (https?://127\.0\.0\.1:\d+)", line[0])
    assert match, line[0]
    return proc, match.group(1), line[0]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_fake_amocrm_process_serves_until_signalled(sig):
    proc, url = _start("amocrm", "--contacts", "7", "--token", "t-123")
    try:
        r = requests.get(url + "/api/v4/contacts", headers={"Authorization": "Bearer t-123"}, timeout=10)
        assert r.status_code == 200 and len(r.json()["_embedded"]["contacts"]) == 7
    finally:
        proc.send_signal(sig)
        assert proc.wait(timeout=10) == 0
    assert "stopped" in proc.stderr.read()


def test_fake_with_tls_and_extra_settings():
    proc, url, line = _start_with_line("amocrm", "--tls", "--contacts", "3", "--set", "next_link=exact")
    cert = Path(re.search(r"TLS certificate (\S+)", line).group(1))
    try:
        assert url.startswith("https://")
        r = requests.get(url + "/api/v4/contacts?limit=3", headers={"Authorization": "Bearer demo-token"},
                         verify=str(cert), timeout=10)
        assert r.status_code == 200 and "next" not in r.json()["_links"]  # "exact": no next on the last page
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert not cert.exists()  # the throwaway CA goes with the process


def test_fake_bitrix24_process_with_faults():
    proc, url = _start("bitrix24", "--contacts", "5", "--webhook-code", "s3cret", "--fault", "503:x1")
    try:
        first = requests.get(url + "/rest/1/s3cret/crm.contact.list", timeout=10)
        assert first.status_code == 503 and first.json()["error"] == "QUERY_LIMIT_EXCEEDED"
        r = requests.get(url + "/rest/1/s3cret/crm.contact.list", timeout=10)
        assert r.status_code == 200 and r.json()["total"] == 5
        assert requests.get(url + "/rest/1/wrong/crm.contact.list", timeout=10).status_code == 401
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_port_in_use_is_a_user_error():
    proc, url = _start("amocrm")
    try:
        port = url.rsplit(":", 1)[1]
        r = run("fake-crm", "amocrm", "--port", port)
        assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_pulls_all_three_fakes_into_duckdb(tmp_path):
    people, deals, tasks = 14, 8, 5  # smaller than with two CRMs: three stories in about the same time
    r = subprocess.run([*crmsync_cmd(), "demo", "--json", "--contacts", str(people), "--deals", str(deals),
                        "--tasks", str(tasks), "--project-dir", str(tmp_path / "demo")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    check(result)  # the --json contract: envelope and crmsync/schemas/output/demo.schema.json
    assert [crm["crm"] for crm in result["crms"]] == ["amocrm", "bitrix24", "hubspot"]
    for crm in result["crms"]:
        assert crm["url"].startswith("http://127.0.0.1:")
        first, edit = crm["first_sync"], crm["edit_sync"]
        assert first["deal"]["applied"] == deals and first["task"]["applied"] == tasks
        if crm["crm"] == "hubspot":  # the deals created there in the first sync were associated with their
            assert edit["contact"]["applied"] >= 2  # contacts, which moves those contacts' modified stamps
        else:
            assert edit["contact"]["applied"] == 2  # the two contacts edited in the CRM
        assert edit["contact"]["created"] >= 1 and edit["contact"]["updated"] == 1  # the SQL insert and rename
        assert edit["deal"]["conflicts"] == 1 and edit["deal"]["held"] == 1 and edit["deal"]["updated"] == 0
        assert crm["conflict"]["resolved"] == "local" and crm["resolve_sync"]["deal"]["updated"] == 1
        assert len(crm["in_crm"]) == 3  # the rename, the insert and the resolved amount are in the CRM
        assert crm["quiet"] == {"writes": 0, "applied": 0}  # nothing echoes
        # Paced at each CRM's real limits. HubSpot's search endpoint has its own 5-a-second limit beside
        # the account's 190 per 10 s, and a connector declares one pace: a search burst can meet one 429,
        # which is retried after its Retry-After (known gap: per-endpoint limits in the spec language).
        assert crm["limit_errors"] <= (2 if crm["crm"] == "hubspot" else 0), crm["limit_errors"]
    assert result["crms"][0]["first_sync"]["contact"]["applied"] == people
    matched = [crm["first_sync"]["contact"]["matched"] for crm in result["crms"][1:]]  # the same people, by e-mail
    assert all(0 < m < people for m in matched)
    assert result["canonical_rows"] == {"contacts": people * 3 + 3 - sum(matched), "deals": deals * 3,
                                        "tasks": tasks * 3}
    # a person in all three CRMs is one canonical row, linked to a record in each
    assert result["in_every_crm"]["contacts"] >= min(matched) and result["in_every_crm"]["sample"]["emails"]
    assert (tmp_path / "demo" / "crmsync.duckdb").exists()
