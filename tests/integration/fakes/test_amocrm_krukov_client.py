"""The most used Python AmoCRM client, ``amocrm-api`` (``amocrm.v2``), unmodified, against the fake.

It only ever calls ``https://{subdomain}.amocrm.ru``. The fake runs with TLS and is given to the
client the way any HTTPS proxy would be (``HTTPS_PROXY`` plus ``REQUESTS_CA_BUNDLE`` naming the
fake's throwaway CA): the fake answers ``CONNECT demo.amocrm.ru:443`` itself and never forwards,
so the client believes it talks to a real account.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

pytestmark = pytest.mark.client

amocrm_v2 = pytest.importorskip("amocrm.v2")
from amocrm.v2 import Contact, Lead, filters, tokens  # noqa: E402
from amocrm.v2.interaction import BaseInteraction  # noqa: E402

REDIRECT = "https://app.example/callback"


@pytest.fixture
def amo(fake_crm, monkeypatch):
    server = fake_crm("amocrm", tls=True, contacts=600, deals=260, tasks=40, rate_limit=False)
    monkeypatch.setenv("HTTPS_PROXY", server.url.replace("https://", "http://"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert_path))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    # The client authorises the way a real integration does: consent URL → code → token exchange.
    r = requests.get("https://demo.amocrm.ru/oauth", params={"client_id": "demo-client", "state": "st",
                                                            "redirect_uri": REDIRECT}, allow_redirects=False)
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    tokens.default_token_manager(client_id="demo-client", client_secret="demo-secret", subdomain="demo",
                                 redirect_url=REDIRECT, storage=tokens.MemoryTokensStorage())
    tokens.default_token_manager._storage = tokens.MemoryTokensStorage()  # fresh per test (module global)
    tokens.default_token_manager.init(code=code)
    return server


def test_pages_through_everything(amo):
    contacts = list(Contact.objects.all())
    leads = list(Lead.objects.all())
    assert len(contacts) == 600 and len({c.id for c in contacts}) == 600
    assert len(leads) == 260
    # 250 per page: the third contacts page is short, the leads' second page is short.
    assert amo.stats.by_route["GET /api/v4/contacts"] == 3


def test_filters_by_modification_time(amo):
    everything = list(Contact.objects.all())
    stamps = sorted(int(c.updated_at.timestamp()) for c in everything)
    lo, hi = stamps[100], stamps[200]
    window = filters.DateRangeFilter("updated_at")(datetime.fromtimestamp(lo, timezone.utc),
                                                   datetime.fromtimestamp(hi, timezone.utc))
    got = {c.id for c in Contact.objects.filter(filters=[window])}
    expected = {c.id for c in everything if lo <= int(c.updated_at.timestamp()) <= hi}
    assert got == expected and len(got) >= 101


def test_creates_and_updates_one_and_in_bulk(amo):
    one = Contact(name="Пётр Krukov", first_name="Пётр", last_name="Krukov")
    one.save()
    one.name = "Пётр Renamed"
    one.save()
    assert Contact.objects.get(object_id=one.id).name == "Пётр Renamed"

    api = BaseInteraction()
    created = api.request("post", "contacts", data=[{"name": f"Bulk {i}"} for i in range(250)])
    ids = [row["id"] for row in created[0]["_embedded"]["contacts"]]
    assert len(set(ids)) == 250
    api.request("patch", "contacts", data=[{"id": rid, "name": f"Bulk renamed {rid}"} for rid in ids])
    renamed = [c for c in Contact.objects.filter(query="Bulk renamed")]
    assert {c.id for c in renamed} == set(ids)


def test_refreshes_an_expired_token_by_itself(amo):
    # Issue the next pair two days ago (lifetime 24 h): the client sees an expired JWT and refreshes.
    amo.app.clock.freeze(time.time() - 2 * 86400)
    r = requests.get("https://demo.amocrm.ru/oauth", params={"client_id": "demo-client", "redirect_uri": REDIRECT},
                     allow_redirects=False)
    tokens.default_token_manager.init(code=parse_qs(urlsplit(r.headers["Location"]).query)["code"][0])
    amo.app.clock.unfreeze()
    before = amo.app.oauth.refresh_count
    assert len(list(Lead.objects.all())) == 260
    assert amo.app.oauth.refresh_count == before + 1
