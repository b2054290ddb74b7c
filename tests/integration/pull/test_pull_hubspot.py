"""HubSpot, described only in connectors/hubspot.yaml and mappings/hubspot/*.yaml, pulled from its fake:
every mapped field equals what the fake serves; later runs read only changes (the search endpoint);
archived records are deleted."""

from __future__ import annotations

import json

import phonenumbers
import pytest
import requests

from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import load_canonical, load_mapping
from crmsync.project import builtin_project_dir
from crmsync.pull import pull_connection
from crmsync.specs.yamlload import load_yaml
from tests.integration.fake_sessions import store_rows as query
from tests.integration.pull.test_pull_connection import project  # noqa: F401

ENTITIES = ["contact", "deal", "task"]
OBJECTS = {"contact": "contacts", "deal": "deals", "task": "tasks"}


def hubspot_puller(project, server):  # noqa: F811
    connector = load_yaml(project.connectors_dir / "hubspot.yaml")
    session = CrmSession.from_connector(connector, Unlimited())
    session.headers["Authorization"] = "Bearer demo-token"  # the fake's private-app token
    mappings = {e: load_mapping(project.mappings_dir / "hubspot" / f"{e}.yaml") for e in ENTITIES}

    def pull(**kw):
        return pull_connection(project, pipeline="hubspot", connection="hubspot", crm="hubspot", connector=connector,
                               mappings=mappings, canonical=load_canonical(project.root), entities=ENTITIES,
                               session=session, base_url=server.url, store="crmsync.duckdb", **kw)
    return pull


