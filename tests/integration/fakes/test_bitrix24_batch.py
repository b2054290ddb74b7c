"""Fake Bitrix24 ``batch`` over real HTTP: errors, halt, references, limits, PHP serialisation."""

from urllib.parse import urlencode

import requests


def batch(server, status=200, **params):
    r = requests.post(f"{server.url}/rest/1/demo/batch", json=params, timeout=10)
    assert r.status_code == status, r.text
    return r.json()


def test_errors_are_collected_without_halt(fake_bitrix24):
    body = batch(fake_bitrix24, halt=0, cmd={
        "a": "crm.contact.add?fields[NAME]=Ann&fields[EMAIL][0][VALUE]=ann%40example.com",
        "bad": "crm.contact.add?fields[EMAIL][0][VALUE]=broken&fields[EMAIL][0][VALUE_TYPE]=WORK",
        "c": "crm.deal.add?fields[TITLE]=After%20the%20error&fields[CONTACT_IDS][]=$result[a]",
    })
    res = body["result"]
    assert set(res) == {"result", "result_error", "result_total", "result_next", "result_time"}
    assert isinstance(res["result"]["a"], int) and isinstance(res["result"]["c"], int)
    assert res["result_error"] == {"bad": {"error": "ERROR_CORE",
                                           "error_description": "The field Work e-mail contains an invalid address"}}
    assert set(res["result_time"]) == {"a", "c"} and res["result_total"] == [] and res["result_next"] == []
    deal = requests.post(f"{fake_bitrix24.url}/rest/1/demo/crm.deal.get", json={"id": res["result"]["c"]}).json()
    assert deal["result"]["CONTACT_ID"] == str(res["result"]["a"])


def test_halt_stops_at_the_first_error(fake_bitrix24):
    body = batch(fake_bitrix24, halt=1, cmd=["crm.lead.get?id=1", "crm.lead.get?id=0", "crm.lead.get?id=2"])
    res = body["result"]
    assert res["result"] == [{**res["result"][0]}] and res["result"][0]["ID"] == "1"  # keys 0.. → JSON list
    assert res["result_error"] == {"1": {"error": "", "error_description": "ID is not defined or invalid."}}
    assert len(res["result_time"]) == 1


def test_php_array_serialisation_like_the_recordings(fake_bitrix24):
    res = batch(fake_bitrix24, cmd={"0": "crm.lead.get?id=0", "1": "crm.lead.get?id=999"})["result"]
    assert res == {"result": [], "result_error": [
        {"error": "", "error_description": "ID is not defined or invalid."},
        {"error": "", "error_description": "Not found"}], "result_total": [], "result_next": [], "result_time": []}
    res = batch(fake_bitrix24, cmd={"x": "crm.lead.list?filter[ID]=0"})["result"]
    assert res["result"] == {"x": []} and res["result_total"] == {"x": 0} and res["result_next"] == []


def test_result_references_and_list_totals(fake_bitrix24):
    res = batch(fake_bitrix24, cmd={
        "c0": "crm.deal.list?filter[>ID]=0&order[ID]=ASC&start=-1&select[]=ID",
        "c1": "crm.deal.contact.items.get?id=$result[c0][0][ID]",
        "c2": "crm.contact.list?select[]=ID&start=0",
        "c3": "crm.contact.list?select[]=ID&start=$result_next[c2]",
    })["result"]
    assert res["result_error"] == []
    assert res["result_total"] == {"c0": 0, "c2": 60, "c3": 60} and res["result_next"] == {"c2": 50}
    assert res["result"]["c3"][0]["ID"] == "51"
    assert isinstance(res["result"]["c1"], list)


def test_too_many_commands_and_nested_batch(fake_bitrix24):
    body = batch(fake_bitrix24, 400, cmd=[f"profile?i={i}" for i in range(51)])
    assert body["error"] == "ERROR_BATCH_LENGTH_EXCEEDED"
    res = batch(fake_bitrix24, cmd={"n": "batch?cmd[0]=profile", "ok": "server.time"})["result"]
    assert res["result_error"]["n"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED" and "ok" in res["result"]


def test_form_encoded_batch_is_double_encoded(fake_bitrix24):
    inner = "crm.contact.list?" + urlencode({"filter[>ID]": "58", "select[]": "ID"})
    r = requests.post(f"{fake_bitrix24.url}/rest/1/demo/batch.json", data={"halt": "0", "cmd[a]": inner})
    assert [row["ID"] for row in r.json()["result"]["result"]["a"]] == ["59", "60"]


def test_a_batch_passes_the_leaky_bucket_once(fake_crm):
    server = fake_crm("bitrix24", bucket_capacity=2)
    server.app.clock.freeze(1_780_000_000)
    body = batch(server, cmd=[f"crm.contact.get?id={i}" for i in range(1, 41)])
    assert len(body["result"]["result"]) == 40
    batch(server, cmd=["profile"])
    assert batch(server, 503, cmd=["profile"])["error"] == "QUERY_LIMIT_EXCEEDED"


def test_keyset_page_after_the_last_record_and_one_referring_to_it_are_empty(fake_bitrix24):
    """The last batch of a keyset read: c0 starts after the last ID, so c1's ``$result[c0][49][ID]``
    names nothing and its bound is empty — no record matches it."""
    keyset = "crm.contact.list?order[ID]=ASC&start=-1&select[]=ID&filter[>ID]="
    res = batch(fake_bitrix24, cmd={"c0": keyset + "60", "c1": keyset + "$result[c0][49][ID]",
                                    "c2": keyset + "58"})["result"]
    assert res["result_error"] == []
    assert res["result"]["c0"] == [] and res["result"]["c1"] == []
    assert [row["ID"] for row in res["result"]["c2"]] == ["59", "60"]
