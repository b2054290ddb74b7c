"""Fake Bitrix24 authentication: inbound webhooks and the OAuth 2.0 flow with rotating refresh tokens."""

from urllib.parse import parse_qs, urlsplit

import requests


def authorize(server, state="s1", redirect="http://127.0.0.1:9/cb"):
    r = requests.get(f"{server.url}/oauth/authorize/", params={"client_id": "demo-client", "state": state,
                                                               "redirect_uri": redirect}, allow_redirects=False)
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    return loc, {k: v[0] for k, v in parse_qs(loc.query).items()}


def token(server, **params):
    return requests.get(f"{server.url}/oauth/token/", params={"client_id": "demo-client",
                                                              "client_secret": "demo-secret", **params})


def test_authorize_redirects_with_code_and_state(fake_bitrix24):
    loc, q = authorize(fake_bitrix24)
    assert (loc.scheme, loc.netloc, loc.path) == ("http", "127.0.0.1:9", "/cb")
    assert q["state"] == "s1" and q["code"] and q["domain"] == "demo.bitrix24.ru" and q["member_id"]
    assert q["scope"] == "crm,task,user" and q["server_domain"]


def test_code_exchange_refresh_rotation_and_expiry(fake_bitrix24):
    _, q = authorize(fake_bitrix24)
    r = token(fake_bitrix24, grant_type="authorization_code", code=q["code"])
    assert r.status_code == 200
    first = r.json()
    assert set(first) == {"access_token", "client_endpoint", "domain", "expires", "expires_in", "member_id",
                          "refresh_token", "scope", "server_endpoint", "status", "user_id"}
    assert first["client_endpoint"] == f"{fake_bitrix24.url}/rest/" and first["expires_in"] == 3600
    assert token(fake_bitrix24, grant_type="authorization_code", code=q["code"]).json()["error"] == "invalid_grant"

    def profile(access, how="query"):
        if how == "bearer":
            return requests.get(first["client_endpoint"] + "profile", headers={"Authorization": f"Bearer {access}"})
        if how == "body":
            return requests.post(first["client_endpoint"] + "profile.json", json={"auth": access})
        return requests.get(first["client_endpoint"] + "profile", params={"auth": access})

    for how in ("query", "body", "bearer"):
        assert profile(first["access_token"], how).json()["result"]["ID"] == "1"

    second = token(fake_bitrix24, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    again = token(fake_bitrix24, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    r = profile(first["access_token"])  # the old access token died with its refresh token
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    assert profile(second["access_token"]).status_code == 200

    fake_bitrix24.app.clock.advance(3601)
    r = profile(second["access_token"])
    assert r.status_code == 401 and r.json() == {"error": "expired_token",
                                                 "error_description": "The access token provided has expired."}
    third = token(fake_bitrix24, grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert third.status_code == 200 and profile(third.json()["access_token"]).status_code == 200


def test_short_token_lifetime_and_bad_client(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False, access_token_ttl=1)
    _, q = authorize(server)
    pair = token(server, grant_type="authorization_code", code=q["code"]).json()
    assert pair["expires_in"] == 1
    server.app.clock.advance(2)
    assert requests.get(f"{server.url}/rest/profile", params={"auth": pair["access_token"]}).status_code == 401
    bad = requests.get(f"{server.url}/oauth/token/", params={"grant_type": "refresh_token", "client_id": "demo-client",
                                                            "client_secret": "wrong",
                                                            "refresh_token": pair["refresh_token"]})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    assert token(server, grant_type="password").json()["error"] == "invalid_request"


def test_webhook_and_missing_auth(fake_bitrix24):
    url = fake_bitrix24.url
    wrong = {"error": "NO_AUTH_FOUND", "error_description": "Wrong authorization data"}
    for path in ("/rest/1/wrong/profile", "/rest/2/demo/profile", "/rest/profile"):
        r = requests.get(url + path)
        assert r.status_code == 401 and r.json() == wrong
    r = requests.get(url + "/rest/profile", params={"auth": "not-a-token"})
    assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    r = requests.get(url + "/rest/1/demo/no.such.method")
    assert r.status_code == 404 and r.json() == {"error": "ERROR_METHOD_NOT_FOUND",
                                                 "error_description": "Method not found!"}
    body = requests.get(url + "/rest/1/demo/profile.json").json()
    assert set(body["time"]) == {"start", "finish", "duration", "processing", "date_start", "date_finish",
                                 "operating_reset_at", "operating"}
