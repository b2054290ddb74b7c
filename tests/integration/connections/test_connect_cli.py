"""`crmsync connect` and `crmsync connections` as real subprocesses against the fake CRMs."""

import json
import os

import pytest

from crmsync.connections import repository
from tests.integration.connections.helpers import SECRET, cli_env, cli_oauth_connect, crmsync
from tests.store_plugin import both_stores


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_full_oauth_connect_through_the_loopback_callback(project, fake_crm, crm):
    server = fake_crm(crm, rate_limit=False)
    code, out, err = cli_oauth_connect(project, crm, server, "main", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "main" and result["auth"] == "oauth2" and result["status"] == "ok"
    assert server.app.oauth.exchange_count == 1
    assert "state=" in err and "redirect_uri=http%3A%2F%2F127.0.0.1" in err
    listed = json.loads(crmsync(project, "connections", "list", "--json").stdout)["connections"]
    assert [(c["name"], c["status"]) for c in listed] == [("main", "ok")]
    assert listed[0]["last_ok_at"] and listed[0]["token_expires_at"]
    shown = crmsync(project, "connections", "show", "main", "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["key_matches"] is True


def test_auth_url_then_code_for_headless_machines(project, fake_amocrm):
    import requests
    base = ["--base-url", fake_amocrm.url, "--authorize-url", fake_amocrm.url + "/oauth", "--client-id", "demo-client"]
    r = crmsync(project, "connect", "amocrm", "--name", "hl", *base, "--auth-url", "--redirect-port", "8799")
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    assert url.startswith(fake_amocrm.url + "/oauth?") and "state=" in url
    # The browser elsewhere lands on http://127.0.0.1:8799/callback?code=... (nothing listens): the user copies it.
    landed = requests.get(url, allow_redirects=False, timeout=10).headers["Location"]
    tampered = landed.replace("state=", "state=x")
    r = crmsync(project, "connect", "amocrm", "--name", "hl", *base, "--code", tampered,
                env=cli_env(CRMSYNC_CLIENT_SECRET=SECRET))
    assert r.returncode == 2 and "different `state`" in r.stderr
    r = crmsync(project, "connect", "amocrm", "--name", "hl", *base, "--code", landed,
                env=cli_env(CRMSYNC_CLIENT_SECRET=SECRET))
    assert r.returncode == 0, r.stderr
    assert "connected hl" in r.stdout


@both_stores
def test_long_lived_token_and_webhook_url(project, fake_crm, store):
    """On a Postgres store (a pipeline of the project uses one) the vault's rows live there."""
    env = {}
    if store.engine == "postgres":
        (project.root / "pipelines").mkdir()
        (project.root / "pipelines" / "amo.yaml").write_text(store.staging_yaml())
        env = {"CRMSYNC_PG_DSN": os.environ["CRMSYNC_PG_DSN"]}
    amo, b24 = fake_crm("amocrm", rate_limit=False), fake_crm("bitrix24", rate_limit=False)
    r = crmsync(project, "connect", "amocrm", "--name", "amo", "--base-url", amo.url,
                env=cli_env(CRMSYNC_LONG_LIVED_TOKEN="demo-token", **env))
    assert r.returncode == 0, r.stderr
    assert "subdomain demo" in r.stdout
    r = crmsync(project, "connect", "bitrix24", "--name", "b24", "--webhook-url", b24.url + "/rest/1/demo/",
                env=cli_env(**env))
    assert r.returncode == 0, r.stderr
    assert "/rest/1/***/" in r.stdout and "/rest/1/demo/" not in r.stdout
    r = crmsync(project, "connections", "test", "b24", env=cli_env(**env))
    assert r.returncode == 0 and "b24: ok" in r.stdout
    r = crmsync(project, "connections", "delete", "amo", env=cli_env(**env))  # no terminal to ask on: refused
    assert r.returncode == 2 and "needs confirmation: add --yes" in r.stderr
    r = crmsync(project, "connections", "delete", "amo", "--yes", env=cli_env(**env))
    assert r.returncode == 0
    assert [c.name for c in repository.list_all(project)] == ["b24"]
    assert store.rows(project, "SELECT name FROM sync.connections") == [("b24",)]
    assert (project.root / "crmsync.duckdb").exists() is (store.engine == "duckdb")


@pytest.mark.parametrize("case, code, message", [
    ("wrong_token", 3, "rejected the long-lived token (HTTP 401"),
    ("bad_webhook_shape", 2, "--webhook-url is not a Bitrix24 inbound webhook URL"),
    ("wrong_webhook_code", 3, "rejected the webhook URL (HTTP 401: NO_AUTH_FOUND"),
    ("wrong_subdomain", 2, "wrong subdomain: the credential belongs to the account 'demo', not 'acme'"),
    ("unreachable", 2, "cannot reach AmoCRM / Kommo (API v4) at http://127.0.0.1:9"),
    ("wrong_client_secret", 3, "rejected the OAuth client (client id or client secret)"),
    ("unknown_crm", 2, "no connector spec for 'pipedrive'"),
])
def test_bad_credentials_fail_with_a_specific_message_and_save_nothing(project, fake_crm, case, code, message):
    amo, b24 = fake_crm("amocrm", rate_limit=False), fake_crm("bitrix24", rate_limit=False)
    args = {
        "wrong_token": ["amocrm", "--base-url", amo.url, "--long-lived-token", "not-the-token"],
        "bad_webhook_shape": ["bitrix24", "--webhook-url", b24.url + "/rest/crm.contact.list"],
        "wrong_webhook_code": ["bitrix24", "--webhook-url", b24.url + "/rest/1/wrongcode/"],
        "wrong_subdomain": ["amocrm", "--subdomain", "acme", "--base-url", amo.url, "--long-lived-token", "demo-token"],
        "unreachable": ["amocrm", "--base-url", "http://127.0.0.1:9", "--long-lived-token", "demo-token"],
        "wrong_client_secret": None,
        "unknown_crm": ["pipedrive", "--long-lived-token", "x"],
    }[case]
    if args is None:
        rc, out, err = cli_oauth_connect(project, "amocrm", amo, "x",
                                         env=cli_env(CRMSYNC_CLIENT_SECRET="not-the-secret"))
    else:
        r = crmsync(project, "connect", *args[:1], "--name", "x", *args[1:])
        rc, out, err = r.returncode, r.stdout, r.stderr
    assert rc == code, err
    assert message in err
    assert "Traceback" not in err
    assert repository.list_all(project) == []
    assert "not-the-secret" not in err + out and "wrongcode" not in err + out


def test_existing_name_needs_replace(project, fake_amocrm):
    args = ["connect", "amocrm", "--name", "a", "--base-url", fake_amocrm.url, "--long-lived-token", "demo-token"]
    assert crmsync(project, *args).returncode == 0
    r = crmsync(project, *args)
    assert r.returncode == 2 and "already exists; pass --replace" in r.stderr
    assert crmsync(project, *args, "--replace").returncode == 0
