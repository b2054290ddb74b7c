"""Reads of the fake HubSpot over real HTTP: list paging, properties, associations, archived records, metadata."""

from __future__ import annotations

import re

import pytest
import requests

from crmsync.fakes import world as w

H = {"Authorization": "Bearer demo-token"}
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def walk(url: str, params: dict | None = None) -> tuple[list[dict], int]:
    """Follow ``paging.next.after`` to the end; returns (records, pages)."""
    params = dict(params or {})
    out, pages = [], 0
    session = requests.Session()
    while True:
        body = session.get(url, headers=H, params=params, timeout=10).json()
        pages += 1
        out += body["results"]
        nxt = body.get("paging", {}).get("next")
        if not nxt:
            return out, pages
        params["after"] = nxt["after"]


@pytest.fixture(scope="module")
def server():
    from crmsync.fakes import start_fake

    srv = start_fake("hubspot", contacts=250, deals=120, tasks=90, rate_limit=False)
    yield srv
    srv.stop()


@pytest.mark.parametrize("obj, n", [("contacts", 250), ("deals", 120), ("tasks", 90)])
def test_paging_walks_every_record_exactly_once(server, obj, n):
    records, pages = walk(f"{server.url}/crm/v3/objects/{obj}", {"limit": 100})
    ids = [r["id"] for r in records]
    assert len(ids) == n and len(set(ids)) == n
    assert pages == -(-n // 100)
    assert ids == sorted(ids, key=int)


def test_limit_over_100_is_clamped_and_default_is_10(server):
    r = requests.get(f"{server.url}/crm/v3/objects/contacts", headers=H, params={"limit": 500}, timeout=5)
    assert r.status_code == 200 and len(r.json()["results"]) == 100
    r = requests.get(f"{server.url}/crm/v3/objects/contacts", headers=H, timeout=5)
    assert len(r.json()["results"]) == 10


def test_next_link_is_a_full_url_that_continues_the_walk(server):
    first = requests.get(f"{server.url}/crm/v3/objects/deals", headers=H,
                         params={"limit": 50, "properties": "dealname"}, timeout=5).json()
    link = first["paging"]["next"]["link"]
    assert link.startswith(server.url) and f"after={first['paging']['next']['after']}" in link
    second = requests.get(link, headers=H, timeout=5).json()
    assert int(second["results"][0]["id"]) > int(first["results"][-1]["id"])
    assert set(second["results"][0]["properties"]) == {"dealname", "createdate", "hs_lastmodifieddate",
                                                      "hs_object_id"}


def test_a_record_created_mid_walk_never_duplicates_one(server, fake_crm):
    srv = fake_crm("hubspot", contacts=60, rate_limit=False)
    url = f"{srv.url}/crm/v3/objects/contacts"
    first = requests.get(url, headers=H, params={"limit": 25}, timeout=5).json()
    created = requests.post(url, headers=H, json={"properties": {"firstname": "Mid", "email": "mid@walk.example"}},
                            timeout=5).json()
    requests.delete(f"{url}/{first['results'][0]['id']}", headers=H, timeout=5)
    rest, _ = walk(url, {"limit": 25, "after": first["paging"]["next"]["after"]})
    ids = [r["id"] for r in first["results"] + rest]
    assert len(ids) == len(set(ids)) == 61 and ids[-1] == created["id"]


def test_every_property_is_a_string_and_stamps_are_rfc3339(server):
    body = requests.get(f"{server.url}/crm/v3/objects/deals", headers=H, timeout=5, params={
        "limit": 100, "properties": "dealname,amount,dealstage,pipeline,closedate,probability,channels,product"}).json()
    for rec in body["results"]:
        assert set(rec) >= {"id", "properties", "createdAt", "updatedAt", "archived"} and rec["archived"] is False
        assert ISO_MS.match(rec["createdAt"]) and ISO_MS.match(rec["updatedAt"])
        props = rec["properties"]
        assert props["hs_object_id"] == rec["id"] and props["hs_lastmodifieddate"] == rec["updatedAt"]
        assert all(v is None or isinstance(v, str) for v in props.values())
        assert re.fullmatch(r"\d+(\.\d+)?", props["amount"])
    channels = [r["properties"]["channels"] for r in body["results"] if r["properties"]["channels"]]
    assert channels and all(set(c.split(";")) <= {"email", "phone", "telegram", "whatsapp"} for c in channels)


def test_unknown_properties_are_ignored_and_unset_ones_are_null(server):
    rec = requests.get(f"{server.url}/crm/v3/objects/contacts/101", headers=H, timeout=5,
                       params={"properties": ["firstname", "no_such_property", "notes"]}).json()
    assert "no_such_property" not in rec["properties"]
    assert "notes" in rec["properties"] and rec["properties"]["firstname"]


def test_seeded_contacts_are_the_worlds_people(server):
    world = w.build_world(42, 250, 120, 90)
    records, _ = walk(f"{server.url}/crm/v3/objects/contacts", {"limit": 100, "properties": "firstname,lastname"})
    assert [(r["properties"]["firstname"], r["properties"]["lastname"]) for r in records] == \
        [(c.first_name, c.last_name) for c in world.contacts]


def test_associations_are_listed_both_ways(server):
    deals, _ = walk(f"{server.url}/crm/v3/objects/deals", {"limit": 100, "associations": "contacts"})
    linked = [d for d in deals if "associations" in d]
    assert linked
    deal = linked[0]
    contact_id = deal["associations"]["contacts"]["results"][0]["id"]
    assert deal["associations"]["contacts"]["results"][0]["type"] == "deal_to_contact"
    contact = requests.get(f"{server.url}/crm/v3/objects/contacts/{contact_id}", headers=H, timeout=5,
                           params={"associations": "deals"}).json()
    assert deal["id"] in [a["id"] for a in contact["associations"]["deals"]["results"]]
    v4 = requests.get(f"{server.url}/crm/v4/objects/deals/{deal['id']}/associations/contacts", headers=H,
                      timeout=5).json()
    assert {str(r["toObjectId"]) for r in v4["results"]} == \
        {a["id"] for a in deal["associations"]["contacts"]["results"]}
    assert v4["results"][0]["associationTypes"] == [{"category": "HUBSPOT_DEFINED", "typeId": 3, "label": None}]


def test_get_unknown_id_is_404_object_not_found(server):
    r = requests.get(f"{server.url}/crm/v3/objects/contacts/99999999", headers=H, timeout=5)
    assert r.status_code == 404 and r.json()["category"] == "OBJECT_NOT_FOUND"
    r = requests.get(f"{server.url}/crm/v3/objects/widgets", headers=H, timeout=5)
    assert r.status_code == 400 and "widgets" in r.json()["message"]


def test_archive_then_list_with_archived_true(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    url = f"{srv.url}/crm/v3/objects/tasks"
    assert requests.delete(f"{url}/9003", headers=H, timeout=5).status_code == 204
    live, _ = walk(url, {"limit": 100})
    assert "9003" not in [r["id"] for r in live] and len(live) == 49
    gone = requests.get(url, headers=H, params={"archived": "true"}, timeout=5).json()["results"]
    assert [r["id"] for r in gone] == ["9003"]
    assert gone[0]["archived"] is True and ISO_MS.match(gone[0]["archivedAt"])
    assert requests.get(f"{url}/9003", headers=H, timeout=5).status_code == 404
    assert requests.get(f"{url}/9003", headers=H, params={"archived": "true"}, timeout=5).json()["archived"] is True


def test_properties_metadata_has_custom_fields_and_options(server):
    props = requests.get(f"{server.url}/crm/v3/properties/contacts", headers=H, timeout=5).json()["results"]
    by_name = {p["name"]: p for p in props}
    source = by_name["source"]
    assert source["hubspotDefined"] is False and source["type"] == "enumeration" and source["fieldType"] == "select"
    assert [(o["label"], o["value"]) for o in source["options"]][:2] == [("Сайт", "sayt"),
                                                                        ("Рекомендация", "rekomendatsiya")]
    assert by_name["interests"]["fieldType"] == "checkbox" and by_name["birthday"]["type"] == "date"
    assert by_name["email"]["hubspotDefined"] is True
    assert by_name["lastmodifieddate"]["modificationMetadata"]["readOnlyValue"] is True
    one = requests.get(f"{server.url}/crm/v3/properties/deals/dealstage", headers=H, timeout=5).json()
    assert {o["value"] for o in one["options"]} >= {"closedwon", "closedlost"}


def test_deal_pipelines_carry_closed_and_probability(server):
    pipelines = requests.get(f"{server.url}/crm/v3/pipelines/deals", headers=H, timeout=5).json()["results"]
    assert [p["id"] for p in pipelines][0] == "default" and len(pipelines) == 2
    stages = {s["id"]: s["metadata"] for s in pipelines[0]["stages"]}
    assert stages["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert stages["closedlost"] == {"isClosed": "true", "probability": "0.0"}
    assert stages["appointmentscheduled"] == {"isClosed": "false", "probability": "0.2"}
    other = pipelines[1]
    assert [s["metadata"]["isClosed"] for s in other["stages"]].count("true") == 2
    got = requests.get(f"{server.url}/crm/v3/pipelines/deals/{other['id']}/stages", headers=H, timeout=5).json()
    assert got["results"] == other["stages"]


def test_owners_are_the_worlds_users(server):
    body = requests.get(f"{server.url}/crm/v3/owners", headers=H, params={"limit": 2}, timeout=5).json()
    assert len(body["results"]) == 2 and body["paging"]["next"]["after"] == "2"
    everyone = requests.get(f"{server.url}/crm/v3/owners", headers=H, timeout=5).json()["results"]
    assert [o["email"] for o in everyone] == [u.email for u in w.build_world().users]
    deal = requests.get(f"{server.url}/crm/v3/objects/deals/5001", headers=H, timeout=5,
                        params={"properties": "hubspot_owner_id"}).json()
    assert deal["properties"]["hubspot_owner_id"] in {o["id"] for o in everyone}


@pytest.mark.parametrize("path", ["/crm/v3/owners?limit=x", "/crm/v3/objects/contacts?limit=x",
                                  "/crm/v3/objects/contacts?after=abc",
                                  "/crm/v4/objects/contacts/101/associations/deals?after=z"])
def test_malformed_paging_parameters_are_400s(server, path):
    r = requests.get(server.url + path, headers=H, timeout=5)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
