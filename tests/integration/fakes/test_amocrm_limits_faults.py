"""Rate limits and injected faults of the fake AmoCRM look like the real service's."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import pytest
import requests

from crmsync.fakes import FaultPlan

H = {"Authorization": "Bearer demo-token"}


def test_burst_over_seven_per_second_gets_429_with_real_body(fake_crm):
    server = fake_crm("amocrm", retry_after=2)
    session = requests.Session()
    statuses, limited = [], None
    for _ in range(20):
        r = session.get(server.url + "/api/v4/account", headers=H, timeout=5)
        statuses.append(r.status_code)
        if r.status_code == 429:
            limited = r
    assert statuses.count(200) >= 7 and statuses.count(429) >= 1
    assert limited is not None and limited.headers["Retry-After"] == "2"
    assert limited.json() == {"title": "Too Many Requests", "type": "https://httpstatus.es/429", "status": 429,
                              "detail": "You have sent too many requests in a given amount of time. "
                                        "Please try again later.", "retry_after": 2}


@pytest.mark.slow
def test_spaced_requests_never_limited(fake_crm):
    server = fake_crm("amocrm")
    session = requests.Session()
    statuses = []
    for _ in range(10):  # 1.5 s at ~6.7 requests per second
        statuses.append(session.get(server.url + "/api/v4/account", headers=H, timeout=5).status_code)
        time.sleep(0.15)
    assert statuses == [200] * 10


def test_limit_is_per_token(fake_crm):
    server = fake_crm("amocrm")
    for _ in range(7):
        assert requests.get(server.url + "/api/v4/account", headers=H, timeout=5).status_code == 200
    pair_code = requests.get(server.url + "/oauth", params={"client_id": "demo-client"}, allow_redirects=False,
                             timeout=5).headers["Location"].split("code=")[1].split("&")[0]
    pair = requests.post(server.url + "/oauth2/access_token", timeout=5, json={
        "client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "authorization_code",
        "code": pair_code}).json()
    other = {"Authorization": f"Bearer {pair['access_token']}"}
    assert requests.get(server.url + "/api/v4/account", headers=other, timeout=5).status_code == 200


def test_503_twice_then_fine(fake_crm):
    server = fake_crm("amocrm", rate_limit=False, faults=["503:x2"])
    got = [requests.get(server.url + "/api/v4/contacts", headers=H, timeout=5) for _ in range(3)]
    assert [r.status_code for r in got] == [503, 503, 200]
    assert got[0].json()["title"] == "Service Unavailable" and got[0].headers["Retry-After"] == "1"


@pytest.mark.parametrize("status,check", [
    (500, lambda r: r.json()["title"] == "ErrInternalServer" and len(r.json()["trace_id"]) == 32),
    (502, lambda r: "<center>nginx</center>" in r.text),
    (504, lambda r: "504 Gateway Time-out" in r.text or "504 Gateway Timeout" in r.text),
    (403, lambda r: r.text == "403 Forbidden"),
    (402, lambda r: r.json()["detail"] == "Payment required"),
    (401, lambda r: r.json()["detail"] == "Invalid user name or password"),
    (400, lambda r: r.json()["title"] == "Bad Request"),
])
def test_injected_statuses_have_real_bodies(fake_crm, status, check):
    server = fake_crm("amocrm", rate_limit=False, faults=[f"{status}:x1"])
    r = requests.get(server.url + "/api/v4/leads", headers=H, timeout=5)
    assert r.status_code == status and check(r)


def test_drop_truncate_and_hang(fake_crm):
    plan = FaultPlan()
    plan.add("drop", count=1)
    plan.add("truncate", count=1)
    plan.add("hang", count=1, hang_seconds=0.5)
    server = fake_crm("amocrm", rate_limit=False, faults=plan)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/api/v4/contacts", headers=H, timeout=5)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        requests.get(server.url + "/api/v4/contacts", headers=H, timeout=5).json()
    netloc = urlsplit(server.url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=0.2)
    conn.request("GET", "/api/v4/contacts", headers=H)
    with pytest.raises((TimeoutError, OSError)):
        conn.getresponse()
    conn.close()
    time.sleep(0.4)  # let the hung handler finish before the next request
    assert requests.get(server.url + "/api/v4/contacts", headers=H, timeout=5).status_code == 200
