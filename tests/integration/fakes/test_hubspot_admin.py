"""The shared ``/_fake/*`` admin routes steer the fake HubSpot as a portal user would."""

from __future__ import annotations

import requests

H = {"Authorization": "Bearer demo-token"}


def test_touch_delete_restore_and_state(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    before = requests.get(f"{srv.url}/crm/v3/objects/deals/5004", headers=H, timeout=5).json()
    touched = requests.post(f"{srv.url}/_fake/touch", json={"entity": "deals", "ids": [5004]}, timeout=5).json()
    assert touched["touched"][0]["properties"]["dealname"].endswith(" *")
    after = requests.get(f"{srv.url}/crm/v3/objects/deals/5004", headers=H, timeout=5).json()
    assert after["updatedAt"] > before["updatedAt"]
    changed = requests.post(f"{srv.url}/crm/v3/objects/deals/search", headers=H, timeout=5, json={"filterGroups": [
        {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": before["updatedAt"]}]}]})
    assert "5004" in [d["id"] for d in changed.json()["results"]]

    assert requests.post(f"{srv.url}/_fake/delete", json={"entity": "contact", "id": 101}, timeout=5).json() == \
        {"deleted": True}
    assert requests.get(f"{srv.url}/crm/v3/objects/contacts/101", headers=H, timeout=5).status_code == 404
    state = requests.get(f"{srv.url}/_fake/state", timeout=5).json()
    assert state["crm"] == "hubspot" and state["deleted"]["contacts"] == 1 and state["associations"] > 0
    assert requests.post(f"{srv.url}/_fake/restore", json={"entity": "contacts", "id": 101}, timeout=5).json() == \
        {"restored": True}
    assert requests.get(f"{srv.url}/crm/v3/objects/contacts/101", headers=H, timeout=5).status_code == 200


def test_expire_tokens_hits_oauth_tokens_only(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    code = requests.get(f"{srv.url}/oauth/authorize", params={"client_id": "demo-client"}, allow_redirects=False,
                        timeout=5).headers["Location"].split("code=")[1].split("&")[0]
    pair = requests.post(f"{srv.url}/oauth/v1/token", timeout=5, data={
        "grant_type": "authorization_code", "client_id": "demo-client", "client_secret": "demo-secret",
        "code": code}).json()
    requests.post(f"{srv.url}/_fake/expire-tokens", timeout=5)
    r = requests.get(f"{srv.url}/crm/v3/owners", headers={"Authorization": f"Bearer {pair['access_token']}"},
                     timeout=5)
    assert r.status_code == 401 and r.json()["category"] == "EXPIRED_AUTHENTICATION"
    assert requests.get(f"{srv.url}/crm/v3/owners", headers=H, timeout=5).status_code == 200


def test_reset_restores_the_seeded_portal(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    requests.delete(f"{srv.url}/crm/v3/objects/tasks/9001", headers=H, timeout=5)
    requests.post(f"{srv.url}/_fake/reset", timeout=5)
    assert requests.get(f"{srv.url}/crm/v3/objects/tasks/9001", headers=H, timeout=5).status_code == 200
