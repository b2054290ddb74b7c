"""Token lifecycle against the fakes: transparent refresh, single-flight across processes, crash recovery."""

import hashlib
import json
import os
import subprocess
import sys
import threading

import pytest
import requests

from crmsync.connections import repository
from crmsync.connections.model import NEEDS_REAUTH
from crmsync.connections.session import authorized_session
from crmsync.connections.tokens import NeedsReauthorisation, TokenManager
from crmsync.http.pacing import Unlimited
from tests.integration.connections.helpers import cli_env, connect_oauth, crmsync


def _pages(session, fake, expire_after_page: int) -> list[int]:
    """A long paged read (AmoCRM: 250 per page, 204 when done); the fake expires every token mid-way."""
    ids, page = [], 1
    while True:
        response = session.get("api/v4/contacts", params={"page": page, "limit": 25})
        if response.status_code == 204:
            return ids
        ids += [c["id"] for c in response.json()["_embedded"]["contacts"]]
        if page == expire_after_page:
            requests.post(fake.url + "/_fake/expire-tokens", timeout=5)
        page += 1


def test_access_token_expiring_mid_read_is_refreshed_transparently(project, fake_crm):
    amo = fake_crm("amocrm", rate_limit=False, contacts=300)
    connect_oauth(project, "amocrm", amo)
    session = authorized_session(project, "main", pacer=Unlimited())
    ids = _pages(session, amo, expire_after_page=5)
    assert len(ids) == 300 and len(set(ids)) == 300
    assert amo.app.oauth.refresh_count == 1 and session.stats.refreshes == 1
    assert amo.stats.by_status[401] == 1  # one 401, one refresh, one retry: no loop
    assert repository.get(project, "main").generation == 1


def test_bitrix24_expired_token_mid_read_is_refreshed(project, fake_crm):
    b24 = fake_crm("bitrix24", rate_limit=False, contacts=200)
    connect_oauth(project, "bitrix24", b24)
    session = authorized_session(project, "main", pacer=Unlimited())
    seen, start = [], 0
    while start is not None:
        body = session.get("crm.contact.list", params={"start": start, "select[]": "ID"}).json()
        seen += [r["ID"] for r in body["result"]]
        if start == 50:
            requests.post(b24.url + "/_fake/expire-tokens", timeout=5)
        start = body.get("next")
    assert len(seen) == 200 and b24.app.oauth.refresh_count == 1


def test_refresh_ahead_of_expiry_without_a_401(project, fake_amocrm):
    connect_oauth(project, "amocrm", fake_amocrm)
    expires = repository.get(project, "main").token_expires_at
    tokens = TokenManager(project, "main", clock=lambda: expires - 30)  # 30 s left < 60 s ahead window
    session = authorized_session(project, "main", pacer=Unlimited())
    session.auth.tokens = tokens
    assert session.get("api/v4/account").status_code == 200
    assert fake_amocrm.app.oauth.refresh_count == 1 and fake_amocrm.stats.by_status.get(401, 0) == 0


