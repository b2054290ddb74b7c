"""Writes to the fake HubSpot: single and batch create/update/archive, validation, 207s, associations, faults."""

from __future__ import annotations

import json

import pytest
import requests

H = {"Authorization": "Bearer demo-token"}


@pytest.fixture
def srv(fake_crm):
    return fake_crm("hubspot", rate_limit=False)


def url(srv, path: str) -> str:
    return f"{srv.url}/crm/v3/objects/{path}"


def test_create_read_update_archive_a_contact(srv):
    r = requests.post(url(srv, "contacts"), headers=H, timeout=5, json={"properties": {
        "firstname": "Ada", "lastname": "Lovelace", "email": " Ada@Example.COM ", "budget": 1500.0,
        "interests": "crm;training", "birthday": "1815-12-10", "source": "vystavka"}})
    assert r.status_code == 201
    made = r.json()
    assert made["properties"]["email"] == "ada@example.com" and made["properties"]["budget"] == "1500"
    assert made["createdAt"] == made["updatedAt"] and made["archived"] is False
    rid = made["id"]
    got = requests.get(url(srv, f"contacts/{rid}"), headers=H, timeout=5,
                       params={"properties": "interests,birthday,source"}).json()
    assert got["properties"].items() >= {"interests": "crm;training", "birthday": "1815-12-10",
                                         "source": "vystavka"}.items()
    r = requests.patch(url(srv, f"contacts/{rid}"), headers=H, json={"properties": {"jobtitle": "Analyst",
                                                                                   "budget": ""}}, timeout=5)
    assert r.status_code == 200 and r.json()["properties"]["jobtitle"] == "Analyst"
    assert "budget" not in r.json()["properties"]
    assert r.json()["updatedAt"] >= made["updatedAt"]
    assert requests.delete(url(srv, f"contacts/{rid}"), headers=H, timeout=5).status_code == 204
    assert requests.get(url(srv, f"contacts/{rid}"), headers=H, timeout=5).status_code == 404


def test_patch_by_email_id_property(srv):
    email = requests.get(url(srv, "contacts/101"), headers=H, timeout=5).json()["properties"]["email"]
    r = requests.patch(url(srv, f"contacts/{email}"), headers=H, params={"idProperty": "email"}, timeout=5,
                       json={"properties": {"lastname": "Renamed"}})
    assert r.status_code == 200 and r.json()["id"] == "101"


def test_duplicate_email_is_409_naming_the_existing_contact(srv):
    email = requests.get(url(srv, "contacts/101"), headers=H, timeout=5).json()["properties"]["email"]
    r = requests.post(url(srv, "contacts"), headers=H, json={"properties": {"email": email.upper()}}, timeout=5)
    assert r.status_code == 409
    assert r.json()["category"] == "CONFLICT" and r.json()["message"] == "Contact already exists. Existing ID: 101"


def test_invalid_values_are_one_400_listing_each_property(srv):
    r = requests.post(url(srv, "deals"), headers=H, timeout=5, json={"properties": {
        "dealname": "X", "amount": "lots", "dealstage": "nowhere", "colour": "red", "hs_object_id": "5",
        "contract_date": 1767225600001}})
    assert r.status_code == 400
    body = r.json()
    assert body["category"] == "VALIDATION_ERROR" and body["message"].startswith("Property values were not valid: ")
    problems = {p["name"]: p["error"] for p in json.loads(body["message"].split(": ", 1)[1])}
    assert problems == {"amount": "INVALID_FLOAT", "dealstage": "INVALID_OPTION", "colour": "PROPERTY_DOESNT_EXIST",
                        "hs_object_id": "READ_ONLY_VALUE", "contract_date": "INVALID_DATE"}
    assert "1767225600001 is at 00:00:00.001 UTC, not midnight!" in body["message"]
    assert requests.get(url(srv, "deals/5041"), headers=H, timeout=5).status_code == 404  # nothing was made


