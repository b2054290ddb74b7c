"""Secrets never in the store file, the logs or any CLI output; wrong key and tampering are caught."""

import json

import duckdb
import requests

from crmsync.connections import repository
from crmsync.secrets.keys import new_key_text
from tests.integration.connections.helpers import SECRET, cli_env, cli_oauth_connect, crmsync

WEBHOOK_CODE = "wh0ok7c0de5ecret"
LONG_LIVED = "ll-token-5ecret-value"


def test_no_secret_in_store_logs_or_output(project, fake_crm):
    amo = fake_crm("amocrm", rate_limit=False, token=LONG_LIVED)
    b24 = fake_crm("bitrix24", rate_limit=False, webhook_code=WEBHOOK_CODE)
    outputs = []
    secrets = {SECRET, LONG_LIVED, WEBHOOK_CODE}

    def issued():  # every code, access and refresh token the fakes issued so far (Bitrix24 forgets retired ones)
        return {t for s in (amo, b24) for t in (*s.app.oauth._access, *s.app.oauth._refresh, *s.app.oauth._codes)}

    def run(*args, env=None):
        r = crmsync(project, *args, env=env or cli_env(CRMSYNC_LOG_LEVEL="DEBUG"))
        outputs.extend([r.stdout, r.stderr])
        return r

    env = cli_env(CRMSYNC_CLIENT_SECRET=SECRET, CRMSYNC_LOG_LEVEL="DEBUG")
    for crm, server in (("amocrm", amo), ("bitrix24", b24)):
        code, out, err = cli_oauth_connect(project, crm, server, f"{crm}-oauth", "--json", env=env)
        assert code == 0, err
        outputs += [out, err]
    assert run("connect", "amocrm", "--name", "ll", "--base-url", amo.url, "--long-lived-token", LONG_LIVED,
               "--json").returncode == 0
    assert run("connect", "bitrix24", "--name", "wh", "--webhook-url", f"{b24.url}/rest/1/{WEBHOOK_CODE}/",
               "--json").returncode == 0
    secrets |= issued()
    for server in (amo, b24):  # refresh: the access tokens expire, `test` refreshes through the session
        requests.post(server.url + "/_fake/expire-tokens", timeout=5)
    for name in ("amocrm-oauth", "bitrix24-oauth", "ll", "wh"):
        r = run("connections", "test", name, "--json")
        assert r.returncode == 0, r.stderr
    run("connections", "show", "bitrix24-oauth", "--json")
    run("connections", "show", "wh")
    run("connections", "list", "--json")
    run("connections", "list")
    # Failing commands: a wrong webhook code, a revoked grant (its refresh fails), a bad token.
    assert run("connect", "bitrix24", "--name", "bad", "--webhook-url", f"{b24.url}/rest/1/{WEBHOOK_CODE}x/"
               ).returncode == 3
    assert run("connect", "amocrm", "--name", "bad", "--base-url", amo.url, "--long-lived-token",
               LONG_LIVED + "-wrong").returncode == 3
    secrets |= issued()
    assert len(secrets) == 3 + 2 * (1 + 2 + 2)  # per CRM: 1 code, 2 access + 2 refresh tokens (connect, refresh)
    requests.post(amo.url + "/_fake/revoke-tokens", timeout=5)
    assert run("connections", "test", "amocrm-oauth").returncode == 3
    haystacks = {"store": project.store_path().read_bytes().decode("latin-1")}
    wal = project.store_path().with_suffix(".duckdb.wal")
    if wal.exists():
        haystacks["wal"] = wal.read_bytes().decode("latin-1")
    logs = list(project.logs_dir.glob("*.log"))
    assert logs and "refreshing the access token" in logs[0].read_text()
    haystacks |= {str(p): p.read_text() for p in logs}
    haystacks |= {f"output {i}": text for i, text in enumerate(outputs)}
    for where, text in haystacks.items():
        leaked = [s[:6] + "…" for s in secrets if s in text]
        assert not leaked, f"secret(s) {leaked} found in {where}"


