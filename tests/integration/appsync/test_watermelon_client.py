"""The WatermelonDB reference client (examples/watermelon-client) against the app sync API.

Real Node and the real ``@nozbe/watermelondb`` (LokiJS adapter, in memory) with WatermelonDB's own
``synchronize()``; ``crmsync serve``'s app on 127.0.0.1 with JWTs minted with PyJWT; each tenant's
CRM is a fake AmoCRM reached by the tenant's own ``crmsync sync``. Between two syncs a client is
offline: its edits stay local until it syncs.
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.integration.appsync.watermelon_world import AppWorld, mint

AMO_AUTH = {"Authorization": "Bearer demo-token"}
# Who wins a field changed on both sides: the CRM for first names, the app (the local side) for the rest.
POLICY = {"default": "local_wins", "fields": {"contact.first_name": "crm_wins"}}
COLUMNS = ("name", "first_name", "last_name", "phones", "emails", "position")


@pytest.fixture
def world(tmp_path, app_server):
    world = AppWorld(app_server(conflicts=POLICY, entities=["contact"]), tmp_path)
    yield world
    world.close()


def amo_edit(amo, remote_id: str, **fields) -> None:
    r = requests.patch(amo.url + "/api/v4/contacts", headers=AMO_AUTH, timeout=10,
                       json=[{"id": int(remote_id), **fields}])
    assert r.status_code == 200, r.text


def amo_row(amo, remote_id: str) -> dict:
    return amo.app.table("contacts").rows[int(remote_id)]


def app_view(records: dict[str, dict]) -> dict[str, tuple]:
    """What a client holds of each record, in comparable form (JSON columns parsed)."""
    out = {}
    for rid, r in records.items():
        out[rid] = tuple((json.loads(r[c]) if c in ("phones", "emails") and r[c] else r[c]) or None for c in COLUMNS)
    return out


def identities(records: dict[str, dict]) -> set[str]:
    """The names and e-mail addresses in a client's records."""
    out = {r["name"] for r in records.values() if r["name"]}
    return out | {e["value"] for r in records.values() for e in json.loads(r["emails"] or "[]")}


def store_view(world: AppWorld, tenant: str) -> dict[str, tuple]:
    rows = world.canonical(tenant, "contacts")
    return {rid: tuple(row[c] or None for c in COLUMNS) for rid, row in rows.items() if row["deleted_at"] is None}


def connected(world: AppWorld, fake_crm, tenant: str, seed: int) -> object:
    amo = fake_crm("amocrm", contacts=5, deals=0, tasks=0, rate_limit=False, seed=seed)
    world.connect(tenant, amo)
    world.crm_sync(tenant, "amocrm")
    return amo


@pytest.mark.timeout(300)
def test_offline_creates_edits_and_deletes_reach_the_store_and_the_crm_and_crm_edits_reach_the_client(
        world, fake_crm):
    amo = connected(world, fake_crm, "alice", seed=11)
    app = world.client("alice")
    first = app.sync()
    assert first["pulled"] == 5
    links = world.links("alice", "contact", "amocrm")
    local = app.records("contacts")
    assert set(local) == set(links)
    for rid, remote in links.items():  # the CRM's people, as the CRM has them
        assert local[rid]["last_name"] == amo_row(amo, remote)["last_name"]
        assert local[rid]["_status"] == "synced"

    # offline: create, edit, delete; nothing leaves the phone
    kept, edited, gone = sorted(links)[:3]
    new = app.create("contacts", name="Wanda Melon", first_name="Wanda", last_name="Melon",
                     phones=[{"value": "+79161234567", "type": "mobile"}])
    app.update("contacts", edited, last_name="Edited-on-phone", position="Field agent")
    app.delete("contacts", gone)
    assert app.do("unsynced")["unsynced"] is True
    store = world.canonical("alice", "contacts")
    assert new not in store and store[edited]["last_name"] != "Edited-on-phone"
    assert store[gone]["deleted_at"] is None

    pushed = app.sync()
    assert pushed["pushed"] == 3 and pushed["rejected"] == []
    assert app.do("unsynced")["unsynced"] is False
    store = world.canonical("alice", "contacts")
    assert store[new]["last_name"] == "Melon"  # the client's id is the canonical id
    assert [p["value"] for p in store[new]["phones"]] == ["+79161234567"]
    assert store[edited]["last_name"] == "Edited-on-phone" and store[edited]["position"] == "Field agent"
    assert store[gone]["deleted_at"] is not None
    assert world.sql("alice", "SELECT count(*) FROM sync.changes WHERE side = 'app'")[0][0] >= 3

    world.crm_sync("alice", "amocrm")  # the tenant's next sync takes them to the CRM
    links = world.links("alice", "contact", "amocrm")
    assert new in links, "the contact created on the phone was not created in the CRM"
    created = amo_row(amo, links[new])
    assert (created["first_name"], created["last_name"]) == ("Wanda", "Melon")
    assert [v["value"] for f in created["custom_fields_values"] if f["field_code"] == "PHONE"
            for v in f["values"]] == ["+79161234567"]
    assert amo_row(amo, links[edited])["last_name"] == "Edited-on-phone"
    assert sum(1 for r in amo.app.table("contacts").rows.values() if r["last_name"] == "Melon") == 1
    # deletes: soft — the CRM keeps its record, the store marks it, and it never comes back to the phone

    amo_edit(amo, links[kept], first_name="Renamed-in-CRM")  # a CRM-side edit reaches the phone
    world.crm_sync("alice", "amocrm")
    back = app.sync()
    assert back["pushed"] == 0
    local = app.records("contacts")
    assert local[kept]["first_name"] == "Renamed-in-CRM" and local[kept]["_status"] == "synced"
    assert gone not in local
    assert app_view(local) == store_view(world, "alice")

    again = app.sync()  # nothing left to move either way
    assert again["pulled"] == 0 and again["pushed"] == 0