def test_task_needs_hs_timestamp_and_create_with_associations(srv):
    r = requests.post(url(srv, "tasks"), headers=H, json={"properties": {"hs_task_subject": "Call"}}, timeout=5)
    assert r.status_code == 400 and "hs_timestamp" in r.json()["message"]
    r = requests.post(url(srv, "tasks"), headers=H, timeout=5, json={
        "properties": {"hs_task_subject": "Call", "hs_timestamp": 1767225600000, "hs_task_status": "NOT_STARTED"},
        "associations": [{"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                          "associationTypeId": 204}]}]})
    assert r.status_code == 201 and r.json()["properties"]["hs_timestamp"] == "2026-01-01T00:00:00.000Z"
    tid = r.json()["id"]
    back = requests.get(f"{srv.url}/crm/v4/objects/contacts/101/associations/tasks", headers=H, timeout=5).json()
    assert {"toObjectId": int(tid), "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 203,
                                                          "label": None}]} in back["results"]
    r = requests.post(url(srv, "tasks"), headers=H, timeout=5, json={
        "properties": {"hs_timestamp": "2026-01-01"}, "associations": [
            {"to": {"id": "101"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}]}]})
    assert r.status_code == 400 and "association type id 3" in r.json()["message"]


def test_batch_create_update_read_archive(srv):
    inputs = [{"properties": {"dealname": f"Batch {i}", "amount": str(i * 100), "pipeline": "default",
                              "dealstage": "appointmentscheduled"}} for i in range(100)]
    r = requests.post(url(srv, "deals/batch/create"), headers=H, json={"inputs": inputs}, timeout=10)
    assert r.status_code == 201 and r.json()["status"] == "COMPLETE" and len(r.json()["results"]) == 100
    ids = [d["id"] for d in r.json()["results"]]
    r = requests.post(url(srv, "deals/batch/update"), headers=H, timeout=10, json={"inputs": [
        {"id": i, "properties": {"dealstage": "closedwon"}} for i in ids[:3]]})
    assert r.status_code == 200 and {d["properties"]["dealstage"] for d in r.json()["results"]} == {"closedwon"}
    r = requests.post(url(srv, "deals/batch/read"), headers=H, timeout=10, json={
        "inputs": [{"id": i} for i in ids[:3]], "properties": ["dealstage", "hs_is_closed_won"]})
    assert r.status_code == 200
    assert [d["properties"]["hs_is_closed_won"] for d in r.json()["results"]] == ["true"] * 3
    r = requests.post(url(srv, "deals/batch/archive"), headers=H, json={"inputs": [{"id": i} for i in ids]},
                      timeout=10)
    assert r.status_code == 204 and r.content == b""
    gone = requests.post(url(srv, "deals/batch/read"), headers=H, timeout=10, params={"archived": "true"},
                         json={"inputs": [{"id": i} for i in ids[:2]]}).json()
    assert [d["archived"] for d in gone["results"]] == [True, True]


@pytest.mark.parametrize("action, item", [("create", {"properties": {"dealname": "x"}}), ("update", {"id": "5001"}),
                                          ("read", {"id": "5001"}), ("archive", {"id": "5001"})])
def test_batches_over_100_are_refused_whole(srv, action, item):
    r = requests.post(url(srv, f"deals/batch/{action}"), headers=H, json={"inputs": [item] * 101}, timeout=10)
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert "The limit is 100" in r.json()["message"]
    assert requests.get(url(srv, "deals/5001"), headers=H, timeout=5).status_code == 200


def test_batch_read_and_update_with_missing_ids_answer_207(srv):
    r = requests.post(url(srv, "contacts/batch/read"), headers=H, timeout=5,
                      json={"inputs": [{"id": "101"}, {"id": "999999"}]})
    assert r.status_code == 207
    body = r.json()
    assert [c["id"] for c in body["results"]] == ["101"] and body["numErrors"] == 1
    assert body["errors"][0]["category"] == "OBJECT_NOT_FOUND" and body["errors"][0]["context"] == {"ids": ["999999"]}
    r = requests.post(url(srv, "contacts/batch/update"), headers=H, timeout=5, json={"inputs": [
        {"id": "101", "properties": {"jobtitle": "CEO"}}, {"id": "999999", "properties": {"jobtitle": "CEO"}}]})
    assert r.status_code == 207 and [c["id"] for c in r.json()["results"]] == ["101"]
    assert r.json()["errors"][0]["context"] == {"ids": ["999999"]}


def test_batch_create_with_one_bad_input_writes_nothing(srv):
    r = requests.post(url(srv, "contacts/batch/create"), headers=H, timeout=5, json={"inputs": [
        {"properties": {"email": "good@x.example"}}, {"properties": {"email": "not-an-email"}}]})
    assert r.status_code == 400 and "INVALID_EMAIL" in r.json()["message"]
    assert requests.get(url(srv, "contacts/good@x.example"), headers=H, params={"idProperty": "email"},
                        timeout=5).status_code == 404


def test_v4_associate_and_remove_moves_modified_stamps(srv):
    before = requests.get(url(srv, "contacts/105"), headers=H, timeout=5).json()["updatedAt"]
    r = requests.put(f"{srv.url}/crm/v4/objects/contacts/105/associations/default/deals/5002", headers=H, timeout=5)
    assert r.status_code == 200 and r.json()["status"] == "COMPLETE"
    after = requests.get(url(srv, "contacts/105"), headers=H, params={"associations": "deals"}, timeout=5).json()
    assert after["updatedAt"] > before and "5002" in [a["id"] for a in after["associations"]["deals"]["results"]]
    r = requests.post(f"{srv.url}/crm/v4/associations/deals/contacts/batch/read", headers=H, timeout=5,
                      json={"inputs": [{"id": "5002"}]})
    assert 105 in [t["toObjectId"] for t in r.json()["results"][0]["to"]]
    r = requests.delete(f"{srv.url}/crm/v4/objects/deals/5002/associations/contacts/105", headers=H, timeout=5)
    assert r.status_code == 204
    gone = requests.get(url(srv, "contacts/105"), headers=H, params={"associations": "deals"}, timeout=5).json()
    assert "5002" not in [a["id"] for a in gone.get("associations", {}).get("deals", {}).get("results", [])]


def test_injected_write_faults_use_hubspot_bodies(fake_crm):
    srv = fake_crm("hubspot", rate_limit=False, faults=["429:x1@/crm/v3/objects/contacts", "500:x1"])
    r = requests.post(url(srv, "contacts"), headers=H, json={"properties": {"firstname": "A"}}, timeout=5)
    assert r.status_code == 429 and r.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert r.json()["category"] == "RATE_LIMITS" and r.headers["Retry-After"] == "1"
    r = requests.get(url(srv, "deals"), headers=H, timeout=5)
    assert r.status_code == 500 and r.json()["category"] == "INTERNAL_ERROR"
    assert requests.get(url(srv, "deals"), headers=H, timeout=5).status_code == 200


def test_batch_upsert_by_email_creates_once_then_updates(srv):
    body = {"inputs": [{"idProperty": "email", "id": "Upsert@Example.com", "properties": {"firstname": "Up"}}]}
    first = requests.post(url(srv, "contacts/batch/upsert"), headers=H, json=body, timeout=5)
    assert first.status_code == 200 and first.json()["results"][0]["new"] is True
    body["inputs"][0]["properties"]["firstname"] = "Again"
    second = requests.post(url(srv, "contacts/batch/upsert"), headers=H, json=body, timeout=5).json()["results"][0]
    assert second["new"] is False and second["id"] == first.json()["results"][0]["id"]
    assert second["properties"]["firstname"] == "Again" and second["properties"]["email"] == "upsert@example.com"
    r = requests.post(url(srv, "deals/batch/upsert"), headers=H, timeout=5,
                      json={"inputs": [{"idProperty": "dealname", "id": "x", "properties": {}}]})
    assert r.status_code == 400 and "not a unique property" in r.json()["message"]


def test_deal_defaults_stage_checks_and_task_completion(srv):
    made = requests.post(url(srv, "deals"), headers=H, json={"properties": {"dealname": "Bare"}}, timeout=5).json()
    assert (made["properties"]["pipeline"], made["properties"]["dealstage"]) == ("default", "appointmentscheduled")
    other = requests.get(f"{srv.url}/crm/v3/pipelines/deals", headers=H, timeout=5).json()["results"][1]
    r = requests.patch(url(srv, f"deals/{made['id']}"), headers=H, timeout=5,
                       json={"properties": {"dealstage": other["stages"][0]["id"]}})
    assert r.status_code == 400 and "is not a valid stage of pipeline default" in r.json()["message"]
    r = requests.patch(url(srv, f"deals/{made['id']}"), headers=H, timeout=5, json={"properties": {
        "pipeline": other["id"], "dealstage": other["stages"][0]["id"]}})
    assert r.status_code == 200
    task = requests.post(url(srv, "tasks"), headers=H, timeout=5, json={"properties": {
        "hs_timestamp": "2026-02-01T10:00:00Z", "hs_task_status": "COMPLETED"}}).json()
    assert task["properties"]["hs_task_completion_date"]
    reopened = requests.patch(url(srv, f"tasks/{task['id']}"), headers=H, timeout=5, params={},
                              json={"properties": {"hs_task_status": "NOT_STARTED"}}).json()
    assert "hs_task_completion_date" not in reopened["properties"]
