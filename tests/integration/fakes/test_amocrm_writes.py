"""Writes to the fake AmoCRM: bulk create/update, validation errors, custom fields, links, incremental reads."""

from __future__ import annotations

import requests

H = {"Authorization": "Bearer demo-token"}


def call(server, method, path, body=None, **params):
    return requests.request(method, server.url + path, headers=H, json=body, params=params, timeout=10)


def fields(server, entity):
    return {f["code"] or f["name"]: f for f in call(server, "GET", f"/api/v4/{entity}/custom_fields", limit=250)
            .json()["_embedded"]["custom_fields"]}


def values(record, field_id):
    entry = next((e for e in record["custom_fields_values"] or [] if e["field_id"] == field_id), None)
    return None if entry is None else entry["values"]


def test_bulk_create_250_then_update(fake_amocrm):
    items = [{"name": f"Bulk {i}", "request_id": f"r{i}"} for i in range(250)]
    r = call(fake_amocrm, "POST", "/api/v4/contacts", items)
    assert r.status_code == 200
    created = r.json()["_embedded"]["contacts"]
    assert [c["request_id"] for c in created] == [f"r{i}" for i in range(250)]
    assert created[0].keys() == {"id", "is_deleted", "is_unsorted", "request_id", "_links"}
    ids = [c["id"] for c in created]
    assert ids == sorted(ids) and len(set(ids)) == 250
    r = call(fake_amocrm, "PATCH", "/api/v4/contacts", [{"id": i, "name": f"Renamed {i}"} for i in ids])
    assert r.status_code == 200
    updated = r.json()["_embedded"]["contacts"]
    assert updated[0].keys() == {"id", "updated_at", "request_id", "_links"} and updated[0]["request_id"] == "0"
    assert call(fake_amocrm, "GET", f"/api/v4/contacts/{ids[7]}").json()["name"] == f"Renamed {ids[7]}"


def test_too_many_empty_and_non_json(fake_amocrm):
    r = call(fake_amocrm, "POST", "/api/v4/contacts", [{"name": "x"}] * 251)
    assert r.status_code == 422 and r.json() == {"title": "Unprocessable Entity", "type": "https://httpstatus.es/422",
                                                 "status": 422, "detail": "Limit 250 per page"}
    r = call(fake_amocrm, "POST", "/api/v4/leads", [])
    assert r.status_code == 400 and r.json()["detail"] == "Request data can not be empty"
    r = requests.post(fake_amocrm.url + "/api/v4/leads", headers={**H, "Content-Type": "application/json"},
                      data=b"{not json", timeout=5)
    assert r.status_code == 400 and r.json()["title"] == "Bad Request"


def test_mixed_batch_rejected_whole_listing_only_bad_items(fake_amocrm):
    before = requests.get(fake_amocrm.url + "/_fake/state", timeout=5).json()["entities"]["leads"]
    batch = [
        {"name": "ok 0"},
        {"name": "bad 1", "custom_fields_values": [{"field_id": 999, "values": [{"value": "x"}]}]},
        {"name": "ok 2"},
        {"name": 5, "price": "100", "request_id": "mine"},
    ]
    r = call(fake_amocrm, "POST", "/api/v4/leads", batch)
    assert r.status_code == 400
    body = r.json()
    assert body["detail"] == "Request validation failed" and body["title"] == "Bad Request"
    errs = {e["request_id"]: e["errors"] for e in body["validation-errors"]}
    assert set(errs) == {"1", "mine"}
    assert errs["1"] == [{"code": "NotSupportedChoice", "path": "custom_fields_values.0.field_id",
                          "detail": "The value you selected is not a valid choice."}]
    assert {(e["code"], e["path"]) for e in errs["mine"]} == {("InvalidType", "name"), ("InvalidType", "price")}
    after = requests.get(fake_amocrm.url + "/_fake/state", timeout=5).json()["entities"]["leads"]
    assert after == before


def test_partial_writes_store_valid_items(fake_crm):
    server = fake_crm("amocrm", rate_limit=False, partial_writes=True)
    r = call(server, "POST", "/api/v4/tasks", [
        {"text": "Call back", "complete_till": 1767225600},
        {"text": "No deadline"},
    ])
    assert r.status_code == 200
    body = r.json()
    assert [t["request_id"] for t in body["_embedded"]["tasks"]] == ["0"]
    assert body["validation-errors"][0]["request_id"] == "1"
    assert body["validation-errors"][0]["errors"][0] == {"code": "NotBlank", "path": "complete_till",
                                                         "detail": "This value should not be blank."}


def test_update_unknown_id_and_bad_enum(fake_amocrm):
    f = fields(fake_amocrm, "contacts")
    r = call(fake_amocrm, "PATCH", "/api/v4/contacts", [
        {"id": 1, "name": "ghost"},
        {"id": 21300017, "custom_fields_values": [{"field_id": f["Источник"]["id"], "values": [{"enum_id": 1}]}]},
    ])
    errs = {e["request_id"]: e["errors"] for e in r.json()["validation-errors"]}
    assert errs["0"][0]["code"] == "NotFound" and errs["0"][0]["path"] == "id"
    assert errs["1"][0] == {"code": "NotSupportedChoice", "path": "custom_fields_values.0.values.0.enum_id",
                            "detail": "The value you selected is not a valid choice."}