@pytest.mark.timeout(300)
def test_a_field_edited_on_the_phone_and_in_the_crm_follows_the_pipelines_conflict_policy(world, fake_crm):
    amo = connected(world, fake_crm, "alice", seed=12)
    app = world.client("alice")
    app.sync()
    rid = sorted(world.links("alice", "contact", "amocrm"))[0]
    remote = world.links("alice", "contact", "amocrm")[rid]

    app.update("contacts", rid, first_name="Phone-First", last_name="Phone-Last")
    app.sync()  # the phone's edit is in the store, not yet in the CRM
    amo_edit(amo, remote, first_name="Crm-First", last_name="Crm-Last")  # meanwhile, in the CRM
    world.crm_sync("alice", "amocrm")

    row = world.canonical("alice", "contacts")[rid]
    assert (row["first_name"], row["last_name"]) == ("Crm-First", "Phone-Last")  # crm_wins / local_wins
    crm = amo_row(amo, remote)
    assert (crm["first_name"], crm["last_name"]) == ("Crm-First", "Phone-Last")
    clashes = dict(world.sql("alice", "SELECT field, policy FROM sync.conflicts WHERE canonical_id = ?", [rid]))
    assert clashes == {"first_name": "crm_wins", "last_name": "local_wins"}

    app.sync()
    local = app.records("contacts")[rid]
    assert (local["first_name"], local["last_name"]) == ("Crm-First", "Phone-Last")
    assert local["_status"] == "synced"


@pytest.mark.timeout(300)
def test_a_push_racing_a_crm_change_merges_per_field_and_settles_the_clash_by_the_policy(world, fake_crm):
    amo = connected(world, fake_crm, "alice", seed=18)
    app = world.client("alice")
    app.sync()
    links = world.links("alice", "contact", "amocrm")
    rid = sorted(links)[0]
    app.update("contacts", rid, first_name="Phone-First", position="Phone-Position")

    def crm_changes_meanwhile() -> None:  # after the phone's pull, before its push
        amo_edit(amo, links[rid], first_name="Crm-First", last_name="Crm-Last")
        world.crm_sync("alice", "amocrm")

    answer = app.sync_held(crm_changes_meanwhile)
    # WatermelonDB pushes the whole record; `_changed` says the phone moved first_name and position only
    settled = [(c["id"], c["field"], c["policy"]) for c in answer["settled_by_server"]]
    assert settled == [(rid, "first_name", "crm_wins")]
    row = world.canonical("alice", "contacts")[rid]
    assert (row["first_name"], row["last_name"], row["position"]) == ("Crm-First", "Crm-Last", "Phone-Position")
    clashes = world.sql("alice", "SELECT field, policy, connection FROM sync.conflicts WHERE canonical_id = ?", [rid])
    assert clashes == [("first_name", "crm_wins", "app")]

    app.sync()
    local = app.records("contacts")[rid]
    assert (local["first_name"], local["last_name"], local["position"]) == ("Crm-First", "Crm-Last", "Phone-Position")
    world.crm_sync("alice", "amocrm")
    crm = amo_row(amo, links[rid])
    assert [v["value"] for f in crm["custom_fields_values"] if f["field_code"] == "POSITION"
            for v in f["values"]] == ["Phone-Position"]
    assert (crm["first_name"], crm["last_name"]) == ("Crm-First", "Crm-Last")


