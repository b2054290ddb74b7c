"""An unmodified third-party client (``amocrm-api-wrapper`` 1.0.1) against the fake AmoCRM.

If the fake's protocol drifted from the real API's (paging, 204s, filter syntax, write bodies,
token refresh), this client would break the same way it would against a real account.

The client has one bug of its own: every GET passes ``json=None`` to ``httpx.Client.get``, which
has no such parameter (httpx 0.28), so its reads raise TypeError against any server. Writes
(POST/PATCH) work as shipped. For reads, a subclass swaps in an httpx client whose ``get`` drops
that argument; the client's own code (URL and filter building, paging, 204 handling, token refresh)
runs unchanged, and the shim is skipped as soon as the shipped client can read by itself. The
unmodified reads of AmoCRM are covered by ``test_amocrm_krukov_client.py``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import requests
from amocrm_api import AmoOAuthClient

pytestmark = pytest.mark.client


class _Httpx(httpx.Client):
    def get(self, url: Any, *, json: Any = None, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        assert json is None
        return super().get(url, **kwargs)


class ShimmedClient(AmoOAuthClient):
    """The shipped client with only its HTTP session's ``get`` made callable (see module docstring)."""

    def _init_session(self, params: dict | None = None) -> httpx.Client:
        session = _Httpx(timeout=self.timeout)
        session.headers.update(self._auth_headers())
        if params:
            session.headers.update(params)
        return session


def _reads_work_unmodified(server) -> bool:
    try:
        make_client(server, cls=AmoOAuthClient).get_account_info()
    except TypeError:
        return False
    return True


def make_client(server, access_token="demo-token", refresh_token="", cls=None):
    if cls is None:
        cls = AmoOAuthClient if _reads_work_unmodified(server) else ShimmedClient
    client = cls(access_token=access_token, refresh_token=refresh_token, crm_url=server.url,
                 client_id="demo-client", client_secret="demo-secret",
                 redirect_uri="https://app.example/callback")
    client.retry_sleep_base = client.retry_sleep_429 = 0.01  # class defaults wait seconds between retries
    return client


@pytest.fixture(scope="module")
def server():
    from crmsync.fakes import start_fake

    srv = start_fake("amocrm", contacts=1200, deals=300, tasks=120, rate_limit=False)
    yield srv
    srv.stop()


def test_iterates_all_contacts_leads_and_tasks(server):
    client = make_client(server)
    contacts = list(client.iter_contacts())
    assert len(contacts) == 1200 and len({c["id"] for c in contacts}) == 1200
    leads = list(client.iter_leads(with_params=["contacts"]))
    assert len(leads) == 300 and all("contacts" in lead["_embedded"] for lead in leads)
    assert len(list(client.iter_tasks())) == 120


def test_filters_by_updated_at(server):
    client = make_client(server)
    every = list(client.iter_contacts())
    mark = sorted(c["updated_at"] for c in every)[900]
    got = list(client.iter_contacts(filters={"updated_at__from": mark}, order={"updated_at": "asc"}))
    assert {c["id"] for c in got} == {c["id"] for c in every if c["updated_at"] >= mark}
    assert [c["updated_at"] for c in got] == sorted(c["updated_at"] for c in got)
    window = client.get_contacts(filters={"updated_at__from": mark, "updated_at__to": mark})
    assert all(c["updated_at"] == mark for c in window["_embedded"]["contacts"])


def test_creates_and_updates_in_bulk(server):
    client = make_client(server)
    created = client.create_contacts([{"name": f"Client {i}", "custom_fields_values": [
        {"field_code": "PHONE", "values": [{"value": f"+7900000{i:04d}", "enum_code": "MOB"}]}]} for i in range(50)])
    ids = [c["id"] for c in created["_embedded"]["contacts"]]
    assert len(ids) == 50
    client.update_contacts([{"id": i, "name": f"Updated {i}"} for i in ids])
    assert client.get_contact(ids[0])["name"] == f"Updated {ids[0]}"
    leads = client.create_leads([{"name": "From client", "price": 5000, "_embedded": {"contacts": [{"id": ids[0]}]}}])
    lid = leads["_embedded"]["leads"][0]["id"]
    client.update_leads([{"id": lid, "price": 7000}])
    assert client.get_lead(lid, with_params=["contacts"])["price"] == 7000
    tasks = client.add_tasks([{"text": "Call", "complete_till": 1767225600, "entity_id": lid,
                               "entity_type": "leads"}])
    tid = tasks["_embedded"]["tasks"][0]["id"]
    client.execution_task(tid, True, "Done")
    assert client.get_task(tid)["result"] == {"text": "Done"}
    assert client.get_leads_links(lid)["_embedded"]["links"][0]["to_entity_id"] == ids[0]


def test_bad_write_surfaces_the_validation_body(server):
    from amocrm_api.errors import AmoException

    client = make_client(server)
    with pytest.raises(AmoException) as exc:
        client.create_leads([{"name": "x", "status_id": 1}])
    assert exc.value.code == 400 and exc.value.error_data["validation-errors"][0]["errors"][0]["path"] == "status_id"


def test_metadata_and_events(server):
    client = make_client(server)
    assert client.get_account_info(with_is_api_filter_enabled=True)["is_api_filter_enabled"] is True
    assert len(client.get_pipelines()["_embedded"]["pipelines"]) == 2
    assert client.get_events(limit=10, filter_by_type=["contact_added"])["_embedded"]["events"][0]["type"] == \
        "contact_added"


def test_unshimmed_client_creates_and_updates_in_bulk(server):
    client = make_client(server, cls=AmoOAuthClient)
    created = client.create_leads([{"name": f"Raw {i}", "price": i} for i in range(250)])
    ids = [x["id"] for x in created["_embedded"]["leads"]]
    assert len(ids) == 250
    updated = client.update_leads([{"id": i, "price": 1} for i in ids])
    assert {x["id"] for x in updated["_embedded"]["leads"]} == set(ids)
    contacts = client.create_contacts([{"name": "Raw contact"}])["_embedded"]["contacts"]
    client.update_contacts([{"id": contacts[0]["id"], "first_name": "Raw"}])
    tid = client.add_tasks([{"text": "t", "complete_till": 1767225600}])["_embedded"]["tasks"][0]["id"]
    assert client.execution_task(tid, True, "ok")["id"] == tid
    assert requests.get(f"{server.url}/api/v4/leads/{ids[0]}", headers={"Authorization": "Bearer demo-token"},
                        timeout=5).json()["price"] == 1


def test_refreshes_an_expired_token_by_itself(fake_amocrm):
    loc = requests.get(fake_amocrm.url + "/oauth", params={"client_id": "demo-client",
                                                          "redirect_uri": "https://app.example/callback"},
                       allow_redirects=False, timeout=5).headers["Location"]
    code = parse_qs(urlsplit(loc).query)["code"][0]
    pair = requests.post(fake_amocrm.url + "/oauth2/access_token", timeout=5, json={
        "client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "authorization_code",
        "code": code, "redirect_uri": "https://app.example/callback"}).json()
    client = make_client(fake_amocrm, pair["access_token"], pair["refresh_token"])
    fake_amocrm.app.clock.advance(86401)
    assert client.get_account_info()["id"] == 30957638  # 401 → refresh → retry, inside the client
    assert client.refresh_token != pair["refresh_token"]
