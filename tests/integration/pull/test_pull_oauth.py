"""A pull over OAuth connections: access tokens that expire in the middle are refreshed transparently."""

import shutil
import threading
import time

import pytest

from crmsync.project import Project, builtin_project_dir
from crmsync.pull import run_pull
from tests.integration.connections.helpers import connect_oauth


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    for folder in ("connectors", "mappings", "pipelines", "config"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project.at(tmp_path)


def expire_when(server, requests_seen: int) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 60
        while server.stats.total < requests_seen and time.monotonic() < deadline:
            time.sleep(0.005)
        server.app.oauth.expire_access_tokens()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_token_expiring_mid_pull_is_refreshed_and_nothing_is_lost(project, fake_crm, crm):
    server = fake_crm(crm, contacts=1300, deals=200, tasks=100)  # real rate limits: the pull takes a while
    connect_oauth(project, crm, server, name=crm)
    before = server.app.oauth.refresh_count
    watcher = expire_when(server, server.stats.total + 3)
    result = run_pull(project, crm)
    watcher.join(timeout=5)
    assert {e: (c["read"], c["rejected"]) for e, c in result.entities.items()} == {
        "contact": (1300, 0), "deal": (200, 0), "task": (100, 0)}
    assert server.app.oauth.refresh_count == before + 1        # one refresh, no 401 loop
    # each entity's listing streams on a thread of its own: the requests in flight when the token
    # expired are each answered 401 once, and all go on with the one refreshed token
    assert 1 <= server.stats.by_status.get(401, 0) <= 3
