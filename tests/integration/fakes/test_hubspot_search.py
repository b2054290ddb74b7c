"""The fake HubSpot's search endpoint: filter groups, operators, sorts, offset paging and the 10,000 window."""

from __future__ import annotations

import pytest
import requests

H = {"Authorization": "Bearer demo-token"}


@pytest.fixture(scope="module")
def server():
    from crmsync.fakes import start_fake

    srv = start_fake("hubspot", contacts=300, deals=200, tasks=60, rate_limit=False)
    yield srv
    srv.stop()


def search(server, obj: str, body: dict, status: int = 200) -> dict:
    r = requests.post(f"{server.url}/crm/v3/objects/{obj}/search", headers=H, json=body, timeout=10)
    assert r.status_code == status, r.text
    return r.json()


def all_of(server, obj: str, props: list[str]) -> list[dict]:
    out, after = [], None
    while True:
        params = {"limit": 100, "properties": ",".join(props), **({"after": after} if after else {})}
        body = requests.get(f"{server.url}/crm/v3/objects/{obj}", headers=H, params=params, timeout=10).json()
        out += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


def walk_search(server, obj: str, body: dict) -> tuple[list[dict], int]:
    out, body = [], dict(body)
    while True:
        page = search(server, obj, body)
        out += page["results"]
        nxt = page.get("paging", {}).get("next")
        if not nxt:
            return out, page["total"]
        assert "link" not in nxt  # search pages carry only the offset
        body["after"] = nxt["after"]


def test_incremental_read_by_hs_lastmodifieddate_gte(server):
    deals = all_of(server, "deals", ["hs_lastmodifieddate"])
    stamps = sorted(d["updatedAt"] for d in deals)
    cut = stamps[len(stamps) // 2]
    expected = {d["id"] for d in deals if d["updatedAt"] >= cut}
    body = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": cut}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}], "limit": 30}
    got, total = walk_search(server, "deals", body)
    assert {d["id"] for d in got} == expected and total == len(expected) and len(got) == len(set(d["id"] for d in got))
    assert [d["updatedAt"] for d in got] == sorted(d["updatedAt"] for d in got)
    # the same cut in milliseconds since the epoch selects the same records
    from crmsync.fakes.hubspot.values import parse_ms
    as_ms = dict(body, filterGroups=[{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE",
                                                   "value": str(parse_ms(cut))}]}])
    assert {d["id"] for d in walk_search(server, "deals", as_ms)[0]} == expected


@pytest.mark.parametrize("op, keep", [("GT", lambda v, c: v > c), ("LT", lambda v, c: v < c),
                                      ("LTE", lambda v, c: v <= c), ("EQ", lambda v, c: v == c)])
def test_comparison_operators_on_the_modified_stamp(server, op, keep):
    contacts = all_of(server, "contacts", ["lastmodifieddate"])
    cut = sorted(c["updatedAt"] for c in contacts)[100]
    body = {"filterGroups": [{"filters": [{"propertyName": "lastmodifieddate", "operator": op, "value": cut}]}],
            "limit": 200}
    got, total = walk_search(server, "contacts", body)
    assert {c["id"] for c in got} == {c["id"] for c in contacts if keep(c["updatedAt"], cut)}


def test_in_has_property_and_or_of_groups(server):
    deals = all_of(server, "deals", ["dealstage", "closedate", "amount"])
    won_or_lost = {d["id"] for d in deals if d["properties"]["dealstage"] in ("closedwon", "closedlost")}
    got, _ = walk_search(server, "deals", {"filterGroups": [{"filters": [
        {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]}]}], "limit": 200})
    assert {d["id"] for d in got} == won_or_lost
    with_date = {d["id"] for d in deals if d["properties"]["closedate"]}
    got, _ = walk_search(server, "deals", {"filterGroups": [{"filters": [
        {"propertyName": "closedate", "operator": "HAS_PROPERTY"}]}], "limit": 200})
    assert {d["id"] for d in got} == with_date
    big = {d["id"] for d in deals if float(d["properties"]["amount"]) >= 3_000_000}
    got, _ = walk_search(server, "deals", {"filterGroups": [
        {"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]},
        {"filters": [{"propertyName": "amount", "operator": "GTE", "value": 3000000}]}], "limit": 200})
    won = {d["id"] for d in deals if d["properties"]["dealstage"] == "closedwon"}
    assert {d["id"] for d in got} == won | big


def test_sort_descending_and_query_text(server):
    body = {"sorts": [{"propertyName": "amount", "direction": "DESCENDING"}], "limit": 50,
            "properties": ["amount"]}
    amounts = [float(d["properties"]["amount"]) for d in search(server, "deals", body)["results"]]
    assert amounts == sorted(amounts, reverse=True)
    contact = all_of(server, "contacts", ["email"])[7]
    hits = search(server, "contacts", {"query": contact["properties"]["email"], "limit": 10})["results"]
    assert contact["id"] in [h["id"] for h in hits]


def test_default_properties_and_requested_ones(server):
    rec = search(server, "tasks", {"limit": 1})["results"][0]
    assert set(rec["properties"]) == {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}
    rec = search(server, "tasks", {"limit": 1, "properties": ["hs_task_subject"]})["results"][0]
    assert rec["properties"]["hs_task_subject"]


@pytest.mark.parametrize("body, text", [
    ({"limit": 201}, "limit must be between 1 and 200"),
    ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}, "nope"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "ALMOST", "value": "1"}]}]}, "ALMOST"),
    ({"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]}] * 6},
     "at most 5"),
])
def test_bad_searches_are_400_validation_errors(server, body, text):
    err = search(server, "deals", body, status=400)
    assert err["category"] == "VALIDATION_ERROR" and text in err["message"] and err["status"] == "error"