@pytest.mark.timeout(300)
def test_two_phones_of_a_tenant_converge_and_another_tenant_sees_none_of_it(world, fake_crm):
    alice_amo = connected(world, fake_crm, "alice", seed=13)
    bob_amo = connected(world, fake_crm, "bob", seed=14)
    one, two, bobs = world.client("alice", "alice-1"), world.client("alice", "alice-2"), world.client("bob", "bob")
    for client in (one, two, bobs):
        client.sync()
    alice_ids, bob_ids = set(one.records("contacts")), set(bobs.records("contacts"))
    assert len(alice_ids) == len(bob_ids) == 5 and not alice_ids & bob_ids

    # both of alice's phones edit offline, one of them the same record as the other
    a, b, c = sorted(alice_ids)[:3]
    made_on_one = one.create("contacts", name="Uno Phone", first_name="Uno", last_name="Phone")
    one.update("contacts", a, position="Edited on one")
    two.update("contacts", b, last_name="Edited-on-two")
    two.update("contacts", a, first_name="Two-was-here")  # another field of the same record: both merge
    two.delete("contacts", c)
    # bob, who can guess alice's ids, writes to "them": his own store gets a record of that id, hers nothing
    bobs.update("contacts", sorted(bob_ids)[0], last_name="Bob-edit")
    guessed = world.app("POST", "/api/sync/outgoing", "bob", json={"changes": {"contacts": {
        "created": [], "updated": [{"id": a, "last_name": "Bob-was-here", "_changed": "last_name"}],
        "deleted": [b]}}})
    assert guessed.status_code == 200, guessed.text

    for client in (one, two, bobs, one, two):  # each syncs; the first one again to pick up the other's edits
        client.sync()
    assert app_view(one.records("contacts")) == app_view(two.records("contacts")) == store_view(world, "alice")
    mine = one.records("contacts")
    assert mine[a]["position"] == "Edited on one" and mine[a]["first_name"] == "Two-was-here"
    assert mine[b]["last_name"] == "Edited-on-two" and c not in mine and made_on_one in mine
    assert mine[a]["last_name"] != "Bob-was-here"

    world.crm_sync("alice", "amocrm")
    world.crm_sync("bob", "amocrm")
    theirs = bobs.records("contacts")
    assert set(theirs) & set(mine) == {a}, "bob's phone holds one of alice's records"
    assert theirs[a]["last_name"] == "Bob-was-here" and theirs[a]["name"] is None  # his own record of that id
    seen = {"alice": identities(mine), "bob": identities(theirs)}
    assert seen["alice"] and seen["bob"] and not seen["alice"] & seen["bob"]
    alice_names = {r["last_name"] for r in alice_amo.app.table("contacts").rows.values()}
    bob_names = {r["last_name"] for r in bob_amo.app.table("contacts").rows.values()}
    assert "Bob-edit" in bob_names and "Bob-edit" not in alice_names and "Bob-was-here" not in alice_names
    assert "Phone" in alice_names and "Phone" not in bob_names
    # nothing of alice's in bob's answers: status, connections, a full pull (bob's own record `a` aside)
    for path in ("/api/sync/status", "/api/sync/connection", "/api/sync/initial"):
        text = world.app("GET", path, "bob").text
        assert not any(rid in text for rid in (alice_ids | {made_on_one}) - {a}), path
        assert not any(value in text for value in seen["alice"]), path
        assert alice_amo.url not in text, path


@pytest.mark.timeout(300)
def test_an_expired_or_foreign_token_reads_and_writes_nothing(world, fake_crm):
    connected(world, fake_crm, "alice", seed=15)
    app = world.client("alice")
    app.sync()
    rid = sorted(app.records("contacts"))[0]
    before = store_view(world, "alice")
    app.update("contacts", rid, last_name="Never-sent")

    for token in (mint("alice", ttl=-3600),                                  # expired an hour ago
                  mint("alice", aud="someone-else"),                        # for another service
                  mint("alice") + "x"):                                      # signature broken
        app.do("token", token=token)
        answer = app.send("sync")
        assert not answer["ok"] and answer["status"] == 401, answer
    assert store_view(world, "alice") == before
    assert app.records("contacts")[rid]["_status"] == "updated"  # still waiting on the phone

    app.do("token", token=mint("alice"))
    app.sync()
    assert store_view(world, "alice")[rid][COLUMNS.index("last_name")] == "Never-sent"


