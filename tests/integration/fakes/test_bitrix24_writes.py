"""Fake Bitrix24 writes over real HTTP: contacts, deals, tasks, crm.item, multi-fields, user fields."""

import pytest
import requests

from crmsync.fakes.bitrix24 import dates

T0 = 1_780_000_000  # a frozen "now", later than every seeded record


def call(server, method, status=200, **params):
    r = requests.post(f"{server.url}/rest/1/demo/{method}", json=params, timeout=10)
    assert r.status_code == status, r.text
    return r.json()


@pytest.fixture
def b24(fake_bitrix24):
    fake_bitrix24.app.clock.freeze(T0)
    return fake_bitrix24


def uf(server, entity, label):
    meta = call(server, f"crm.{entity}.fields")["result"]
    return next((name, m) for name, m in meta.items() if m.get("listLabel") == label)


def test_contact_add_update_delete_with_multifields(b24):
    source, source_meta = uf(b24, "contact", "Источник")
    interests, interests_meta = uf(b24, "contact", "Интересы")
    item = {i["VALUE"]: i["ID"] for i in source_meta["items"]}
    many = [i["ID"] for i in interests_meta["items"][:2]]
    rid = call(b24, "crm.contact.add", fields={
        "NAME": "Ann", "LAST_NAME": "Lee", "BOGUS_KEY": "ignored",
        "PHONE": [{"VALUE": "+7 900 1", "VALUE_TYPE": "WORK"}, {"VALUE": "+7 900 2", "VALUE_TYPE": "MOBILE"},
                  {"VALUE": "+7 900 3", "VALUE_TYPE": "HOME"}],
        "EMAIL": [{"VALUE": "ann@example.com", "VALUE_TYPE": "WORK"}],
        source: item["Выставка"], interests: many,
    })["result"]
    assert isinstance(rid, int)
    got = call(b24, "crm.contact.get", id=rid)["result"]
    assert got["ID"] == str(rid) and got["HAS_PHONE"] == "Y" and "BOGUS_KEY" not in got
    assert got[source] == item["Выставка"] and got[interests] == many
    assert got["DATE_CREATE"] == got["DATE_MODIFY"] == dates.iso(T0, "+03:00")
    phones = {p["VALUE"]: p["ID"] for p in got["PHONE"]}

    b24.app.clock.advance(60)
    assert call(b24, "crm.contact.update", id=rid, fields={"PHONE": [
        {"ID": phones["+7 900 1"], "VALUE": "+7 900 111"},
        {"ID": phones["+7 900 2"], "DELETE": "Y"},
        {"VALUE": "+7 900 4", "VALUE_TYPE": "MOBILE"},
    ], "EMAIL": [{"ID": got["EMAIL"][0]["ID"]}], interests: []})["result"] is True
    got = call(b24, "crm.contact.get", id=rid)["result"]
    assert sorted(p["VALUE"] for p in got["PHONE"]) == ["+7 900 111", "+7 900 3", "+7 900 4"]
    assert "EMAIL" not in got and got["HAS_EMAIL"] == "N" and got[interests] == []
    assert got["DATE_MODIFY"] == dates.iso(T0 + 60, "+03:00") and got["DATE_CREATE"] == dates.iso(T0, "+03:00")

    changed = call(b24, "crm.contact.list", filter={">DATE_MODIFY": dates.iso(T0 + 30, "+03:00")}, select=["ID"])
    assert [r["ID"] for r in changed["result"]] == [str(rid)]

    assert call(b24, "crm.contact.delete", id=rid)["result"] is True
    assert call(b24, "crm.contact.get", 400, id=rid) == {"error": "", "error_description": "Not found"}
    assert b24.app.snapshot()["deleted"]["contacts"] == 1


def test_validation_errors(b24):
    assert call(b24, "crm.contact.add", 400, fields={"EMAIL": [{"VALUE": "nope", "VALUE_TYPE": "WORK"}]}) == {
        "error": "ERROR_CORE", "error_description": "The field Work e-mail contains an invalid address"}
    assert call(b24, "crm.contact.add", 400, fields="x") == {
        "error": "", "error_description": "Parameter 'fields' must be array."}
    assert call(b24, "crm.contact.get", 400, id=0)["error_description"] == "ID is not defined or invalid."
    assert call(b24, "crm.deal.add", 400, fields={"TITLE": "x", "STAGE_ID": "C1:NEW"})["error"] == ""
    assert "CATEGORY_ID" in call(b24, "crm.deal.add", 400, fields={"CATEGORY_ID": 7})["error_description"]
    source, _ = uf(b24, "contact", "Источник")
    assert call(b24, "crm.contact.add", 400, fields={source: "999999"})["error"] == "ERROR_CORE"


