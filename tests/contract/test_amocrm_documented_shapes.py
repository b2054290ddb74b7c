"""The fake AmoCRM answers each kind of call with the documented shape (keys, types, nesting)."""

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.contract.shapes import assert_same_shape

DOCS = Path(__file__).parent / "amocrm_documented"
AUTH = {"Authorization": "Bearer demo-token"}


def doc(name: str):
    return json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def amo(fake_crm):
    return fake_crm("amocrm", contacts=80, deals=60, tasks=60, rate_limit=False)


def listing(amo, entity, **params):
    r = requests.get(f"{amo.url}/api/v4/{entity}", params={"limit": 250, **params}, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/hal+json")
    return r.json()["_embedded"][entity]


def test_contact(amo):
    rows = listing(amo, "contacts", **{"with": "leads"})
    with_phone = next(c for c in rows if any(f["field_code"] == "PHONE" for f in c["custom_fields_values"] or []))
    one = requests.get(f"{amo.url}/api/v4/contacts/{with_phone['id']}", headers=AUTH, timeout=10).json()
    multitext_only = dict(doc("contact"), custom_fields_values=None)
    example_field = doc("contact")["custom_fields_values"][0]
    for row in [one, *rows]:
        assert_same_shape(multitext_only, row)
        # The documented example is a multitext (PHONE) field; other types carry plain values.
        for cf in row["custom_fields_values"] or []:
            if cf["field_type"] == "multitext":
                assert_same_shape(example_field, cf)
            else:
                assert set(cf) == set(example_field)
                assert all("value" in v or "enum_id" in v for v in cf["values"])


def test_lead_with_contacts(amo):
    for row in listing(amo, "leads", **{"with": "contacts"}):
        assert_same_shape(doc("lead"), row)
    assert any(row["_embedded"]["contacts"] for row in listing(amo, "leads", **{"with": "contacts"}))


def test_task(amo):
    rows = listing(amo, "tasks")
    done = [t for t in rows if t["result"]]
    assert done, "seeded data should hold completed tasks with a result"
    for row in done:
        assert_same_shape(doc("task"), row, nullable=("$.entity_id", "$.entity_type"))
    open_task = next(t for t in rows if not t["result"])
    assert open_task["result"] == []  # UNCONFIRMED in the docs; the fake uses PHP's empty array


def test_list_page_and_next_link(amo):
    r = requests.get(f"{amo.url}/api/v4/leads", params={"limit": 2}, headers=AUTH, timeout=10)
    assert_same_shape(doc("list_page"), r.json())
    nxt = r.json()["_links"]["next"]["href"]
    assert parse_qs(urlsplit(nxt).query)["page"] == ["2"]


def test_empty_result_is_204_without_body(amo):
    r = requests.get(f"{amo.url}/api/v4/contacts", params={"filter[id]": 1}, headers=AUTH, timeout=10)
    assert r.status_code == 204 and r.content == b""
    assert "json" not in r.headers.get("Content-Type", "")


def test_create_response_and_validation_error(amo):
    r = requests.post(f"{amo.url}/api/v4/contacts", json=[{"name": "Shape Check"}], headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    assert_same_shape(doc("create_contacts_response"), r.json())
    bad = [{"name": "x", "custom_fields_values": [{"field_id": 1, "values": [{"value": "y"}]}]}]
    r = requests.post(f"{amo.url}/api/v4/contacts", json=bad, headers=AUTH, timeout=10)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert_same_shape(doc("validation_error"), r.json())
    assert r.json()["validation-errors"][0]["errors"][0]["path"] == "custom_fields_values.0.field_id"


def test_error_bodies(amo, fake_crm):
    r = requests.get(f"{amo.url}/api/v4/contacts", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert r.status_code == 401
    assert_same_shape(doc("error_401"), r.json())
    r = requests.post(f"{amo.url}/api/v4/contacts", json=[{"name": "n"}] * 251, headers=AUTH, timeout=10)
    assert r.status_code == 422 and r.json() == doc("error_422_limit")
    amo.faults.add(429, count=1)
    r = requests.get(f"{amo.url}/api/v4/contacts", headers=AUTH, timeout=10)
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert_same_shape(doc("error_429"), r.json())


def test_custom_fields_metadata(amo):
    r = requests.get(f"{amo.url}/api/v4/contacts/custom_fields", headers=AUTH, timeout=10)
    assert_same_shape(doc("custom_fields"), r.json(), nullable=("$._embedded.custom_fields[].code",
                                                                 "$._embedded.custom_fields[].enums"))
    codes = {f["code"] for f in r.json()["_embedded"]["custom_fields"]}
    assert {"PHONE", "EMAIL"} <= codes


def test_oauth_token_and_error(amo):
    s = requests.Session()
    r = s.get(f"{amo.url}/oauth", params={"client_id": "demo-client", "state": "s1", "mode": "post_message",
                                         "redirect_uri": "http://127.0.0.1:9/cb"}, allow_redirects=False)
    assert r.status_code == 302
    q = parse_qs(urlsplit(r.headers["Location"]).query)
    assert q["state"] == ["s1"] and q["client_id"] == ["demo-client"] and "referer" in q
    body = {"client_id": "demo-client", "client_secret": "demo-secret", "grant_type": "authorization_code",
            "code": q["code"][0], "redirect_uri": "http://127.0.0.1:9/cb"}
    r = s.post(f"{amo.url}/oauth2/access_token", json=body)
    assert_same_shape(doc("oauth_token"), r.json())
    r = s.post(f"{amo.url}/oauth2/access_token", json=body)  # the code is single-use
    assert r.status_code == 400
    assert_same_shape(doc("oauth_error"), r.json())


def test_deleted_event(amo):
    contact = listing(amo, "contacts")[0]
    assert requests.post(f"{amo.url}/_fake/delete", json={"entity": "contacts", "id": contact["id"]}).ok
    r = requests.get(f"{amo.url}/api/v4/events", params={"filter[type]": "contact_deleted"}, headers=AUTH)
    events = r.json()["_embedded"]["events"]
    assert [e["entity_id"] for e in events] == [contact["id"]]
    assert_same_shape(doc("event"), events[0])