@pytest.mark.timeout(300)
def test_a_push_whose_answer_is_lost_is_retried_by_the_next_sync_and_creates_nothing_twice(world, fake_crm):
    amo = connected(world, fake_crm, "alice", seed=16)
    app = world.client("alice")
    app.sync()
    rid = sorted(app.records("contacts"))[0]
    new = app.create("contacts", name="Once Only", first_name="Once", last_name="Only")
    app.update("contacts", rid, position="Edited once")

    app.do("fault", kind="lose_push_answer")  # the server applies the push; the phone never hears back
    lost = app.send("sync")
    assert not lost["ok"] and "lose_push_answer" in lost["error"]
    assert app.records("contacts")[new]["_status"] == "created"  # so WatermelonDB sends it again
    assert world.canonical("alice", "contacts")[new]["last_name"] == "Only"

    app.sync()
    app.sync()
    assert {r["_status"] for r in app.records("contacts").values()} == {"synced"}
    history = world.sql("alice", "SELECT canonical_id, field, count(*) FROM sync.changes WHERE side = 'app' "
                                 "GROUP BY ALL ORDER BY ALL")
    assert history == sorted([(new, "*", 1), (rid, "position", 1)])
    world.crm_sync("alice", "amocrm")
    world.crm_sync("alice", "amocrm")
    assert sum(1 for r in amo.app.table("contacts").rows.values() if r["last_name"] == "Only") == 1
    assert app_view(app.records("contacts")) == store_view(world, "alice")


@pytest.mark.timeout(300)
def test_a_record_the_canonical_schema_refuses_stays_on_the_phone_with_its_reason_and_the_rest_goes(world):
    app = world.client("carol")
    app.sync()
    good = app.create("contacts", name="Good Record", last_name="Good")
    bad = app.create("contacts", name="Bad Record", last_name="Bad",
                     phones=[{"value": "+79161234567", "type": "pager"}])

    answer = app.sync()
    assert [(r["id"], r["field"][:6]) for r in answer["rejected"]] == [(bad, "phones")]
    assert "pager" in answer["rejected"][0]["reason"], answer["rejected"]
    local = app.records("contacts")
    assert local[good]["_status"] == "synced" and local[bad]["_status"] == "created"  # kept to fix and resend
    store = world.canonical("carol", "contacts")
    assert good in store and bad not in store

    app.update("contacts", bad, phones=[{"value": "+79161234567", "type": "mobile"}])
    fixed = app.sync()
    assert fixed["rejected"] == [] and world.canonical("carol", "contacts")[bad]["last_name"] == "Bad"
    assert app.records("contacts")[bad]["_status"] == "synced"


@pytest.fixture
def full_world(tmp_path, app_server):
    world = AppWorld(app_server(conflicts=POLICY, entities=["contact", "deal", "task"]), tmp_path)
    yield world
    world.close()


@pytest.mark.timeout(300)
def test_a_deal_and_a_task_made_on_the_phone_reach_the_crm_linked_to_their_contact(full_world, fake_crm):
    world = full_world
    amo = fake_crm("amocrm", contacts=3, deals=2, tasks=2, rate_limit=False, seed=17)
    world.connect("dana", amo)
    world.crm_sync("dana", "amocrm")
    app = world.client("dana")
    app.sync()
    assert len(app.records("deals")) == 2 and len(app.records("tasks")) == 2

    person = app.create("contacts", name="Deal Maker", first_name="Deal", last_name="Maker")
    due = 1_900_000_000_000  # milliseconds, as WatermelonDB keeps dates
    deal = app.create("deals", title="Melon supply", amount="12500", currency="RUB", contacts=[person])
    task = app.create("tasks", title="Call about melons", due_at=due, completed=False,
                      related={"kind": "deal", "id": deal})
    assert app.sync()["rejected"] == []
    store = world.canonical("dana", "deals")[deal]
    assert (store["title"], store["amount"], store["contacts"]) == ("Melon supply", 12500, [person])
    assert world.canonical("dana", "tasks")[task]["related"] == {"kind": "deal", "id": deal}

    world.crm_sync("dana", "amocrm")
    contact_id = int(world.links("dana", "contact", "amocrm")[person])
    lead = amo.app.table("leads").rows[int(world.links("dana", "deal", "amocrm")[deal])]
    assert (lead["name"], lead["price"]) == ("Melon supply", 12500)
    assert [c["id"] for c in lead["_embedded"]["contacts"]] == [contact_id]
    crm_task = amo.app.table("tasks").rows[int(world.links("dana", "task", "amocrm")[task])]
    assert (crm_task["text"], crm_task["entity_type"], crm_task["entity_id"]) == ("Call about melons", "leads",
                                                                                  lead["id"])
    assert crm_task["complete_till"] == due // 1000

    r = requests.patch(amo.url + "/api/v4/leads", headers=AMO_AUTH, timeout=10,
                       json=[{"id": lead["id"], "price": 13000}])
    assert r.status_code == 200, r.text
    world.crm_sync("dana", "amocrm")
    app.sync()
    assert app.records("deals")[deal]["amount"] == "13000"  # decimal text: no digit left to a JS double