def test_import_mode_keeps_given_stamps(b24):
    old = "2020-05-01T10:00:00+03:00"
    rid = call(b24, "crm.contact.add", fields={"NAME": "Old", "DATE_CREATE": old, "DATE_MODIFY": old},
               params={"IMPORT": "Y"})["result"]
    got = call(b24, "crm.contact.get", id=rid)["result"]
    assert got["DATE_CREATE"] == got["DATE_MODIFY"] == old
    rid = call(b24, "crm.contact.add", fields={"NAME": "New", "DATE_CREATE": old})["result"]
    assert call(b24, "crm.contact.get", id=rid)["result"]["DATE_CREATE"] == dates.iso(T0, "+03:00")


def test_deal_contacts_are_replaced_and_stages_checked(b24):
    rid = call(b24, "crm.deal.add", fields={"TITLE": "Big", "CATEGORY_ID": 1, "OPPORTUNITY": 1959000,
                                            "CURRENCY_ID": "RUB", "CONTACT_IDS": [3, 4, 5]})["result"]
    deal = call(b24, "crm.deal.get", id=rid)["result"]
    assert deal["STAGE_ID"] == "C1:NEW" and deal["STAGE_SEMANTIC_ID"] == "P" and deal["CLOSED"] == "N"
    assert deal["OPPORTUNITY"] == "1959000.00" and deal["CONTACT_ID"] == "3" and "CONTACT_IDS" not in deal
    items = call(b24, "crm.deal.contact.items.get", id=rid)["result"]
    assert [(i["CONTACT_ID"], i["IS_PRIMARY"]) for i in items] == [(3, "Y"), (4, "N"), (5, "N")]

    call(b24, "crm.deal.update", id=rid, fields={"CONTACT_IDS": [9, 4], "STAGE_ID": "C1:WON", "CATEGORY_ID": 0})
    deal = call(b24, "crm.deal.get", id=rid)["result"]
    assert [i["CONTACT_ID"] for i in call(b24, "crm.deal.contact.items.get", id=rid)["result"]] == [9, 4]
    assert deal["CONTACT_ID"] == "9" and deal["STAGE_SEMANTIC_ID"] == "S" and deal["CLOSED"] == "Y"
    assert deal["CATEGORY_ID"] == "1"  # crm.deal.update cannot move a deal to another funnel
    assert call(b24, "crm.deal.update", 400, id=rid, fields={"STAGE_ID": "WON"})["error_description"]

    call(b24, "crm.deal.contact.items.set", id=rid, items=[{"CONTACT_ID": 2, "IS_PRIMARY": "Y"}])
    assert call(b24, "crm.deal.get", id=rid)["result"]["CONTACT_ID"] == "2"
    call(b24, "crm.contact.delete", id=2)  # deleting a contact unbinds it
    assert call(b24, "crm.deal.contact.items.get", id=rid)["result"] == []


def test_deal_user_fields_roundtrip(b24):
    channels, meta = uf(b24, "deal", "Каналы связи")
    product, pmeta = uf(b24, "deal", "Продукт")
    probability, _ = uf(b24, "deal", "Вероятность, %")
    ids = [i["ID"] for i in meta["items"]]
    rid = call(b24, "crm.deal.add", fields={"TITLE": "UF", channels: ids[1:3], product: pmeta["items"][0]["ID"],
                                            probability: 40})["result"]
    deal = call(b24, "crm.deal.get", id=rid)["result"]
    assert deal[channels] == ids[1:3] and deal[product] == pmeta["items"][0]["ID"] and float(deal[probability]) == 40
    listed = call(b24, "crm.deal.list", filter={channels: ids[2]}, select=["ID"])["result"]
    assert str(rid) in [r["ID"] for r in listed]
    item = call(b24, "crm.item.get", entityTypeId=2, id=rid)["result"]["item"]
    camel = "ufCrm_" + channels[len("UF_CRM_"):]
    assert item[camel] == [int(i) for i in ids[1:3]]