def test_threads_share_one_refresh(project, fake_amocrm):
    connect_oauth(project, "amocrm", fake_amocrm)
    managers = [TokenManager(project, "main") for _ in range(6)]
    stale = managers[0].connection.credentials["access_token"]
    barrier = threading.Barrier(6)

    def go(m):
        barrier.wait()
        m.refresh(stale=stale)

    threads = [threading.Thread(target=go, args=(m,)) for m in managers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert fake_amocrm.app.oauth.refresh_count == 1
    assert len({m.connection.credentials["access_token"] for m in managers}) == 1


_REFRESH_SCRIPT = """
import hashlib, os, sys, time
from crmsync.project import Project
from crmsync.connections.tokens import TokenManager
m = TokenManager(Project.at(sys.argv[1]), "main")
stale = m.connection.credentials["access_token"]
print("ready", flush=True)
sys.stdin.readline()  # the gun: both processes hold the stale token before either refreshes
m.refresh(stale=stale)
print(hashlib.sha256(m.connection.credentials["access_token"].encode()).hexdigest())
"""


def _python(project, script, *args, env=None, stdin=None):
    return subprocess.Popen([sys.executable, "-c", script, str(project.root), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=stdin, text=True, env=env or cli_env())


def test_two_processes_refreshing_at_once_make_one_refresh(project, fake_amocrm):
    connect_oauth(project, "amocrm", fake_amocrm)
    # both processes have read the stale token before the gun (a process slow to start under load
    # would otherwise read the already refreshed one and rightly refresh again)
    procs = [_python(project, _REFRESH_SCRIPT, stdin=subprocess.PIPE) for _ in range(2)]
    assert [p.stdout.readline().strip() for p in procs] == ["ready", "ready"]
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert fake_amocrm.app.oauth.refresh_count == 1
    digests = {o[0].strip() for o in outs}
    assert len(digests) == 1  # both ended with the same token ...
    stored = repository.get(project, "main", TokenManager(project, "main").vault).credentials["access_token"]
    assert digests == {hashlib.sha256(stored.encode()).hexdigest()}  # ... the saved one, which works:
    r = requests.get(fake_amocrm.url + "/api/v4/account", headers={"Authorization": f"Bearer {stored}"}, timeout=5)
    assert r.status_code == 200


_CRASH_SCRIPT = """
import sys
from crmsync.project import Project
from crmsync.connections.tokens import TokenManager
TokenManager(Project.at(sys.argv[1]), "main").refresh()
"""


def _refresh_and_get_killed(project):
    proc = _python(project, _CRASH_SCRIPT, env=cli_env(CRMSYNC_TEST_CRASH_AFTER="token_response"))
    proc.communicate(timeout=60)
    return proc.returncode


def test_killed_after_the_token_response_amocrm_recovers_with_the_old_refresh_token(project, fake_amocrm):
    connect_oauth(project, "amocrm", fake_amocrm)
    before = repository.get(project, "main")
    assert _refresh_and_get_killed(project) == 137
    assert fake_amocrm.app.oauth.refresh_count == 1  # the CRM issued a pair that we never saved
    after = repository.get(project, "main")
    assert after.generation == before.generation and after.refresh_started_at is not None
    requests.post(fake_amocrm.url + "/_fake/expire-tokens", timeout=5)
    r = crmsync(project, "connections", "test", "main")
    assert r.returncode == 0, r.stderr
    assert "token refreshed" in r.stdout
    final = repository.get(project, "main")
    assert final.status == "ok" and final.generation == 1 and final.refresh_started_at is None


def test_killed_after_the_token_response_bitrix24_reports_reauthorisation(project, fake_bitrix24):
    connect_oauth(project, "bitrix24", fake_bitrix24)
    assert _refresh_and_get_killed(project) == 137
    refreshes = fake_bitrix24.app.oauth.refresh_count
    r = crmsync(project, "connections", "test", "main")
    assert r.returncode == 3
    assert "needs re-authorisation" in r.stderr and "did not finish saving its result" in r.stderr
    assert "retires the old refresh token at once" in r.stderr
    assert "Fix: crmsync connect bitrix24 --name main --replace" in r.stderr
    assert repository.get(project, "main").status == NEEDS_REAUTH
    # Fails fast from now on: no more token requests, no 401 loop.
    calls = fake_bitrix24.stats.total
    r = crmsync(project, "connections", "test", "main")
    assert r.returncode == 3 and fake_bitrix24.stats.total == calls
    assert fake_bitrix24.app.oauth.refresh_count == refreshes  # the rejected attempt issued nothing
    listed = json.loads(crmsync(project, "connections", "list", "--json").stdout)["connections"]
    assert listed[0]["status"] == "needs re-authorisation" and "--replace" in listed[0]["fix"]
    # The printed fix works: re-authorise with the stored settings.
    connect_oauth(project, "bitrix24", fake_bitrix24, replace=True)
    assert crmsync(project, "connections", "test", "main").returncode == 0


def test_connect_killed_after_the_code_exchange_saves_nothing(project, fake_amocrm):
    from tests.integration.connections.helpers import cli_oauth_connect
    code, _, _ = cli_oauth_connect(project, "amocrm", fake_amocrm, "main",
                                   env=cli_env(CRMSYNC_CLIENT_SECRET="demo-secret",
                                               CRMSYNC_TEST_CRASH_AFTER="token_response"))
    assert code == 137 and fake_amocrm.app.oauth.exchange_count == 1
    assert repository.list_all(project) == []
    code, _, err = cli_oauth_connect(project, "amocrm", fake_amocrm, "main")
    assert code == 0, err


def test_revoked_grant_marks_needs_reauth_once(project, fake_amocrm):
    connect_oauth(project, "amocrm", fake_amocrm)
    requests.post(fake_amocrm.url + "/_fake/revoke-tokens", timeout=5)
    session = authorized_session(project, "main", pacer=Unlimited())
    with pytest.raises(NeedsReauthorisation, match="rejected its refresh token: Token has been revoked"):
        session.get("api/v4/account")
    calls = fake_amocrm.stats.total
    with pytest.raises(NeedsReauthorisation, match="Fix: crmsync connect amocrm --name main --replace"):
        authorized_session(project, "main").get("api/v4/account")
    assert fake_amocrm.stats.total == calls


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_long_lived_token_revoked_is_failing_not_refreshed(project, fake_amocrm):
    r = crmsync(project, "connect", "amocrm", "--name", "ll", "--base-url", fake_amocrm.url,
                env=cli_env(CRMSYNC_LONG_LIVED_TOKEN="demo-token"))
    assert r.returncode == 0, r.stderr
    requests.post(fake_amocrm.url + "/_fake/revoke-tokens", timeout=5)
    r = crmsync(project, "connections", "test", "ll")
    assert r.returncode == 3 and "rejected the long-lived token" in r.stderr
    assert "--long-lived-token NEW_TOKEN" in r.stderr
    assert repository.get(project, "ll").status == "failing"
