"""Reads against the fake AmoCRM over real HTTP: shapes, paging, filters, ordering, 204s and 404s."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

H = {"Authorization": "Bearer demo-token"}


def get(server, path, **params):
    return requests.get(server.url + path, headers=H, params=params, timeout=10)


@pytest.fixture(scope="module")
def big():
    from crmsync.fakes import start_fake

    server = start_fake("amocrm", contacts=1200, deals=300, tasks=300, rate_limit=False)
    yield server
    server.stop()


def test_paging_1200_contacts_by_page_number_gets_each_once_and_204_after(big):
    seen: list[int] = []
    page = 1
    while True:
        r = get(big, "/api/v4/contacts", page=page, limit=250)
        if r.status_code == 204:
            break
        assert r.status_code == 200
        body = r.json()
        assert body["_page"] == page
        seen += [c["id"] for c in body["_embedded"]["contacts"]]
        page += 1
    assert len(seen) == 1200 and len(set(seen)) == 1200
    assert seen == sorted(seen)  # default order: id asc


def test_paging_by_following_next_links_verbatim(big):
    url = big.url + "/api/v4/contacts?limit=200&order[updated_at]=asc"
    seen, statuses = [], []
    while url:
        r = requests.get(url, headers=H, timeout=10)
        statuses.append(r.status_code)
        if r.status_code == 204:
            assert r.content == b"" and "json" not in (r.headers.get("Content-Type") or "")
            break
        body = r.json()
        seen += [(c["updated_at"], c["id"]) for c in body["_embedded"]["contacts"]]
        url = body["_links"].get("next", {}).get("href")
        assert "order[updated_at]=asc" in (url or "order[updated_at]=asc")
    assert len(seen) == 1200 and len({i for _, i in seen}) == 1200
    assert seen == sorted(seen)  # ties at one second broken by id: stable pages
    assert statuses[-1] == 204  # 1200 is a multiple of 200: the page after the last full one is empty


def test_next_link_exact_mode_stops_on_last_page(fake_crm):
    server = fake_crm("amocrm", contacts=100, rate_limit=False, next_link="exact")
    body = get(server, "/api/v4/contacts", limit=50, page=2).json()
    assert "next" not in body["_links"] and "prev" in body["_links"]


def test_contact_lead_task_shapes(fake_amocrm):
    contact = get(fake_amocrm, "/api/v4/contacts", limit=1).json()["_embedded"]["contacts"][0]
    assert list(contact) == ["id", "name", "first_name", "last_name", "responsible_user_id", "group_id",
                             "created_by", "updated_by", "created_at", "updated_at", "closest_task_at", "is_deleted",
                             "is_unsorted", "custom_fields_values", "account_id", "_links", "_embedded"]
    assert set(contact["_embedded"]) == {"tags", "companies"}
    lead = get(fake_amocrm, "/api/v4/leads", limit=1).json()["_embedded"]["leads"][0]
    assert list(lead)[:12] == ["id", "name", "price", "responsible_user_id", "group_id", "status_id", "pipeline_id",
                               "loss_reason_id", "created_by", "updated_by", "created_at", "updated_at"]
    assert {"closed_at", "score", "labor_cost", "account_id"} <= set(lead)
    assert "contacts" not in lead["_embedded"]
    task = get(fake_amocrm, "/api/v4/tasks", limit=1).json()["_embedded"]["tasks"][0]
    assert list(task) == ["id", "created_by", "updated_by", "created_at", "updated_at", "responsible_user_id",
                          "group_id", "entity_id", "entity_type", "duration", "is_completed", "task_type_id", "text",
                          "result", "complete_till", "account_id", "_links"]
    assert isinstance(task["created_at"], int)


def test_custom_field_value_shapes(fake_amocrm):
    contacts = get(fake_amocrm, "/api/v4/contacts", limit=250).json()["_embedded"]["contacts"]
    entries = [e for c in contacts for e in c["custom_fields_values"] or []]
    by_type = {e["field_type"]: e for e in entries}
    phone = next(e for e in entries if e["field_code"] == "PHONE")
    assert {v["enum_code"] for e in entries if e["field_code"] == "PHONE" for v in e["values"]} <= \
        {"WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"}
    assert set(phone["values"][0]) == {"value", "enum_id", "enum_code"}
    assert by_type["select"]["values"][0]["enum_code"] is None and "enum_id" in by_type["select"]["values"][0]
    assert isinstance(by_type["numeric"]["values"][0]["value"], str)
    assert isinstance(by_type["date"]["values"][0]["value"], int)
    assert any(c["custom_fields_values"] is None for c in contacts) or all(c["custom_fields_values"] for c in contacts)


def test_leads_with_contacts_and_contacts_with_leads(fake_amocrm):
    leads = get(fake_amocrm, "/api/v4/leads", limit=250, **{"with": "contacts"}).json()["_embedded"]["leads"]
    linked = [lead for lead in leads if lead["_embedded"]["contacts"]]
    assert linked
    for lead in linked:
        assert sum(c["is_main"] for c in lead["_embedded"]["contacts"]) == 1
    cid = linked[0]["_embedded"]["contacts"][0]["id"]
    contact = get(fake_amocrm, f"/api/v4/contacts/{cid}", **{"with": "leads"}).json()
    assert linked[0]["id"] in [x["id"] for x in contact["_embedded"]["leads"]]
    won_lost = [lead for lead in leads if lead["status_id"] in (142, 143)]
    assert won_lost and all(lead["closed_at"] for lead in won_lost)
    assert all(lead["closed_at"] is None for lead in leads if lead["status_id"] not in (142, 143))


def test_currency_field_carries_deal_currency(fake_amocrm):
    leads = get(fake_amocrm, "/api/v4/leads", limit=250).json()["_embedded"]["leads"]
    currencies = Counter(next(v["value"] for e in lead["custom_fields_values"] if e["field_code"] == "CURRENCY"
                              for v in e["values"]) for lead in leads)
    assert set(currencies) <= {"RUB", "USD"} and currencies["RUB"] > 0
    assert all(isinstance(lead["price"], int) for lead in leads)


@pytest.mark.parametrize("style", ["scalar", "array", "comma"])
def test_filter_by_id_forms(fake_amocrm, style):
    ids = [c["id"] for c in get(fake_amocrm, "/api/v4/contacts", limit=5).json()["_embedded"]["contacts"]][1:4]
    if style == "scalar":
        params = {"filter[id]": ids[0]}
        want = ids[:1]
    elif style == "array":
        params = {"filter[id][]": ids}
        want = ids
    else:
        params = {"filter[id]": ",".join(map(str, ids))}
        want = ids
    got = [c["id"] for c in get(fake_amocrm, "/api/v4/contacts", **params).json()["_embedded"]["contacts"]]
    assert got == want


def test_updated_at_range_is_inclusive_and_bare_value_means_from(fake_amocrm):
    rows = get(fake_amocrm, "/api/v4/contacts", limit=250).json()["_embedded"]["contacts"]
    stamps = sorted(r["updated_at"] for r in rows)
    lo, hi = stamps[10], stamps[30]
    got = get(fake_amocrm, "/api/v4/contacts", limit=250, **{"filter[updated_at][from]": lo,
                                                            "filter[updated_at][to]": hi}).json()
    assert {r["id"] for r in got["_embedded"]["contacts"]} == {r["id"] for r in rows if lo <= r["updated_at"] <= hi}
    bare = get(fake_amocrm, "/api/v4/contacts", limit=250, **{"filter[updated_at]": lo}).json()
    assert len(bare["_embedded"]["contacts"]) == sum(r["updated_at"] >= lo for r in rows)


def test_filter_ignored_when_account_lacks_filter_feature(fake_crm):
    server = fake_crm("amocrm", rate_limit=False, filter_enabled=False)
    assert get(server, "/api/v4/account", **{"with": "is_api_filter_enabled"}).json()["is_api_filter_enabled"] is False
    got = get(server, "/api/v4/contacts", limit=250, **{"filter[updated_at][from]": 2_000_000_000}).json()
    assert len(got["_embedded"]["contacts"]) == 60


def test_lead_and_task_filters(fake_amocrm):
    pipelines = get(fake_amocrm, "/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]
    second = pipelines[1]["id"]
    leads = get(fake_amocrm, "/api/v4/leads", limit=250, **{"filter[pipeline_id]": second}).json()["_embedded"]["leads"]
    assert leads and all(lead["pipeline_id"] == second for lead in leads)
    won = get(fake_amocrm, "/api/v4/leads", **{"filter[statuses][0][pipeline_id]": second,
                                               "filter[statuses][0][status_id]": 142})
    if won.status_code == 200:
        assert all((x["pipeline_id"], x["status_id"]) == (second, 142) for x in won.json()["_embedded"]["leads"])
    done = get(fake_amocrm, "/api/v4/tasks", limit=250, **{"filter[is_completed]": 1}).json()["_embedded"]["tasks"]
    assert done and all(t["is_completed"] for t in done)
    on_leads = get(fake_amocrm, "/api/v4/tasks", limit=250, **{"filter[entity_type]": "leads"}).json()
    assert all(t["entity_type"] == "leads" for t in on_leads["_embedded"]["tasks"])
    calls = get(fake_amocrm, "/api/v4/tasks", limit=250, **{"filter[task_type][]": 1}).json()["_embedded"]["tasks"]
    assert all(t["task_type_id"] == 1 for t in calls)
    user = done[0]["responsible_user_id"]
    mine = get(fake_amocrm, "/api/v4/tasks", limit=250, **{"filter[responsible_user_id]": user}).json()
    assert all(t["responsible_user_id"] == user for t in mine["_embedded"]["tasks"])


def test_query_searches_names_and_phone_digits(fake_amocrm):
    contacts = get(fake_amocrm, "/api/v4/contacts", limit=250).json()["_embedded"]["contacts"]
    target = next(c for c in contacts if c["custom_fields_values"] and any(
        e["field_code"] == "PHONE" for e in c["custom_fields_values"]))
    phone = next(e for e in target["custom_fields_values"] if e["field_code"] == "PHONE")["values"][0]["value"]
    digits = "".join(ch for ch in phone if ch.isdigit())[-7:]
    found = get(fake_amocrm, "/api/v4/contacts", query=digits).json()["_embedded"]["contacts"]
    assert target["id"] in [c["id"] for c in found]
    by_name = get(fake_amocrm, "/api/v4/contacts", query=target["last_name"].lower()).json()["_embedded"]["contacts"]
    assert target["id"] in [c["id"] for c in by_name]


def test_order_rules(fake_amocrm):
    desc = get(fake_amocrm, "/api/v4/leads", limit=250, **{"order[created_at]": "desc"}).json()["_embedded"]["leads"]
    assert [x["created_at"] for x in desc] == sorted((x["created_at"] for x in desc), reverse=True)
    bad = get(fake_amocrm, "/api/v4/tasks", **{"order[updated_at]": "asc"})
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/problem+json")
    assert bad.json()["validation-errors"][0]["errors"][0]["path"] == "order.updated_at"


def test_limit_over_max_is_422_or_clamped(fake_amocrm, fake_crm):
    r = get(fake_amocrm, "/api/v4/contacts", limit=251)
    assert r.status_code == 422 and r.json()["detail"] == "Limit 250 per page"
    clamped = fake_crm("amocrm", contacts=300, rate_limit=False, read_limit_over_max="clamp")
    assert len(get(clamped, "/api/v4/contacts", limit=500).json()["_embedded"]["contacts"]) == 250


def test_empty_results_missing_records_and_unknown_paths(fake_amocrm):
    assert get(fake_amocrm, "/api/v4/contacts", page=99).status_code == 204
    assert get(fake_amocrm, "/api/v4/contacts", **{"filter[id]": 1}).status_code == 204
    missing = get(fake_amocrm, "/api/v4/leads/1")
    assert missing.status_code == 204 and missing.content == b""
    r = get(fake_amocrm, "/api/v4/deals")
    assert r.status_code == 404 and r.json()["detail"].startswith("Cannot GET http://127.0.0.1")
    r = requests.delete(fake_amocrm.url + "/api/v4/contacts/21300017", headers=H, timeout=5)
    assert r.status_code == 405 and r.json()["title"] == "Method Not Allowed"


def test_metadata_endpoints(fake_amocrm):
    acc = get(fake_amocrm, "/api/v4/account", **{"with": "task_types,is_api_filter_enabled"}).json()
    assert acc["currency"] == "RUB" and acc["subdomain"] == "demo" and acc["is_api_filter_enabled"] is True
    assert [t["id"] for t in acc["_embedded"]["task_types"]][:2] == [1, 2]
    users = get(fake_amocrm, "/api/v4/users").json()
    assert users["_total_items"] == 5 and all(u["id"] > 1_000_000 for u in users["_embedded"]["users"])
    for p in get(fake_amocrm, "/api/v4/leads/pipelines").json()["_embedded"]["pipelines"]:
        statuses = p["_embedded"]["statuses"]
        assert statuses[0]["type"] == 1 and {142, 143} <= {s["id"] for s in statuses}
    fields = get(fake_amocrm, "/api/v4/contacts/custom_fields", limit=3).json()
    assert fields["_page_count"] == 3 and "next" in fields["_links"]
    assert fields["_embedded"]["custom_fields"][0]["code"] == "PHONE"
    assert [e["value"] for e in fields["_embedded"]["custom_fields"][0]["enums"]] == \
        ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]
    leads_fields = get(fake_amocrm, "/api/v4/leads/custom_fields").json()["_embedded"]["custom_fields"]
    currency = next(f for f in leads_fields if f["code"] == "CURRENCY")
    assert [e["value"] for e in currency["enums"]] == ["RUB", "USD"]
    companies = get(fake_amocrm, "/api/v4/companies").json()["_embedded"]["companies"]
    assert len(companies) == 12


def test_links_endpoint(fake_amocrm):
    lead = next(x for x in get(fake_amocrm, "/api/v4/leads", limit=250, **{"with": "contacts"}).json()
                ["_embedded"]["leads"] if x["_embedded"]["contacts"])
    links = get(fake_amocrm, f"/api/v4/leads/{lead['id']}/links").json()["_embedded"]["links"]
    assert {x["to_entity_id"] for x in links if x["to_entity_type"] == "contacts"} == \
        {c["id"] for c in lead["_embedded"]["contacts"]}
