"""``crmsync fake-crm hubspot`` as a real process: its line, its token, ``--set`` and ``--list-settings``."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests


def crmsync_cmd() -> list[str]:
    exe = Path(sys.executable).parent / "crmsync"
    return [str(exe)] if exe.exists() else [shutil.which("crmsync") or sys.executable, "-m", "crmsync"]


def test_fake_hubspot_process_serves_with_its_token_and_settings():
    proc = subprocess.Popen([*crmsync_cmd(), "fake-crm", "hubspot", "--contacts", "7", "--token", "pat-na1-123",
                             "--set", "burst_per_10s=3"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout=30)
    try:
        if not line:
            pytest.fail("fake-crm hubspot printed no URL within 30 s")
        assert "private-app token pat-na1-123" in line[0] and "rate limits on" in line[0]
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line[0]).group(1)
        h = {"Authorization": "Bearer pat-na1-123"}
        r = requests.get(url + "/crm/v3/objects/contacts", headers=h, params={"limit": 100}, timeout=10)
        assert r.status_code == 200 and len(r.json()["results"]) == 7
        assert r.headers["X-HubSpot-RateLimit-Max"] == "3"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_list_settings_and_a_bad_choice():
    out = subprocess.run([*crmsync_cmd(), "fake-crm", "hubspot", "--list-settings"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and "daily_limit" in out.stdout and "search_per_second" in out.stdout
    bad = subprocess.run([*crmsync_cmd(), "fake-crm", "hubspot", "--set", "batch_update_missing=maybe"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "is not one of: multi_status, error" in bad.stderr