def test_paging_past_10000_results_is_the_documented_400(fake_crm):
    srv = fake_crm("hubspot", contacts=10_050, deals=0, tasks=0, rate_limit=False)
    url = f"{srv.url}/crm/v3/objects/contacts/search"
    last = requests.post(url, headers=H, json={"limit": 200, "after": "9800"}, timeout=30).json()
    assert last["total"] == 10_050 and len(last["results"]) == 200
    assert last["paging"]["next"]["after"] == "10000"
    r = requests.post(url, headers=H, json={"limit": 200, "after": "10000"}, timeout=30)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert "10000" in r.json()["message"]
    # narrowing the query by the modified stamp brings every record back within the window
    newest = requests.post(url, headers=H, timeout=30, json={
        "limit": 1, "sorts": [{"propertyName": "lastmodifieddate", "direction": "DESCENDING"}]}).json()
    assert newest["total"] == 10_050 and newest["results"]


def test_contacts_answer_to_lastmodifieddate_not_hs_lastmodifieddate(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    url = f"{srv.url}/crm/v3/objects/contacts/search"

    def count(prop: str) -> int:
        body = {"filterGroups": [{"filters": [{"propertyName": prop, "operator": "GTE", "value": "0"}]}]}
        return requests.post(url, headers=H, json=body, timeout=5).json()["total"]

    assert count("lastmodifieddate") == 60 and count("hs_lastmodifieddate") == 0
    rec = requests.get(f"{srv.url}/crm/v3/objects/contacts/101", headers=H, params={
        "properties": "hs_lastmodifieddate"}, timeout=5).json()
    assert rec["properties"]["hs_lastmodifieddate"] == rec["updatedAt"]  # readable, just not searchable
    lenient = fake_crm("hubspot", rate_limit=False, contacts_search_modified=True)
    body = {"filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": "0"}]}]}
    assert requests.post(f"{lenient.url}/crm/v3/objects/contacts/search", headers=H, json=body,
                         timeout=5).json()["total"] == 60


def test_a_write_between_pages_is_seen_by_the_next_search(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False)
    body = {"filterGroups": [{"filters": [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]}],
            "limit": 1}
    first = search(srv, "deals", body)
    outside = next(d for d in search(srv, "deals", {"limit": 40, "properties": ["dealstage"]})["results"]
                   if d["properties"]["dealstage"] != "closedwon")
    r = requests.patch(f"{srv.url}/crm/v3/objects/deals/{outside['id']}", headers=H, timeout=5,
                       json={"properties": {"pipeline": "default", "dealstage": "closedwon"}})
    assert r.status_code == 200
    assert search(srv, "deals", body)["total"] == first["total"] + 1


def test_new_records_reach_search_after_the_index_delay(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False, search_index_delay=5)
    srv.app.clock.freeze(1767225600)
    made = requests.post(f"{srv.url}/crm/v3/objects/deals", headers=H, timeout=5,
                         json={"properties": {"dealname": "Fresh deal"}}).json()
    body = {"filterGroups": [{"filters": [{"propertyName": "dealname", "operator": "EQ", "value": "Fresh deal"}]}]}
    assert search(srv, "deals", body)["total"] == 0  # a client that searches for its lost create finds nothing yet
    assert requests.get(f"{srv.url}/crm/v3/objects/deals/{made['id']}", headers=H, timeout=5).status_code == 200
    srv.app.clock.advance(5)
    assert [d["id"] for d in search(srv, "deals", body)["results"]] == [made["id"]]