def served(server, entity):
    """What the fake holds, through its own API (every property asked for by the connector)."""
    connector = load_yaml(builtin_project_dir() / "connectors" / "hubspot.yaml")
    props = connector["entities"][entity]["list"]["params"]["properties"]
    out, after = {}, None
    while True:
        body = requests.get(f"{server.url}/crm/v3/objects/{OBJECTS[entity]}", timeout=10,
                            headers={"Authorization": "Bearer demo-token"},
                            params={"limit": 100, "properties": ",".join(props), **({"after": after} if after else {}),
                                    }).json()
        out.update({r["id"]: r for r in body["results"]})
        after = ((body.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return out


def canonical(project, entity):  # noqa: F811
    table = {"contact": "contacts", "deal": "deals", "task": "tasks"}[entity]
    rows = query(project, f"SELECT l.remote_id, to_json(c) FROM canonical.{table} c JOIN sync.links l "
                          f"ON l.canonical_id = c.id WHERE l.entity = '{entity}' AND l.connection = 'hubspot'")
    return {rid: json.loads(text) for rid, text in rows}


def associated(server, frm, to, ids):
    """What the fake associates, through its own v4 batch read: record id → linked ids."""
    body = requests.post(f"{server.url}/crm/v4/associations/{frm}/{to}/batch/read", headers={
        "Authorization": "Bearer demo-token"}, json={"inputs": [{"id": i} for i in ids]}, timeout=10).json()
    return {r["from"]["id"]: [str(t["toObjectId"]) for t in r["to"]] for r in body["results"]}


def owners(server):
    body = requests.get(f"{server.url}/crm/v3/owners", headers={"Authorization": "Bearer demo-token"}, timeout=10,
                        params={"limit": 100}).json()
    return {o["id"]: o["email"] for o in body["results"]}


def e164(text):
    """The number as the phone transform writes it (default region RU, as the mapping says)."""
    number = phonenumbers.parse(text, "RU")
    if not phonenumbers.is_valid_number(number):
        return " ".join(text.split())
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def _second(text):
    return None if text is None else text[:19]


def test_hubspot_pulls_every_entity_field_by_field_then_only_changes_and_deletions(project, fake_crm):  # noqa: F811
    server = fake_crm("hubspot", contacts=60, deals=25, tasks=20, rate_limit=False)
    pull = hubspot_puller(project, server)
    first = pull()
    assert {e: (c["read"], c["new_rows"], c["rejected"]) for e, c in first.entities.items()} == {
        "contact": (60, 60, 0), "deal": (25, 25, 0), "task": (20, 20, 0)}

    emails = owners(server)
    contacts, raw = canonical(project, "contact"), served(server, "contact")
    assert set(contacts) == set(raw)
    for rid, record in raw.items():
        p, got = record["properties"], contacts[rid]
        assert (got["first_name"], got["last_name"], got["position"]) == (p["firstname"], p["lastname"], p["jobtitle"])
        assert got["owner"] == emails.get(p["hubspot_owner_id"])
        assert _second(got["created_at"].replace(" ", "T")) == record["createdAt"][:19]
        budget = (got.get("custom") or {}).get("budget")
        assert (None if budget is None else float(budget)) == (None if p["budget"] is None else float(p["budget"]))
        assert (got.get("custom") or {}).get("notes") == p["notes"]
        # one property per e-mail / phone: each becomes an entry of its type, an empty one none
        assert got["emails"] == ([{"value": p["email"].strip().lower(), "type": "work"}] if p["email"] else [])
        assert got["phones"] == [{"value": e164(p[prop]), "type": kind}
                                 for prop, kind in (("phone", "work"), ("mobilephone", "mobile")) if p[prop]]
    # the seed serves both kinds of number and addresses, so the comparisons above saw real values
    assert any(len(c["phones"]) == 2 for c in contacts.values())
    assert sum(bool(c["emails"]) for c in contacts.values()) > len(contacts) // 2
    sources = {(c.get("custom") or {}).get("source") for c in contacts.values()}
    assert sources >= {"Сайт"}  # option values ("sayt") become the labels people see

    deals, raw = canonical(project, "deal"), served(server, "deal")
    for rid, record in raw.items():
        p, got = record["properties"], deals[rid]
        assert got["title"] == p["dealname"] and got["currency"] == p["deal_currency_code"]
        assert float(got["amount"]) == float(p["amount"])
        assert got["status"] == {"closedwon": "won", "closedlost": "lost"}.get(p["dealstage"], got["status"])
    assert {d["status"] for d in deals.values()} <= {"open", "won", "lost"}
    # a deal's contacts: the canonical ids of the contacts HubSpot's v4 associations name
    contact_of = {rid: cid for rid, cid in query(project, "SELECT remote_id, canonical_id FROM sync.links WHERE "
                                                          "entity = 'contact' AND connection = 'hubspot'")}
    linked = associated(server, "deals", "contacts", list(raw))
    assert sum(map(len, linked.values())) > 0
    for rid, got in deals.items():
        assert sorted(got.get("contacts") or []) == sorted(contact_of[c] for c in linked.get(rid, []))

    tasks, raw = canonical(project, "task"), served(server, "task")
    for rid, record in raw.items():
        p, got = record["properties"], tasks[rid]
        assert got["title"] == p["hs_task_subject"] and got["completed"] == (p["hs_task_status"] == "COMPLETED")
        assert _second(got["due_at"].replace(" ", "T")) == (p["hs_timestamp"] or "")[:19] or p["hs_timestamp"] is None
    # a task's association: its contact, else its deal (both kinds read by the connector's two `links` calls)
    deal_of = {rid: cid for rid, cid in query(project, "SELECT remote_id, canonical_id FROM sync.links WHERE "
                                                       "entity = 'deal' AND connection = 'hubspot'")}
    to_contacts = associated(server, "tasks", "contacts", list(raw))
    to_deals = associated(server, "tasks", "deals", list(raw))
    assert to_contacts and to_deals  # the seed associates tasks with both kinds
    for rid, got in tasks.items():
        expected = ({"kind": "contact", "id": contact_of[to_contacts[rid][0]]} if to_contacts.get(rid) else
                    {"kind": "deal", "id": deal_of[to_deals[rid][0]]} if to_deals.get(rid) else None)
        assert got.get("related") == expected, rid

    # later runs: only what changed (the search endpoint with the lastmodifieddate filter)
    quiet = pull()
    assert all(c["applied"] == 0 for c in quiet.entities.values()), quiet.entities
    touched = requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "count": 3}, timeout=10).json()
    assert len(touched["touched"]) == 3
    second = pull()
    assert second.entities["contact"]["applied"] == 3 and second.entities["contact"]["read"] <= 6
    assert second.entities["deal"]["applied"] == 0
    # deals read again through the search endpoint keep their contacts
    before = canonical(project, "deal")
    ids = sorted(rid for rid in linked if linked[rid])[:4]
    touched = requests.post(server.url + "/_fake/touch", json={"entity": "deals", "ids": [int(i) for i in ids]},
                            timeout=10).json()
    assert sorted(t["id"] for t in touched["touched"]) == ids
    assert pull().entities["deal"]["applied"] == len(ids)
    after = canonical(project, "deal")
    assert {rid: after[rid]["contacts"] for rid in before} == {rid: before[rid].get("contacts") for rid in before}
    assert all(after[rid]["contacts"] for rid in ids)

    # archived in HubSpot: deleted here
    gone = sorted(raw)[0]
    assert requests.post(server.url + "/_fake/delete", json={"entity": "tasks", "id": int(gone)},
                         timeout=10).json()
    third = pull()
    assert third.entities["task"]["deleted"] == 1
    assert query(project, "SELECT count(*) FROM canonical.tasks t JOIN sync.links l ON l.canonical_id = t.id "
                          "WHERE l.remote_id = ? AND t.deleted_at IS NOT NULL", [gone]) == [(1,)]


