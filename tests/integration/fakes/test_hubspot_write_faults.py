"""Faults timed against writes on the fake HubSpot: ``-after`` applies the write then spoils the answer,
``-before`` does not apply it; searches and batch reads are reads, so write faults pass them by."""

from __future__ import annotations

import pytest
import requests

H = {"Authorization": "Bearer demo-token"}


def _count(srv, name: str) -> int:
    body = {"filterGroups": [{"filters": [{"propertyName": "dealname", "operator": "EQ", "value": name}]}]}
    return requests.post(f"{srv.url}/crm/v3/objects/deals/search", headers=H, json=body, timeout=5).json()["total"]


@pytest.mark.parametrize("spec, applied", [("500-after:x1", True), ("drop-after:x1", True),
                                           ("429-before:x1", False), ("drop-before:x1", False)])
def test_write_faults_before_and_after_the_create(fake_crm, spec, applied):
    srv = fake_crm("hubspot", rate_limit=False, faults=[spec])
    # reads (list, search, batch read) are not writes: the rule waits for the create
    assert requests.get(f"{srv.url}/crm/v3/objects/deals", headers=H, timeout=5).status_code == 200
    assert _count(srv, "Lost answer") == 0
    assert requests.post(f"{srv.url}/crm/v3/objects/deals/batch/read", headers=H, timeout=5,
                         json={"inputs": [{"id": "5001"}]}).status_code == 200
    try:
        r = requests.post(f"{srv.url}/crm/v3/objects/deals", headers=H, timeout=5,
                          json={"properties": {"dealname": "Lost answer"}})
        assert r.status_code != 201
    except requests.ConnectionError:
        pass
    assert _count(srv, "Lost answer") == (1 if applied else 0)


def test_after_fault_on_a_batch_update_keeps_the_changes(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False, faults=["503-after:x1@/batch/update"])
    r = requests.post(f"{srv.url}/crm/v3/objects/contacts/batch/update", headers=H, timeout=5,
                      json={"inputs": [{"id": "101", "properties": {"jobtitle": "Applied"}}]})
    assert r.status_code == 503
    got = requests.get(f"{srv.url}/crm/v3/objects/contacts/101", headers=H, params={"properties": "jobtitle"},
                       timeout=5).json()
    assert got["properties"]["jobtitle"] == "Applied"