def test_wrong_key_and_tampered_ciphertext_are_clear_errors(project, fake_amocrm):
    key = new_key_text()
    env = cli_env(CRMSYNC_SECRET_KEY=key, CRMSYNC_LONG_LIVED_TOKEN="demo-token")
    assert crmsync(project, "connect", "amocrm", "--name", "a", "--base-url", fake_amocrm.url,
                   env=env).returncode == 0
    wrong = crmsync(project, "connections", "test", "a", env=cli_env(CRMSYNC_SECRET_KEY=new_key_text()))
    assert wrong.returncode == 2
    assert "cannot decrypt the credentials of connection 'a'" in wrong.stderr
    assert "the key from CRMSYNC_SECRET_KEY has id" in wrong.stderr and "Traceback" not in wrong.stderr
    malformed = crmsync(project, "connections", "test", "a", env=cli_env(CRMSYNC_SECRET_KEY="short"))
    assert malformed.returncode == 2
    assert "not a valid crmsync key: expected urlsafe base64 of 32 bytes" in malformed.stderr
    shown = json.loads(crmsync(project, "connections", "show", "a", "--json",
                               env=cli_env(CRMSYNC_SECRET_KEY=new_key_text())).stdout)
    assert shown["key_matches"] is False  # show works without the key, and says it does not match

    with duckdb.connect(str(project.store_path())) as con:  # flip one byte of the ciphertext
        secret = bytearray(con.execute("SELECT secret FROM sync.connections WHERE name='a'").fetchone()[0])
        secret[20] ^= 1
        con.execute("UPDATE sync.connections SET secret = ? WHERE name = 'a'", [bytes(secret)])
    tampered = crmsync(project, "connections", "test", "a", env=cli_env(CRMSYNC_SECRET_KEY=key))
    assert tampered.returncode == 2
    assert "failed their integrity check" in tampered.stderr and "Nothing was sent to the CRM" in tampered.stderr


def test_rotate_key_reencrypts_everything(project, fake_crm, tmp_path):
    amo, b24 = fake_crm("amocrm", rate_limit=False), fake_crm("bitrix24", rate_limit=False)
    assert crmsync(project, "connect", "amocrm", "--name", "a", "--base-url", amo.url, "--long-lived-token",
                   "demo-token").returncode == 0
    assert crmsync(project, "connect", "bitrix24", "--name", "b", "--webhook-url",
                   b24.url + "/rest/1/demo/").returncode == 0
    key_file = project.state_dir / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    old_key = key_file.read_text()
    r = crmsync(project, "connections", "rotate-key", "--json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["connections"] == 2 and result["old_key_id"] != result["new_key_id"]
    assert key_file.read_text() != old_key and key_file.stat().st_mode & 0o777 == 0o600
    assert {c.key_id for c in repository.list_all(project)} == {result["new_key_id"]}
    assert crmsync(project, "connections", "test", "a").returncode == 0
    assert crmsync(project, "connections", "test", "b").returncode == 0
    # The old key no longer opens anything.
    old = crmsync(project, "connections", "test", "a", env=cli_env(CRMSYNC_SECRET_KEY=old_key.strip()))
    assert old.returncode == 2 and "cannot decrypt" in old.stderr
    # With the key in the environment, the new key goes to a file the user moves into their secret store.
    env_key = key_file.read_text().strip()
    r = crmsync(project, "connections", "rotate-key", env=cli_env(CRMSYNC_SECRET_KEY=env_key))
    assert r.returncode == 2 and "--new-key-file" in r.stderr
    out = tmp_path / "new.key"
    r = crmsync(project, "connections", "rotate-key", "--new-key-file", str(out),
                env=cli_env(CRMSYNC_SECRET_KEY=env_key))
    assert r.returncode == 0 and "set CRMSYNC_SECRET_KEY to the contents of" in r.stdout
    assert crmsync(project, "connections", "test", "b",
                   env=cli_env(CRMSYNC_SECRET_KEY=out.read_text().strip())).returncode == 0
