"""Deletions found three ways, each over a declared paginator: an id scan of a REST listing (not only
a batch one), a tombstone listing, and an events feed."""

from __future__ import annotations

import requests

from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.project import builtin_project_dir
from crmsync.read.deletes import deleted_since, missing_ids
from crmsync.specs.yamlload import load_yaml


def _connector(name):
    return load_yaml(builtin_project_dir() / "connectors" / f"{name}.yaml")


def _session(connector):
    session = CrmSession.from_connector(connector, Unlimited())
    session.headers["Authorization"] = "Bearer demo-token"
    return session


def _ids(server, entity):
    rows = requests.get(server.url + "/_fake/records", params={"entity": entity}, timeout=10).json()["records"]
    return sorted(str(r.get("id", r.get("ID"))) for r in rows)


def test_an_id_scan_over_a_page_numbered_listing(fake_crm):
    server = fake_crm("amocrm", contacts=30, rate_limit=False)
    connector = _connector("amocrm")
    connector["paginator"] = {**connector["paginator"], "size": 7}  # several pages
    ids = _ids(server, "contacts")
    assert len(ids) == 30
    requests.post(server.url + "/_fake/delete", json={"entity": "contacts", "id": int(ids[4])},
                  timeout=10).raise_for_status()
    spec = {**connector["entities"]["contact"], "deletes": {"type": "id_scan"}}
    assert missing_ids(spec, connector, _session(connector), server.url, ids, entity="contact") == {ids[4]}


def test_tombstones_and_events_since_the_cursor(fake_crm):
    hub = fake_crm("hubspot", contacts=10, deals=1, tasks=1, rate_limit=False)
    connector = _connector("hubspot")
    assert "103" in _ids(hub, "contacts")
    requests.post(hub.url + "/_fake/delete", json={"entity": "contacts", "id": 103}, timeout=10).raise_for_status()
    spec = connector["entities"]["contact"]["deletes"]
    ids, cursor = deleted_since(spec, connector, _session(connector), hub.url, 0, entity="contact")
    assert list(ids) == ["103"] and cursor == ids["103"] > 0
    again, _ = deleted_since(spec, connector, _session(connector), hub.url, cursor + 1, entity="contact")
    assert again == {}  # archived before the cursor: already known

    amo = fake_crm("amocrm", contacts=10, rate_limit=False)
    connector = _connector("amocrm")
    victim = _ids(amo, "contacts")[2]
    requests.post(amo.url + "/_fake/delete", json={"entity": "contacts", "id": int(victim)},
                  timeout=10).raise_for_status()
    spec = connector["entities"]["contact"]["deletes"]
    ids, cursor = deleted_since(spec, connector, _session(connector), amo.url, 0, entity="contact")
    assert victim in ids and cursor > 0
