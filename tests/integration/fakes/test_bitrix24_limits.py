"""Fake Bitrix24 rate limits (leaky bucket, operating budget) and injected faults."""

import pytest
import requests

T0 = 1_780_000_000


def test_leaky_bucket_rejects_past_fifty_then_drains(fake_crm):
    server = fake_crm("bitrix24", rate_limit=True)
    server.app.clock.freeze(T0)  # the bucket drains on the fake's clock: no sleeping, no flakiness
    url = f"{server.url}/rest/1/demo/server.time"
    with requests.Session() as s:
        statuses = [s.get(url).status_code for _ in range(60)]
        assert statuses == [200] * 50 + [503] * 10
        assert s.get(url).json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
        server.app.clock.advance(1.0)  # 2 requests drain per second
        assert [s.get(url).status_code for _ in range(3)] == [200, 200, 503]
    assert server.app.snapshot()["rate_limited"] == 12


def test_operating_limit_blocks_one_method(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False, operating_limit=3, operating_cost=1.0)
    server.app.clock.freeze(T0)
    base = f"{server.url}/rest/1/demo/"
    first = requests.get(base + "crm.contact.list").json()
    assert first["time"]["operating"] == 1.0 and first["time"]["operating_reset_at"] >= T0 + 540
    assert [requests.get(base + "crm.contact.list").status_code for _ in range(3)] == [200, 200, 429]
    assert requests.get(base + "crm.contact.list").json()["error"] == "OPERATION_TIME_LIMIT"
    assert requests.get(base + "crm.deal.list").status_code == 200  # the budget is per method
    server.app.clock.advance(601)
    assert requests.get(base + "crm.contact.list").status_code == 200


def test_injected_503_then_fine(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False, faults=["503:x2"])
    url = f"{server.url}/rest/1/demo/profile"
    r1, r2, r3 = (requests.get(url) for _ in range(3))
    assert r1.status_code == r2.status_code == 503
    assert r1.json() == {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
    assert r3.status_code == 200 and r3.json()["result"]["ID"] == "1"


@pytest.mark.parametrize("status,code", [(429, "OPERATION_TIME_LIMIT"), (500, "INTERNAL_SERVER_ERROR"),
                                         (401, "expired_token"), (403, "ACCESS_DENIED"), (400, "")])
def test_injected_faults_look_real(fake_crm, status, code):
    server = fake_crm("bitrix24", rate_limit=False, faults=[f"{status}:x1"])
    r = requests.get(f"{server.url}/rest/1/demo/profile")
    assert r.status_code == status and r.json()["error"] == code and r.json()["error_description"]


def test_drop_and_truncate(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False, faults=["drop:x1", "truncate:x1"])
    url = f"{server.url}/rest/1/demo/crm.contact.list"
    with pytest.raises(requests.ConnectionError):
        requests.get(url)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError, ValueError)):
        requests.get(url).json()
    assert requests.get(url).status_code == 200


def test_rate_limit_switches_at_runtime_with_a_fresh_bucket(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False)
    server.app.clock.freeze(T0)
    url = f"{server.url}/rest/1/demo/server.time"
    with requests.Session() as s:
        assert all(s.get(url).status_code == 200 for _ in range(60))  # off: no bucket at all
        assert s.post(f"{server.url}/_fake/rate-limit", json={"enabled": True}).json() == {"rate_limit": True}
        assert [s.get(url).status_code for _ in range(51)] == [200] * 50 + [503]  # on: starts empty
        s.post(f"{server.url}/_fake/rate-limit", json={"enabled": True})  # again: a fresh bucket
        assert s.get(url).status_code == 200
        s.post(f"{server.url}/_fake/rate-limit", json={"enabled": False})
        assert all(s.get(url).status_code == 200 for _ in range(60))
        assert s.get(f"{server.url}/_fake/stats").json()["total"] > 0
        assert s.delete(f"{server.url}/_fake/stats").json()["total"] == 0
