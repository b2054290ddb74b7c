"""An unmodified third-party client, fast_bitrix24, driving the fake Bitrix24 through a webhook URL.

The client batches list pages and writes through ``batch`` and throttles itself to the leaky bucket
(50 burst, 2/s), so the fake runs with its real rate limit on; each test sends only a few HTTP requests.
"""

import warnings

import pytest

from crmsync.fakes import world as w
from crmsync.fakes.bitrix24 import dates

fast_bitrix24 = pytest.importorskip("fast_bitrix24")
pytestmark = pytest.mark.client


@pytest.fixture
def portal(fake_crm):
    return fake_crm("bitrix24", rate_limit=True, contacts=1200, deals=150, tasks=120)


@pytest.fixture
def client(portal):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client warns about select '*' without a filter
        yield fast_bitrix24.Bitrix(f"{portal.url}/rest/1/demo/", verbose=False)


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def test_get_all_pages_through_every_record(portal, client):
    contacts = quiet(client.get_all, "crm.contact.list", {"select": ["ID", "NAME", "PHONE"]})
    assert sorted(int(c["ID"]) for c in contacts) == list(range(1, 1201))
    deals = quiet(client.get_all, "crm.deal.list", {"select": ["*", "UF_*"]})
    assert len(deals) == 150 and all("STAGE_ID" in d for d in deals)
    tasks = quiet(client.get_all, "tasks.task.list", {"select": ["ID", "TITLE", "UF_CRM_TASK"]})
    assert sorted(int(t["id"]) for t in tasks) == list(range(1, 121))
    items = quiet(client.get_all, "crm.item.list", {"entityTypeId": 2, "select": ["id", "title"]})
    assert sorted(i["id"] for i in items) == list(range(1, 151))
    assert portal.stats.total <= 12  # first pages plus one batch each; never rate limited
    assert portal.app.snapshot()["rate_limited"] == 0


def test_get_all_with_a_changed_since_filter(client):
    world = w.build_world(42, 1200, 150, 120)
    cutoff = sorted(c.updated_at for c in world.contacts)[1000]
    expected = sorted(c.index + 1 for c in world.contacts if c.updated_at > cutoff)
    got = quiet(client.get_all, "crm.contact.list",
                {"filter": {">DATE_MODIFY": dates.iso(cutoff, "+03:00")}, "select": ["ID", "DATE_MODIFY"]})
    assert sorted(int(c["ID"]) for c in got) == expected


def test_bulk_create_and_update_with_call(portal, client):
    ids = quiet(client.call, "crm.contact.add", [
        {"fields": {"NAME": f"Bulk {i}", "PHONE": [{"VALUE": f"+7 900 000 {i:02d}", "VALUE_TYPE": "WORK"}]}}
        for i in range(120)])
    assert len(ids) == 120 and all(isinstance(i, int) for i in ids) and len(set(ids)) == 120
    updated = quiet(client.call, "crm.contact.update",
                    [{"ID": rid, "fields": {"LAST_NAME": "Updated"}} for rid in ids])
    assert list(updated) == [True] * 120
    got = quiet(client.get_all, "crm.contact.list", {"filter": {"LAST_NAME": "Updated"}, "select": ["ID", "PHONE"]})
    assert sorted(int(c["ID"]) for c in got) == sorted(ids)
    assert all(c["PHONE"][0]["VALUE"].startswith("+7 900 000") for c in got)
    by_id = quiet(client.get_by_ID, "crm.contact.get", ids[:5])
    assert {int(k) for k in by_id} == set(ids[:5]) and all(v["LAST_NAME"] == "Updated" for v in by_id.values())
    deal_ids = quiet(client.call, "crm.deal.add", [
        {"fields": {"TITLE": f"Deal {i}", "CONTACT_IDS": [ids[i], ids[i + 1]], "OPPORTUNITY": 1000 + i}}
        for i in range(10)])
    assert len(deal_ids) == 10
    tasks = quiet(client.call, "tasks.task.add", [
        {"fields": {"TITLE": f"Task {i}", "RESPONSIBLE_ID": 1, "UF_CRM_TASK": [f"D_{deal_ids[i]}"]}}
        for i in range(3)])  # the client unwraps each {"task": {...}} answer
    assert [t["ufCrmTask"] for t in tasks] == [[f"D_{d}"] for d in deal_ids[:3]]
    assert portal.app.snapshot()["rate_limited"] == 0