@pytest.mark.parametrize("window", [7])
def test_a_search_window_is_read_again_from_the_newest_cursor(project, fake_crm, monkeypatch, window):  # noqa: F811
    """More changes than the search window holds: the read restarts from the newest change it read."""
    server = fake_crm("hubspot", contacts=30, deals=1, tasks=1, rate_limit=False)
    pull = hubspot_puller(project, server)
    pull()
    for rid in range(101, 121):  # 20 changes, a second apart
        requests.post(server.url + "/_fake/clock", json={"advance": 1}, timeout=10).raise_for_status()
        assert requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "ids": [rid]},
                             timeout=10).json()["touched"]
    connector = load_yaml(project.connectors_dir / "hubspot.yaml")
    search = connector["entities"]["contact"]["incremental"]["request"]["paginator"]
    text = (project.connectors_dir / "hubspot.yaml").read_text(encoding="utf-8")
    assert search["max_results"] == 10000 and "max_results: 10000" in text
    (project.connectors_dir / "hubspot.yaml").write_text(
        text.replace("size: 200\n    max_results: 10000", f"size: 3\n    max_results: {window - 1}"), encoding="utf-8")
    second = hubspot_puller(project, server)()
    assert second.entities["contact"]["applied"] == 20


def test_more_changes_in_one_instant_than_the_window_holds_stop_with_a_clear_error(project, fake_crm):  # noqa: F811
    server = fake_crm("hubspot", contacts=12, deals=1, tasks=1, rate_limit=False)
    hubspot_puller(project, server)()
    now = requests.post(server.url + "/_fake/clock", json={"advance": 1}, timeout=10).json()["now"]
    requests.post(server.url + "/_fake/clock", json={"freeze": now}, timeout=10).raise_for_status()  # one instant
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "count": 10}, timeout=10).raise_for_status()
    path = project.connectors_dir / "hubspot.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("size: 200\n    max_results: 10000",
                                                             "size: 3\n    max_results: 6"), encoding="utf-8")
    with pytest.raises(Exception, match=r"connector hubspot, entity contact: a whole result window of records "
                                        r"changed at .*; the CRM cannot page past it"):
        hubspot_puller(project, server)()