def test_custom_fields_by_id_code_enum_multitext_replace_and_clear(fake_amocrm):
    f = fields(fake_amocrm, "contacts")
    source, budget, birthday = f["Источник"], f["Бюджет"], f["День рождения"]
    r = call(fake_amocrm, "POST", "/api/v4/contacts", [{"first_name": "Ada", "last_name": "King",
                                                      "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+79001234567", "enum_code": "WORK"},
                                           {"value": "+79007654321", "enum_code": "MOB"}]},
        {"field_code": "email", "values": [{"value": "ada@example.com"}]},
        {"field_id": source["id"], "values": [{"enum_id": source["enums"][1]["id"]}]},
        {"field_id": budget["id"], "values": [{"value": 1500}]},
        {"field_id": birthday["id"], "values": [{"value": 946684800}]},
    ]}])
    cid = r.json()["_embedded"]["contacts"][0]["id"]
    c = call(fake_amocrm, "GET", f"/api/v4/contacts/{cid}").json()
    assert c["name"] == "Ada King"
    assert [(v["value"], v["enum_code"]) for v in values(c, f["PHONE"]["id"])] == \
        [("+79001234567", "WORK"), ("+79007654321", "MOB")]
    assert values(c, f["EMAIL"]["id"])[0]["enum_code"] == "WORK"
    assert values(c, source["id"]) == [{"value": source["enums"][1]["value"], "enum_id": source["enums"][1]["id"],
                                        "enum_code": None}]
    assert values(c, budget["id"]) == [{"value": "1500"}] and values(c, birthday["id"]) == [{"value": 946684800}]
    # Writing a field replaces all its values; other fields stay; values:null clears.
    call(fake_amocrm, "PATCH", f"/api/v4/contacts/{cid}", {"custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": "+74950000000", "enum_code": "HOME"}]},
        {"field_id": budget["id"], "values": None},
    ]})
    c = call(fake_amocrm, "GET", f"/api/v4/contacts/{cid}").json()
    assert [v["value"] for v in values(c, f["PHONE"]["id"])] == ["+74950000000"]
    assert values(c, budget["id"]) is None and values(c, source["id"]) is not None
    bad = call(fake_amocrm, "PATCH", f"/api/v4/contacts/{cid}", {"custom_fields_values": [
        {"field_id": budget["id"], "values": [{"value": "lots"}]}]})
    assert bad.json()["validation-errors"][0]["errors"][0]["path"] == "custom_fields_values.0.values.0.value"


