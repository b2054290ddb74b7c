"""Fake Bitrix24 over real HTTP: paging thousands of records, keyset scans, batch reads, filters."""

import pytest
import requests

from crmsync.fakes import start_fake
from crmsync.fakes import world as w
from crmsync.fakes.bitrix24 import dates


def call(server, method, **params):
    r = requests.post(f"{server.url}/rest/1/demo/{method}.json", json=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def big():
    server = start_fake("bitrix24", contacts=1200, deals=60, tasks=80, rate_limit=False)
    yield server
    server.stop()


def test_offset_paging_covers_every_record_once(big):
    seen, start, pages = [], 0, 0
    while start is not None:
        body = call(big, "crm.contact.list", select=["ID"], order={"ID": "ASC"}, start=start)
        assert body["total"] == 1200 and len(body["result"]) <= 50
        seen += [int(r["ID"]) for r in body["result"]]
        start = body.get("next")
        pages += 1
    assert pages == 24 and seen == list(range(1, 1201))


def test_keyset_scan_without_count(big):
    seen, last = [], 0
    while True:
        body = call(big, "crm.contact.list", select=["ID"], order={"ID": "ASC"}, filter={">ID": last}, start=-1)
        assert body["total"] == 0 and "next" not in body
        rows = body["result"]
        seen += [int(r["ID"]) for r in rows]
        if len(rows) < 50:
            break
        last = rows[-1]["ID"]
    assert seen == list(range(1, 1201))


def test_changed_since_filter_matches_the_world(big):
    world = w.build_world(42, 1200, 60, 80)
    cutoff = sorted(c.updated_at for c in world.contacts)[900]
    expected = sorted(c.index + 1 for c in world.contacts if c.updated_at > cutoff)
    since = dates.iso(cutoff, "+03:00")
    got, start = [], 0
    while start is not None:
        body = call(big, "crm.contact.list", select=["ID", "DATE_MODIFY"], filter={">DATE_MODIFY": since},
                    order={"DATE_MODIFY": "ASC", "ID": "ASC"}, start=start)
        assert body["total"] == len(expected)
        got += body["result"]
        start = body.get("next")
    assert sorted(int(r["ID"]) for r in got) == expected
    stamps = [r["DATE_MODIFY"] for r in got]
    assert stamps == sorted(stamps, key=lambda s: dates.parse(s, "+03:00"))  # ordered, ties by ID


def test_batch_of_fifty_list_calls_returns_2500_rows_in_one_request():
    server = start_fake("bitrix24", contacts=2600, deals=1, tasks=1, rate_limit=False)
    try:
        before = server.stats.total
        cmd = {f"p{i}": f"crm.contact.list?select[]=ID&select[]=NAME&order[ID]=ASC&start={i * 50}" for i in range(50)}
        body = call(server, "batch", halt=0, cmd=cmd)
        assert server.stats.total - before == 1
        res = body["result"]
        rows = [row for key in cmd for row in res["result"][key]]
        assert len(rows) == 2500 and len({r["ID"] for r in rows}) == 2500
        assert res["result_error"] == [] and set(res["result_total"].values()) == {2600}
        assert res["result_next"]["p49"] == 2500 and set(res["result_time"]) == set(cmd)
    finally:
        server.stop()


def test_select_semantics(fake_bitrix24):
    row = call(fake_bitrix24, "crm.contact.list", filter={"HAS_PHONE": "Y"})["result"][0]
    assert "PHONE" not in row and "EMAIL" not in row and "NAME" in row  # '*' excludes multi-fields
    assert any(k.startswith("UF_CRM_") for k in row)                   # default select adds UF_*
    row = call(fake_bitrix24, "crm.contact.list", filter={"HAS_PHONE": "Y"}, select=["ID", "PHONE"])["result"][0]
    assert set(row) == {"ID", "PHONE"} and row["PHONE"][0]["TYPE_ID"] == "PHONE"
    assert all(isinstance(v, str) for v in row["PHONE"][0].values())
    rows = call(fake_bitrix24, "crm.contact.list", filter={"HAS_PHONE": "N"}, select=["ID", "PHONE"])["result"]
    assert rows and all("PHONE" not in r for r in rows)  # no values: the key is omitted, not []


def test_parameter_names_are_case_insensitive_and_get_works(fake_bitrix24):
    r = requests.get(f"{fake_bitrix24.url}/rest/1/demo/crm.deal.list?FILTER[>ID]=35&SELECT[]=ID&ORDER[ID]=DESC")
    assert [x["ID"] for x in r.json()["result"]] == ["40", "39", "38", "37", "36"]
    r = requests.post(f"{fake_bitrix24.url}/rest/1/demo/crm.deal.get", data={"ID": "3"})
    assert r.json()["result"]["ID"] == "3"


def test_crm_item_list_filters_and_types(fake_bitrix24):
    body = call(fake_bitrix24, "crm.item.list", entityTypeId=2, filter={"categoryId": 1}, order={"id": "DESC"})
    items = body["result"]["items"]
    assert items and all(i["categoryId"] == 1 and i["stageId"].startswith("C1:") for i in items)
    assert isinstance(items[0]["id"], int) and isinstance(items[0]["opportunity"], float)
    assert [i["id"] for i in items] == sorted((i["id"] for i in items), reverse=True)
    contact = call(fake_bitrix24, "crm.item.list", entityTypeId=3, select=["*"], filter={"hasPhone": "Y"})
    fm = contact["result"]["items"][0]["fm"]
    assert fm and set(fm[0]) == {"id", "typeId", "valueType", "value"}
    r = requests.post(f"{fake_bitrix24.url}/rest/1/demo/crm.item.list", json={"entityTypeId": 2,
                                                                             "filter": {">UNKNOWN": 1}})
    assert r.status_code == 400 and r.json()["error"] == "INVALID_ARG_VALUE"


def test_tasks_list_select_and_uf(fake_bitrix24):
    tasks = call(fake_bitrix24, "tasks.task.list", select=["ID", "TITLE"], order={"ID": "asc"})["result"]["tasks"]
    assert set(tasks[0]) == {"id", "title", "group"} and tasks[0]["id"] == "1"
    tasks = call(fake_bitrix24, "tasks.task.list", select=["ID", "UF_CRM_TASK"],
                 filter={"!UF_CRM_TASK": ""})["result"]["tasks"]
    assert tasks and all(t["ufCrmTask"] and t["ufCrmTask"][0][:2] in ("C_", "D_") for t in tasks)
    done = call(fake_bitrix24, "tasks.task.list", select=["ID", "STATUS", "CLOSED_DATE"], filter={"STATUS": 5})
    assert all(t["status"] == "5" and t["closedDate"] for t in done["result"]["tasks"])


def test_reference_data(fake_bitrix24):
    stages = call(fake_bitrix24, "crm.status.list", filter={"ENTITY_ID": "DEAL_STAGE_1"})["result"]
    assert [s["STATUS_ID"] for s in stages] == ["C1:NEW", "C1:UC_CONTRACT", "C1:WON", "C1:LOSE"]
    assert {s["SEMANTICS"] for s in stages} == {None, "S", "F"}
    cats = call(fake_bitrix24, "crm.category.list", entityTypeId=2)["result"]["categories"]
    assert [(c["id"], c["name"]) for c in cats] == [(0, "Продажи"), (1, "Partners")]
    users = call(fake_bitrix24, "user.get")
    assert [u["ID"] for u in users["result"]] == ["1", "6", "7", "8", "9"] and users["total"] == 5
    meta = call(fake_bitrix24, "crm.contact.fields")["result"]
    enum = [m for k, m in meta.items() if k.startswith("UF_CRM_") and m["type"] == "enumeration"]
    assert {m["isMultiple"] for m in enum} == {True, False} and all(m["items"] for m in enum)
    assert meta["PHONE"]["type"] == "crm_multifield" and meta["TYPE_ID"]["statusType"] == "CONTACT_TYPE"
    assert call(fake_bitrix24, "profile")["result"]["ID"] == "1"
    assert call(fake_bitrix24, "server.time")["result"].endswith("+03:00")


def test_keyset_scan_sees_records_added_and_deleted_since_the_last_scan(fake_bitrix24):
    """The fake keeps a table's ID order between keyset pages; an add, a delete (by API, inside a
    batch or by the admin route) must show in the next scan."""
    def scan() -> list[int]:
        seen, last = [], 0
        while True:
            rows = call(fake_bitrix24, "crm.contact.list", select=["ID"], order={"ID": "ASC"}, filter={">ID": last},
                        start=-1)["result"]
            seen += [int(r["ID"]) for r in rows]
            if len(rows) < 50:
                return seen
            last = rows[-1]["ID"]

    before = scan()
    added = int(call(fake_bitrix24, "crm.contact.add", fields={"NAME": "New"})["result"])
    assert scan() == [*before, added]
    call(fake_bitrix24, "batch", cmd={"d": f"crm.contact.delete?id={before[0]}"})
    assert scan() == [*before[1:], added]
    requests.post(f"{fake_bitrix24.url}/_fake/delete", json={"entity": "contacts", "id": added}, timeout=10)
    assert scan() == before[1:]