def test_tasks_add_update_complete_delete(b24):
    assert call(b24, "tasks.task.add", 400, fields={"RESPONSIBLE_ID": 1}) == {
        "error": "ERROR_CORE", "error_description": "Task title is not specified<br>"}
    assert call(b24, "tasks.task.add", 400)["error"] == "100"
    task = call(b24, "tasks.task.add", fields={"TITLE": "Call", "RESPONSIBLE_ID": 6, "DEADLINE": "2026-06-01T10:00:00",
                                               "UF_CRM_TASK": ["C_3", "D_4"]})["result"]["task"]
    tid = task["id"]
    assert isinstance(tid, str) and task["status"] == "2" and task["ufCrmTask"] == ["C_3", "D_4"]
    assert task["deadline"] == "2026-06-01T10:00:00+03:00" and task["responsibleName"] == "Marina"
    b24.app.clock.advance(120)
    task = call(b24, "tasks.task.update", taskId=tid, fields={"TITLE": "Call back"})["result"]["task"]
    assert task["title"] == "Call back" and task["changedDate"] == dates.iso(T0 + 120, "+03:00")
    since = dates.iso(T0 + 60, "+03:00")
    changed = call(b24, "tasks.task.list", filter={">CHANGED_DATE": since}, order={"CHANGED_DATE": "asc"},
                   select=["ID", "CHANGED_DATE"])["result"]["tasks"]
    assert [t["id"] for t in changed] == [tid]
    task = call(b24, "tasks.task.complete", taskId=tid)["result"]["task"]
    assert task["status"] == "5" and task["closedDate"] == dates.iso(T0 + 120, "+03:00")
    got = call(b24, "tasks.task.get", taskId=tid, select=["ID", "STATUS", "UF_CRM_TASK"])["result"]["task"]
    assert got["ufCrmTask"] == ["C_3", "D_4"] and got["subStatus"] == "5"
    assert "ufCrmTask" not in call(b24, "tasks.task.get", taskId=tid)["result"]["task"]
    assert call(b24, "tasks.task.delete", taskId=tid)["result"] == {"task": True}
    assert call(b24, "tasks.task.get", 400, taskId=tid)["error"] == "ERROR_CORE"


def test_crm_item_writes(b24):
    fm = [{"typeId": "PHONE", "valueType": "WORK", "value": "+1 555"},
          {"valueType": "WORK", "value": "no type id: ignored"}]
    fields = {"name": "Bob", "lastName": "Ray", "fm": fm}
    item = call(b24, "crm.item.add", entityTypeId=3, fields=fields)["result"]["item"]
    assert isinstance(item["id"], int) and item["name"] == "Bob" and item["createdTime"] == dates.iso(T0, "+03:00")
    assert [(f["typeId"], f["value"]) for f in item["fm"]] == [("PHONE", "+1 555")]
    phone_id = item["fm"][0]["id"]
    b24.app.clock.advance(10)
    item = call(b24, "crm.item.update", entityTypeId=3, id=item["id"], fields={
        "fm": {"n0": {"typeId": "EMAIL", "valueType": "WORK", "value": "bob@example.com"},
               str(phone_id): {"typeId": "PHONE", "value": ""}}})["result"]["item"]
    assert [(f["typeId"], f["value"]) for f in item["fm"]] == [("EMAIL", "bob@example.com")]
    assert item["updatedTime"] == dates.iso(T0 + 10, "+03:00")
    b24.app.clock.advance(10)
    same = call(b24, "crm.item.update", entityTypeId=3, id=item["id"], fields={"name": "Bob"})["result"]["item"]
    assert same["updatedTime"] == item["updatedTime"]  # nothing changed: not saved
    changed = call(b24, "crm.item.list", entityTypeId=3, filter={">updatedTime": dates.iso(T0, "+03:00")},
                   order={"updatedTime": "ASC"})["result"]["items"]
    assert [i["id"] for i in changed] == [item["id"]]
    deal = call(b24, "crm.item.add", entityTypeId=2, fields={"title": "X", "categoryId": 1, "contactIds": [1, 2],
                                                             "opportunity": 10.5})["result"]["item"]
    assert deal["stageId"] == "C1:NEW" and deal["contactIds"] == [1, 2] and deal["opportunity"] == 10.5
    moved = call(b24, "crm.item.update", entityTypeId=2, id=deal["id"], fields={"categoryId": 0})["result"]["item"]
    assert moved["categoryId"] == 0 and moved["stageId"] == "NEW"  # crm.item can change the funnel
    assert call(b24, "crm.item.delete", entityTypeId=2, id=deal["id"])["result"] == []
    assert call(b24, "crm.item.get", 400, entityTypeId=2, id=deal["id"]) == {
        "error": "NOT_FOUND", "error_description": "Item not found"}


def test_admin_touch_and_delete(b24):
    r = requests.post(f"{b24.url}/_fake/touch", json={"entity": "contacts", "ids": [5]})
    touched = r.json()["touched"][0]
    assert touched["NAME"].endswith("(edited)") and touched["DATE_MODIFY"] == dates.iso(T0, "+03:00")
    assert requests.post(f"{b24.url}/_fake/delete", json={"entity": "deal", "id": 3}).json() == {"deleted": True}
    assert call(b24, "crm.deal.get", 400, id=3)["error_description"] == "Not found"
