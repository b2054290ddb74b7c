"""Bitrix24's official Python SDK, ``b24pysdk``, unmodified, against the fake.

The SDK only builds ``https://{domain}/rest/...`` URLs, so the fake runs with TLS and the SDK's
``requests`` is told to trust the fake's throwaway CA through ``REQUESTS_CA_BUNDLE``; the portal
domain is the fake's ``127.0.0.1:PORT``. Rate limits stay on, as on a real portal.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.client

b24pysdk = pytest.importorskip("b24pysdk", reason="b24pysdk is installed on Python >= 3.11 only (it fails to "
                                                   "import on 3.10: 'multiple bases have instance lay-out conflict')")
from b24pysdk import BitrixWebhook  # noqa: E402


@pytest.fixture
def portal(fake_crm, monkeypatch):
    server = fake_crm("bitrix24", tls=True, contacts=260, deals=120, tasks=60)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
    token = BitrixWebhook(domain=server.url.split("://", 1)[1], webhook_token="1/demo")
    return server, token


def test_lists_everything_with_batched_and_fast_paging(portal):
    server, token = portal
    rows = token.call_list("crm.contact.list", {"select": ["ID", "NAME", "PHONE"], "order": {"ID": "ASC"}})["result"]
    assert len(rows) == 260 and len({r["ID"] for r in rows}) == 260
    fast = list(token.call_list_fast("crm.deal.list", {"select": ["ID", "TITLE"]})["result"])
    assert len({r["ID"] for r in fast}) == 120
    tasks = token.call_list("tasks.task.list", {"select": ["ID", "TITLE", "CHANGED_DATE"]})["result"]
    assert len(tasks) == 60
    assert server.stats.by_status.get(503, 0) == 0  # the SDK paged within the leaky bucket


def test_filters_by_modification_time(portal):
    _, token = portal
    every = token.call_list("crm.contact.list", {"select": ["ID", "DATE_MODIFY"]})["result"]
    mark = sorted(r["DATE_MODIFY"] for r in every)[200]
    got = token.call_list("crm.contact.list", {"select": ["ID"], "filter": {">=DATE_MODIFY": mark}})["result"]
    assert {r["ID"] for r in got} == {r["ID"] for r in every if r["DATE_MODIFY"] >= mark}


def test_creates_and_updates_in_bulk_with_batch(portal):
    _, token = portal
    adds = {f"a{i}": ("crm.contact.add", {"fields": {"NAME": f"SDK {i}", "PHONE": [
        {"VALUE": f"+7 900 000 {i:04d}", "VALUE_TYPE": "WORK"}]}}) for i in range(50)}
    created = token.call_batch(adds)["result"]["result"]
    ids = [created[f"a{i}"] for i in range(50)]
    assert all(isinstance(i, int) for i in ids)
    updates = [("crm.contact.update", {"id": i, "fields": {"LAST_NAME": "Batched"}}) for i in ids]
    assert all(v is True for v in token.call_batch(updates)["result"]["result"])
    got = token.call_method("crm.contact.get", {"id": ids[7]})["result"]
    assert got["NAME"] == "SDK 7" and got["LAST_NAME"] == "Batched" and got["PHONE"][0]["VALUE"] == "+7 900 000 0007"