def test_leads_status_contacts_tags_and_closed_at(fake_amocrm):
    pipes = call(fake_amocrm, "GET", "/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]
    main = pipes[0]
    contact = call(fake_amocrm, "GET", "/api/v4/contacts", limit=2).json()["_embedded"]["contacts"]
    r = call(fake_amocrm, "POST", "/api/v4/leads", [{"name": "Deal", "price": 1000, "_embedded": {
        "contacts": [{"id": contact[0]["id"]}, {"id": contact[1]["id"], "is_main": True}],
        "tags": [{"name": "import"}]}}])
    lid = r.json()["_embedded"]["leads"][0]["id"]
    lead = call(fake_amocrm, "GET", f"/api/v4/leads/{lid}", **{"with": "contacts"}).json()
    assert lead["pipeline_id"] == main["id"] and lead["status_id"] == main["_embedded"]["statuses"][1]["id"]
    assert [(c["id"], c["is_main"]) for c in lead["_embedded"]["contacts"]] == \
        [(contact[0]["id"], False), (contact[1]["id"], True)]
    assert lead["_embedded"]["tags"][0]["name"] == "import" and lead["closed_at"] is None
    r = call(fake_amocrm, "PATCH", "/api/v4/leads", [{"id": lid, "status_id": 142}])
    assert call(fake_amocrm, "GET", f"/api/v4/leads/{lid}").json()["closed_at"] == r.json()["_embedded"]["leads"][0][
        "updated_at"]
    bad = call(fake_amocrm, "PATCH", "/api/v4/leads", [{"id": lid, "status_id": 12345}])
    assert bad.json()["validation-errors"][0]["errors"][0]["path"] == "status_id"


def test_link_and_unlink(fake_amocrm):
    lid = call(fake_amocrm, "POST", "/api/v4/leads", [{"name": "L"}]).json()["_embedded"]["leads"][0]["id"]
    cid = call(fake_amocrm, "POST", "/api/v4/contacts", [{"name": "C"}]).json()["_embedded"]["contacts"][0]["id"]
    r = call(fake_amocrm, "POST", f"/api/v4/leads/{lid}/link",
             [{"to_entity_id": cid, "to_entity_type": "contacts", "metadata": {"is_main": True}}])
    assert r.status_code == 200 and r.json()["_embedded"]["links"][0]["to_entity_id"] == cid
    links = call(fake_amocrm, "GET", f"/api/v4/contacts/{cid}/links").json()["_embedded"]["links"]
    assert links == [{"entity_id": cid, "entity_type": "contacts", "to_entity_id": lid, "to_entity_type": "leads",
                      "metadata": {"main_contact": True}}]
    assert call(fake_amocrm, "POST", f"/api/v4/leads/{lid}/unlink",
                [{"to_entity_id": cid, "to_entity_type": "contacts"}]).status_code == 204
    assert call(fake_amocrm, "GET", f"/api/v4/contacts/{cid}/links").status_code == 204
    bulk = call(fake_amocrm, "POST", "/api/v4/leads/link",
                [{"entity_id": lid, "to_entity_id": cid, "to_entity_type": "contacts"}])
    assert bulk.status_code == 200


def test_tasks_create_complete_and_validate(fake_amocrm):
    lead = call(fake_amocrm, "GET", "/api/v4/leads", limit=1).json()["_embedded"]["leads"][0]
    r = call(fake_amocrm, "POST", "/api/v4/tasks", [{"text": "Call", "complete_till": 1767225600,
                                                   "entity_type": "leads", "entity_id": lead["id"], "task_type_id": 2}])
    tid = r.json()["_embedded"]["tasks"][0]["id"]
    call(fake_amocrm, "PATCH", f"/api/v4/tasks/{tid}", {"is_completed": True, "result": {"text": "Done"}})
    task = call(fake_amocrm, "GET", f"/api/v4/tasks/{tid}").json()
    assert task["is_completed"] is True and task["result"] == {"text": "Done"} and task["entity_type"] == "leads"
    bad = call(fake_amocrm, "POST", "/api/v4/tasks", [{"complete_till": "tomorrow"}, {"text": "x", "complete_till": 1,
                                                                                       "entity_type": "leads",
                                                                                       "entity_id": 1}])
    errs = {e["request_id"]: e["errors"] for e in bad.json()["validation-errors"]}
    assert errs["0"][0]["code"] == "InvalidType" and errs["1"][0] == {"code": "NotFound", "path": "entity_id",
                                                                      "detail": "Entity 1 not found."}


def test_incremental_read_sees_writes_and_all_ties(fake_crm):
    server = fake_crm("amocrm", contacts=700, rate_limit=False)
    app = server.app
    app.clock.freeze(1_800_000_000)
    mark = 1_800_000_000
    ids = [c["id"] for c in call(server, "GET", "/api/v4/contacts", limit=250).json()["_embedded"]["contacts"]]
    changed = ids[3:263]  # more than a page, all in one second
    for start in range(0, len(changed), 250):
        call(server, "PATCH", "/api/v4/contacts", [{"id": i, "name": f"tie {i}"} for i in changed[start:start + 250]])
    new = call(server, "POST", "/api/v4/contacts", [{"name": "fresh"}]).json()["_embedded"]["contacts"][0]["id"]
    seen, page = [], 1
    while True:
        r = call(server, "GET", "/api/v4/contacts", page=page, limit=250,
                 **{"filter[updated_at][from]": mark, "order[updated_at]": "asc"})
        if r.status_code == 204:
            break
        seen += [(c["id"], c["updated_at"]) for c in r.json()["_embedded"]["contacts"]]
        page += 1
    assert sorted(i for i, _ in seen) == sorted([*changed, new])
    assert {ts for _, ts in seen} == {mark}


def test_explicit_timestamps_are_honoured(fake_amocrm):
    r = call(fake_amocrm, "POST", "/api/v4/contacts", [{"name": "Old", "created_at": 1600000000,
                                                      "updated_at": 1600000100}])
    c = call(fake_amocrm, "GET", f"/api/v4/contacts/{r.json()['_embedded']['contacts'][0]['id']}").json()
    assert (c["created_at"], c["updated_at"]) == (1600000000, 1600000100)


def test_a_listing_asked_again_after_a_change_shows_it(fake_crm):
    """The fake keeps a query's filtered, ordered records for its next pages; any write or admin change
    must make the same query see the new state."""
    server = fake_crm("amocrm", contacts=600, rate_limit=False)
    server.app.clock.freeze(1_900_000_000)
    query = {"filter[updated_at][from]": 1_900_000_000, "order[updated_at]": "asc", "limit": 250}

    def listed() -> list[int]:
        seen, page = [], 1
        while (r := call(server, "GET", "/api/v4/contacts", page=page, **query)).status_code == 200:
            seen += [c["id"] for c in r.json()["_embedded"]["contacts"]]
            page += 1
        return seen

    assert listed() == []
    first = call(server, "GET", "/api/v4/contacts", limit=3).json()["_embedded"]["contacts"]
    call(server, "PATCH", "/api/v4/contacts", [{"id": first[0]["id"], "name": "changed"}])
    assert listed() == [first[0]["id"]]
    touched = requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": [first[1]["id"]]},
                            timeout=10)
    assert touched.status_code == 200
    assert sorted(listed()) == sorted([first[0]["id"], first[1]["id"]])
    requests.post(server.url + "/_fake/delete", json={"entity": "contacts", "id": first[0]["id"]}, timeout=10)
    assert listed() == [first[1]["id"]]
