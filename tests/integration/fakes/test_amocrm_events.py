"""The event feed: deletions, restores and changes are visible through GET /api/v4/events."""

from __future__ import annotations

import re

import requests

H = {"Authorization": "Bearer demo-token"}


def get(server, path, **params):
    return requests.get(server.url + path, headers=H, params=params, timeout=5)


def admin(server, action, body):
    return requests.post(f"{server.url}/_fake/{action}", json=body, timeout=5)


def first_id(server, entity):
    return get(server, f"/api/v4/{entity}", limit=1).json()["_embedded"][entity][0]["id"]


def test_admin_delete_produces_events_and_only_deleted_listing(fake_amocrm):
    cid, lid = first_id(fake_amocrm, "contacts"), first_id(fake_amocrm, "leads")
    assert admin(fake_amocrm, "delete", {"entity": "contacts", "id": cid}).json() == {"deleted": True}
    assert admin(fake_amocrm, "delete", {"entity": "leads", "id": lid}).status_code == 200
    events = get(fake_amocrm, "/api/v4/events", **{"filter[type]": "contact_deleted,lead_deleted"}).json()
    got = {(e["type"], e["entity_type"], e["entity_id"]) for e in events["_embedded"]["events"]}
    assert got == {("contact_deleted", "contact", cid), ("lead_deleted", "lead", lid)}
    event = events["_embedded"]["events"][0]
    assert re.fullmatch(r"[0-9a-z]{26}", event["id"]) and event["value_after"] == [] and "account_id" in event
    assert get(fake_amocrm, f"/api/v4/contacts/{cid}").status_code == 204
    assert cid not in [c["id"] for c in get(fake_amocrm, "/api/v4/contacts", limit=250).json()["_embedded"]["contacts"]]
    deleted = get(fake_amocrm, "/api/v4/contacts", **{"with": "only_deleted"}).json()["_embedded"]["contacts"]
    assert [d["id"] for d in deleted] == [cid]
    assert deleted[0]["is_deleted"] is True and deleted[0]["name"] is None and deleted[0]["updated_at"]
    assert get(fake_amocrm, "/api/v4/leads", **{"with": "only_deleted"}).json()["_embedded"]["leads"][0]["id"] == lid
    # Restore brings it back and says so.
    assert admin(fake_amocrm, "restore", {"entity": "contact", "id": cid}).json() == {"restored": True}
    assert get(fake_amocrm, f"/api/v4/contacts/{cid}").status_code == 200
    assert get(fake_amocrm, "/api/v4/events", **{"filter[type][]": "contact_restored"}).status_code == 200


def test_event_filters(fake_amocrm):
    tid = first_id(fake_amocrm, "tasks")
    admin(fake_amocrm, "delete", {"entity": "tasks", "id": tid})
    by_entity = get(fake_amocrm, "/api/v4/events", **{"filter[entity][]": "task", "filter[entity_id][]": tid}).json()
    assert {e["type"] for e in by_entity["_embedded"]["events"]} == {"task_added", "task_deleted"}
    now = fake_amocrm.app.clock.now()
    recent = get(fake_amocrm, "/api/v4/events", **{"filter[created_at][from]": int(now) - 60}).json()
    assert [e["type"] for e in recent["_embedded"]["events"]] == ["task_deleted"]
    one = recent["_embedded"]["events"][0]["id"]
    assert get(fake_amocrm, "/api/v4/events", **{"filter[id]": one}).json()["_embedded"]["events"][0]["id"] == one
    assert get(fake_amocrm, f"/api/v4/events/{one}").json()["type"] == "task_deleted"
    assert get(fake_amocrm, "/api/v4/events", **{"filter[type]": "lead_deleted"}).status_code == 204


def test_events_paging_limit(fake_amocrm):
    assert get(fake_amocrm, "/api/v4/events", limit=101).status_code == 422
    body = get(fake_amocrm, "/api/v4/events", limit=100).json()
    assert len(body["_embedded"]["events"]) == 100 and "next" in body["_links"]


def test_writes_and_touches_record_change_events(fake_amocrm):
    lid = first_id(fake_amocrm, "leads")
    requests.patch(fake_amocrm.url + "/api/v4/leads", headers=H, timeout=5,
                   json=[{"id": lid, "status_id": 143, "name": "Renamed"}])
    types = {e["type"] for e in get(fake_amocrm, "/api/v4/events", **{"filter[entity_id][]": lid,
                                                                     "filter[entity][]": "lead"})
             .json()["_embedded"]["events"]}
    assert {"lead_added", "lead_status_changed", "name_field_changed"} <= types
    r = requests.post(fake_amocrm.url + "/api/v4/tasks", headers=H, timeout=5,
                      json=[{"text": "t", "complete_till": 1767225600}])
    tid = r.json()["_embedded"]["tasks"][0]["id"]
    requests.patch(f"{fake_amocrm.url}/api/v4/tasks/{tid}", headers=H, json={"is_completed": True}, timeout=5)
    done = get(fake_amocrm, "/api/v4/events", **{"filter[type]": "task_completed"}).json()["_embedded"]["events"]
    assert [e["entity_id"] for e in done] == [tid]
    cid = first_id(fake_amocrm, "contacts")
    before = get(fake_amocrm, f"/api/v4/contacts/{cid}").json()
    touched = requests.post(f"{fake_amocrm.url}/_fake/touch", json={"entity": "contacts", "ids": [cid]}, timeout=5)
    assert touched.json()["touched"][0]["name"] == before["name"] + " *"
    assert get(fake_amocrm, f"/api/v4/contacts/{cid}").json()["updated_at"] > before["updated_at"]


def test_event_types_lists_deletion_types(fake_amocrm):
    keys = [t["key"] for t in get(fake_amocrm, "/api/v4/events/types").json()["_embedded"]["events_types"]]
    assert {"lead_deleted", "contact_deleted", "task_deleted"} <= set(keys)
