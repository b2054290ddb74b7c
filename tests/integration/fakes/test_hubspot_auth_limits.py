"""Auth and limits of the fake HubSpot: private-app token, OAuth code → token → refresh → expiry, 401 bodies,
the ten-second, daily and search limits with their 429 bodies and headers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

H = {"Authorization": "Bearer demo-token"}
CLIENT = {"client_id": "demo-client", "client_secret": "demo-secret"}


def code_for(srv, redirect: str = "https://app.example/cb") -> str:
    r = requests.get(f"{srv.url}/oauth/authorize", allow_redirects=False, timeout=5, params={
        "client_id": "demo-client", "redirect_uri": redirect, "scope": "crm.objects.contacts.read", "state": "s1"})
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == redirect and parse_qs(loc.query)["state"] == ["s1"]
    return parse_qs(loc.query)["code"][0]


def token(srv, **form) -> requests.Response:
    return requests.post(f"{srv.url}/oauth/v1/token", data={**CLIENT, **form}, timeout=5)


def test_missing_and_wrong_tokens_get_hubspots_401(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    r = requests.get(f"{srv.url}/crm/v3/objects/contacts", timeout=5)
    assert r.status_code == 401
    body = r.json()
    assert body["status"] == "error" and body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.") and body["correlationId"]
    r = requests.get(f"{srv.url}/crm/v3/objects/contacts", headers={"Authorization": "Bearer nope"}, timeout=5)
    assert r.status_code == 401 and "invalid or has been revoked" in r.json()["message"]


def test_oauth_code_token_refresh_and_expiry(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False, access_token_ttl=60)
    r = token(srv, grant_type="authorization_code", code=code_for(srv), redirect_uri="https://app.example/cb")
    assert r.status_code == 200
    pair = r.json()
    assert set(pair) == {"token_type", "refresh_token", "access_token", "expires_in"} and pair["expires_in"] == 60
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    assert requests.get(f"{srv.url}/crm/v3/objects/deals", headers=bearer, timeout=5).status_code == 200
    info = requests.get(f"{srv.url}/oauth/v1/access-tokens/{pair['access_token']}", timeout=5).json()
    assert info["hub_id"] == 24151773 and 0 < info["expires_in"] <= 60 and info["token_type"] == "access"

    srv.app.clock.advance(61)
    r = requests.get(f"{srv.url}/crm/v3/objects/deals", headers=bearer, timeout=5)
    assert r.status_code == 401 and r.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert r.json()["message"].startswith("The OAuth token used to make this call expired")

    again = token(srv, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    assert again["refresh_token"] == pair["refresh_token"]  # HubSpot's refresh tokens do not rotate
    assert again["access_token"] != pair["access_token"]
    fresh = {"Authorization": f"Bearer {again['access_token']}"}
    assert requests.get(f"{srv.url}/crm/v3/objects/deals", headers=fresh, timeout=5).status_code == 200
    # the same refresh token keeps working
    assert token(srv, grant_type="refresh_token", refresh_token=pair["refresh_token"]).status_code == 200


def test_oauth_errors_have_hubspots_status_codes(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    code = code_for(srv)
    cases = [({"grant_type": "authorization_code", "code": "bogus"}, "BAD_AUTH_CODE"),
             ({"grant_type": "refresh_token", "refresh_token": "bogus"}, "BAD_REFRESH_TOKEN"),
             ({"grant_type": "password"}, "BAD_GRANT_TYPE"),
             ({"grant_type": "authorization_code", "code": code, "redirect_uri": "https://evil.example/"},
              "BAD_REDIRECT_URI"),
             ({"grant_type": "authorization_code", "code": code, "client_secret": "wrong"}, "BAD_CLIENT_SECRET"),
             ({"grant_type": "authorization_code", "code": code, "client_id": "wrong"}, "BAD_CLIENT_ID")]
    for form, status in cases:
        r = token(srv, **form)
        assert r.status_code == 400 and r.json()["status"] == status, (form, r.text)
    r = token(srv, grant_type="authorization_code", code=code, redirect_uri="https://app.example/cb")
    assert r.status_code == 200
    assert token(srv, grant_type="authorization_code", code=code).json()["status"] == "BAD_AUTH_CODE"  # used once


def test_private_app_burst_limit_and_headers(fake_crm):
    srv = fake_crm("hubspot", burst_per_10s=20, daily_limit=1000)
    session = requests.Session()
    answers = [session.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5) for _ in range(21)]
    assert [r.status_code for r in answers] == [200] * 20 + [429]
    first, last_ok, limited = answers[0], answers[19], answers[20]
    assert first.headers["X-HubSpot-RateLimit-Max"] == "20"
    assert first.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert first.headers["X-HubSpot-RateLimit-Remaining"] == "19"
    assert last_ok.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert first.headers["X-HubSpot-RateLimit-Daily"] == "1000"
    assert last_ok.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "980"
    body = limited.json()
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert body["category"] == "RATE_LIMITS" and body["message"] == "You have reached your ten_secondly_rolling limit."


def test_documented_default_burst_is_190_per_ten_seconds(fake_crm):
    srv = fake_crm("hubspot")
    session = requests.Session()
    statuses = [session.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5).status_code for _ in range(191)]
    assert statuses.count(200) == 190 and statuses[-1] == 429


def test_daily_limit_then_midnight(fake_crm):
    srv = fake_crm("hubspot", daily_limit=3)
    srv.app.clock.freeze(1767225600 + 3600)
    statuses = [requests.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert statuses[-1].json()["policyName"] == "DAILY"
    assert statuses[-1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    srv.app.clock.advance(86400)
    assert requests.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5).status_code == 200


def test_search_has_its_own_five_per_second_limit_without_headers(fake_crm):
    srv = fake_crm("hubspot")
    session = requests.Session()
    answers = [session.post(f"{srv.url}/crm/v3/objects/contacts/search", headers=H, json={"limit": 1}, timeout=5)
               for _ in range(6)]
    assert [r.status_code for r in answers] == [200] * 5 + [429]
    assert answers[-1].json()["policyName"] == "SECONDLY"
    assert not [h for h in answers[0].headers if h.lower().startswith("x-hubspot-ratelimit")]
    # other endpoints are not held back by the search limit
    assert session.get(f"{srv.url}/crm/v3/objects/contacts", headers=H, timeout=5).status_code == 200


def test_oauth_apps_have_no_daily_headers(fake_crm):
    srv = fake_crm("hubspot")
    pair = token(srv, grant_type="authorization_code", code=code_for(srv)).json()
    r = requests.get(f"{srv.url}/crm/v3/owners", headers={"Authorization": f"Bearer {pair['access_token']}"},
                     timeout=5)
    assert r.headers["X-HubSpot-RateLimit-Max"] == "110" and "X-HubSpot-RateLimit-Daily" not in r.headers


def test_no_rate_limit_switch(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False, burst_per_10s=2)
    session = requests.Session()
    assert {session.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5).status_code for _ in range(5)} == {200}
