"""HubSpot's official Python client (``hubspot-api-client`` 12, unmodified) against the fake HubSpot.

The client is pointed at the fake through its documented ``host`` configuration, nothing else: if the
fake's paths, paging, bodies, status codes or error shapes drifted from HubSpot's published OpenAPI
specs (which the client is generated from), its models would fail to deserialize or its calls would
raise, as they would against the real API.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

hubspot = pytest.importorskip("hubspot")
from hubspot import HubSpot  # noqa: E402
from hubspot.crm.contacts import ApiException, PublicObjectSearchRequest, SimplePublicObjectInputForCreate  # noqa: E402
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInput, BatchInputSimplePublicObjectId  # noqa: E402

pytestmark = pytest.mark.client


@pytest.fixture(scope="module")
def server():
    from crmsync.fakes import start_fake

    srv = start_fake("hubspot", contacts=250, deals=120, tasks=60, rate_limit=False)
    yield srv
    srv.stop()


def client(server, token: str = "demo-token") -> HubSpot:
    return HubSpot(access_token=token, host=server.url)


def test_get_all_pages_through_every_object(server):
    api = client(server)
    contacts = api.crm.contacts.get_all(properties=["firstname", "email"])
    assert len(contacts) == 250 and len({c.id for c in contacts}) == 250
    deals = api.crm.deals.get_all(associations=["contacts"])
    assert len(deals) == 120 and any(d.associations for d in deals)
    tasks, after = [], None
    while True:
        page = api.crm.objects.tasks.basic_api.get_page(limit=100, after=after, properties=["hs_task_subject"])
        tasks += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert len({t.id for t in tasks}) == 60 and all(t.properties["hs_task_subject"] for t in tasks)


def test_search_incremental_window(server):
    api = client(server)
    request = PublicObjectSearchRequest(filter_groups=[{"filters": [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1760000000000"}]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}], limit=200)
    page = api.crm.contacts.search_api.do_search(public_object_search_request=request)
    assert page.total == len(page.results) > 0
    stamps = [c.updated_at for c in page.results]
    assert stamps == sorted(stamps) and all(s.timestamp() * 1000 >= 1760000000000 for s in stamps)


def test_create_conflict_update_and_archive(server):
    api = client(server)
    made = api.crm.contacts.basic_api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
        properties={"email": "client@test.example", "firstname": "Client"}))
    assert made.properties["email"] == "client@test.example"
    with pytest.raises(ApiException) as err:
        api.crm.contacts.basic_api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": "client@test.example"}))
    assert err.value.status == 409 and f"Existing ID: {made.id}" in err.value.body
    api.crm.contacts.basic_api.archive(contact_id=made.id)
    archived = api.crm.contacts.basic_api.get_page(archived=True)
    assert made.id in [c.id for c in archived.results]


def test_batch_update_and_read_of_deals(server):
    api = client(server)
    api.crm.deals.batch_api.update(batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": "5001", "properties": {"pipeline": "default", "dealstage": "closedwon"}}]))
    got = api.crm.deals.batch_api.read(batch_read_input_simple_public_object_id={
        "inputs": [{"id": "5001"}], "properties": ["dealstage"], "propertiesWithHistory": []})
    assert got.results[0].properties["dealstage"] == "closedwon"
    api.crm.deals.batch_api.archive(batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(
        inputs=[{"id": "5002"}]))


def test_metadata_apis(server):
    api = client(server)
    stages = api.crm.pipelines.pipelines_api.get_all("deals").results[0].stages
    assert {s.id: s.metadata["isClosed"] for s in stages}["closedwon"] == "true"
    names = {p.name for p in api.crm.properties.core_api.get_all("contacts").results}
    assert {"email", "source", "interests"} <= names
    assert len(api.crm.owners.owners_api.get_page(limit=100).results) == 5
    links = api.crm.associations.v4.basic_api.get_page("deals", "5003", "contacts")
    assert all(t.type_id == 3 for r in links.results for t in r.association_types)


def test_oauth_token_exchange_and_refresh(server):
    api = HubSpot(host=server.url)
    location = requests.get(f"{server.url}/oauth/authorize", allow_redirects=False, timeout=5, params={
        "client_id": "demo-client", "redirect_uri": "https://app.example/cb"}).headers["Location"]
    code = parse_qs(urlsplit(location).query)["code"][0]
    tokens = api.oauth.tokens_api.create(grant_type="authorization_code", code=code,
                                         redirect_uri="https://app.example/cb", client_id="demo-client",
                                         client_secret="demo-secret")
    assert tokens.expires_in == 1800 and tokens.refresh_token
    again = api.oauth.tokens_api.create(grant_type="refresh_token", refresh_token=tokens.refresh_token,
                                        client_id="demo-client", client_secret="demo-secret")
    assert client(server, again.access_token).crm.owners.owners_api.get_page().results
