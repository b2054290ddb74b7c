"""OAuth against the fake AmoCRM: consent redirect, code exchange, rotating refresh with grace, expiry."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

REDIRECT = "https://app.example/callback"
PROBLEM_DETAIL = "В запросе отсутствует ряд параметров или параметры невалидны"


def authorize(server, **params):
    query = {"client_id": "demo-client", "state": "xyz", "mode": "popup", "redirect_uri": REDIRECT, **params}
    return requests.get(server.url + "/oauth", params=query, allow_redirects=False, timeout=5)


def token(server, **body):
    return requests.post(server.url + "/oauth2/access_token", timeout=5,
                         json={"client_id": "demo-client", "client_secret": "demo-secret", "redirect_uri": REDIRECT,
                               **body})


def login(server):
    code = parse_qs(urlsplit(authorize(server).headers["Location"]).query)["code"][0]
    return token(server, grant_type="authorization_code", code=code).json()


def me(server, access):
    return requests.get(server.url + "/api/v4/account", headers={"Authorization": f"Bearer {access}"}, timeout=5)


def test_authorize_redirect_carries_code_state_referer(fake_amocrm):
    r = authorize(fake_amocrm)
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    q = parse_qs(loc.query)
    assert f"{loc.scheme}://{loc.netloc}{loc.path}" == REDIRECT
    assert q["state"] == ["xyz"] and q["client_id"] == ["demo-client"] and q["code"][0]
    assert q["referer"] == [urlsplit(fake_amocrm.url).netloc]
    bad = authorize(fake_amocrm, client_id="nope")
    assert bad.status_code == 400 and bad.json()["type"].endswith("OAuthProblemJson")


def test_exchange_gives_jwt_pair_that_works(fake_amocrm):
    pair = login(fake_amocrm)
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 86400 and isinstance(pair["server_time"], int)
    assert pair["access_token"].count(".") == 2
    assert me(fake_amocrm, pair["access_token"]).status_code == 200


def test_code_is_single_use_with_the_real_error_body(fake_amocrm):
    code = parse_qs(urlsplit(authorize(fake_amocrm).headers["Location"]).query)["code"][0]
    assert token(fake_amocrm, grant_type="authorization_code", code=code).status_code == 200
    again = token(fake_amocrm, grant_type="authorization_code", code=code)
    assert again.status_code == 400
    assert again.json() == {"hint": "Authorization code has been revoked", "title": "Некорректный запрос",
                            "type": "https://developers.amocrm.ru/v3/errors/OAuthProblemJson", "status": 400,
                            "detail": PROBLEM_DETAIL}
    assert token(fake_amocrm, grant_type="authorization_code", code=code, client_secret="x").status_code == 401


def test_refresh_rotates_and_old_token_has_grace_until_new_one_is_used(fake_amocrm):
    first = login(fake_amocrm)
    second = token(fake_amocrm, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    # The response of that refresh "got lost": the old refresh token still works.
    third = token(fake_amocrm, grant_type="refresh_token", refresh_token=first["refresh_token"]).json()
    assert me(fake_amocrm, third["access_token"]).status_code == 200
    # Using a newer token retires its ancestors.
    assert token(fake_amocrm, grant_type="refresh_token", refresh_token=third["refresh_token"]).status_code == 200
    dead = token(fake_amocrm, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert dead.status_code == 400 and dead.json()["hint"] == "Token has been revoked"
    assert dead.json()["detail"] == PROBLEM_DETAIL


def test_form_encoded_token_request_is_accepted(fake_amocrm):
    code = parse_qs(urlsplit(authorize(fake_amocrm).headers["Location"]).query)["code"][0]
    r = requests.post(fake_amocrm.url + "/oauth2/access_token", timeout=5, data={
        "client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "authorization_code", "code": code})
    assert r.status_code == 200


def test_access_token_expires_but_long_lived_token_does_not(fake_amocrm):
    pair = login(fake_amocrm)
    fake_amocrm.app.clock.advance(86400 + 1)
    r = me(fake_amocrm, pair["access_token"])
    assert r.status_code == 401
    assert r.json() == {"title": "Unauthorized", "type": "https://httpstatus.es/401", "status": 401,
                        "detail": "Invalid user name or password"}
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert me(fake_amocrm, "demo-token").status_code == 200
    assert me(fake_amocrm, "made-up").status_code == 401
    assert requests.get(fake_amocrm.url + "/api/v4/account", timeout=5).status_code == 401


def test_short_ttl_config(fake_crm):
    server = fake_crm("amocrm", rate_limit=False, access_token_ttl=1)
    pair = login(server)
    assert pair["expires_in"] == 1
    server.app.clock.advance(2)
    assert me(server, pair["access_token"]).status_code == 401
    fresh = token(server, grant_type="refresh_token", refresh_token=pair["refresh_token"]).json()
    assert me(server, fresh["access_token"]).status_code == 200
