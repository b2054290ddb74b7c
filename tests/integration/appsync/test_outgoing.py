"""WatermelonDB's push over real HTTP: per-field merge with `_changed`, same-field clashes by the pipeline's
policy (in sync.conflicts), a bad record rejected with the rest applied, a retried push that creates nothing
twice, and both directions through a fake AmoCRM."""

import json

import duckdb
import requests

from tests.integration.appsync.harness import CONFIG, changes_of
from tests.integration.serve.served import wait_for

AMO = {"Authorization": "Bearer demo-token"}


def started(app_server, fake_crm, contacts=4, **options):
    server = app_server(**options)
    amo = fake_crm("amocrm", contacts=contacts, deals=0, tasks=0, rate_limit=False)
    server.connect("acme", amo)
    server.sync("acme")
    first = server.pull("acme")
    return server, amo, first, changes_of(first)["created"]


def query(server, sql, *args):
    with duckdb.connect(str(server.tenant_dir("acme") / "crmsync.duckdb")) as con:
        return con.execute(sql, list(args)).fetchall()


def sql_edit(server, sql, *args):
    server.sql("acme", sql, *args)


def test_push_merges_per_field_with_changed(app_server, fake_crm):
    server, _, first, records = started(app_server, fake_crm)
    rec = dict(records[0])
    sql_edit(server, "UPDATE canonical.contacts SET position = 'server edit', updated_at = now() WHERE id = ?",
             rec["id"])
    edited = {**rec, "first_name": "Appname", "_status": "updated", "_changed": "first_name"}  # position: stale
    answer = server.push("acme", {"contacts": {"created": [], "updated": [edited], "deleted": []}}, first["timestamp"])
    assert answer["rejected"] == [] and answer["conflicts"] == []
    assert answer["applied"]["contacts"] == {"created": 0, "updated": 1, "deleted": 0}
    assert query(server, "SELECT first_name, position FROM canonical.contacts WHERE id = ?", rec["id"]) == \
        [("Appname", "server edit")]
    # every client of the tenant (this one too) gets the merged record in its next pull, once
    pulled = server.pull("acme", first["timestamp"])
    assert [(r["id"], r["first_name"], r["position"]) for r in changes_of(pulled)["updated"]] == \
        [(rec["id"], "Appname", "server edit")]
    assert changes_of(server.pull("acme", pulled["timestamp"]))["updated"] == []
    history = query(server, "SELECT field, new, side FROM sync.changes WHERE side = 'app' AND canonical_id = ?",
                    rec["id"])
    assert [(f, json.loads(n), s) for f, n, s in history] == [("first_name", "Appname", "app")]
    # without _changed, a field equal to the base is not an edit either
    again = {**rec, "last_name": "Newlast"}
    server.push("acme", {"contacts": {"created": [], "updated": [again], "deleted": []}}, first["timestamp"])
    assert query(server, "SELECT first_name, last_name, position FROM canonical.contacts WHERE id = ?", rec["id"]) == \
        [("Appname", "Newlast", "server edit")]


def test_same_field_clash_follows_the_policy_and_is_recorded(app_server, fake_crm):
    for policy, kept in (("crm_wins", "server edit"), ("local_wins", "app edit")):
        server, _, first, records = started(app_server, fake_crm,
                                            conflicts={"default": policy, "clock_skew_seconds": 5})
        rec = records[0]
        sql_edit(server, "UPDATE canonical.contacts SET position = 'server edit', updated_at = now() WHERE id = ?",
                 rec["id"])
        edited = {**rec, "position": "app edit", "_changed": "position"}
        body = {"contacts": {"created": [], "updated": [edited], "deleted": []}}
        answer = server.push("acme", body, first["timestamp"])
        assert [(c["field"], c["policy"]) for c in answer["conflicts"]] == [("position", policy)], policy
        assert query(server, "SELECT position FROM canonical.contacts WHERE id = ?", rec["id"]) == [(kept,)]
        rows = query(server, "SELECT connection, field, \"local\", crm, policy, status FROM sync.conflicts")
        assert rows == [("app", "position", '"app edit"', '"server edit"', policy, "resolved")], policy
        server.push("acme", body, first["timestamp"])  # the same push again: the clash is not recorded twice
        assert query(server, "SELECT count(*) FROM sync.conflicts") == [(1,)]


def test_manual_policy_waits_for_a_person(app_server, fake_crm):
    server, _, first, records = started(app_server, fake_crm, conflicts={"default": "manual"})
    rec = records[0]
    sql_edit(server, "UPDATE canonical.contacts SET position = 'server edit' WHERE id = ?", rec["id"])
    server.push("acme", {"contacts": {"created": [], "updated": [{**rec, "position": "app edit",
                                                                   "_changed": "position"}], "deleted": []}},
                first["timestamp"])
    assert query(server, "SELECT status, \"local\", crm FROM sync.conflicts") == \
        [("pending", '"app edit"', '"server edit"')]
    status = server.ok("GET", "/api/sync/status", "acme")
    assert status["conflicts"]["pending"] == 1


def test_a_bad_record_is_rejected_and_the_rest_applied(app_server, fake_crm):
    server, _, first, records = started(app_server, fake_crm)
    good = {**records[0], "position": "fine"}
    bad = {**records[1], "emails": json.dumps([{"value": "not an address", "type": "work"}])}
    worse = {**records[2], "updated_at": "yesterday"}
    answer = server.push("acme", {"contacts": {"created": [], "updated": [good, bad, worse], "deleted": []}},
                         first["timestamp"])
    rejected = {r["id"]: r for r in answer["rejected"]}
    assert set(rejected) == {bad["id"], worse["id"]}
    assert rejected[bad["id"]]["field"].startswith("emails") and "canonical schema" in rejected[bad["id"]]["reason"]
    assert rejected[worse["id"]]["field"] == "updated_at"
    assert answer["experimentalRejectedIds"] == {"contacts": sorted([bad["id"], worse["id"]],
                                                                    key=[bad["id"], worse["id"]].index)}
    assert query(server, "SELECT position FROM canonical.contacts WHERE id = ?", good["id"]) == [("fine",)]
    assert query(server, "SELECT count(*) FROM sync.changes WHERE side = 'app'") == [(1,)]


def test_a_retried_push_creates_nothing_twice(app_server, fake_crm):
    server, _, first, _ = started(app_server, fake_crm)
    new = {"id": "wmdb0000000001", "first_name": "Ann", "last_name": "Lee", "position": None, "phones": None,
           "emails": json.dumps([{"value": "ann.lee@example.com", "type": "work"}]), "custom": None,
           "created_at": 1796000000000, "updated_at": 1796000000000, "_status": "created", "_changed": ""}
    body = {"contacts": {"created": [new], "updated": [], "deleted": []}}
    one = server.push("acme", body, first["timestamp"])
    two = server.push("acme", body, first["timestamp"])
    assert one["applied"]["contacts"]["created"] == 1
    assert two["applied"]["contacts"] == {"created": 0, "updated": 0, "deleted": 0} and two["unchanged"] == 1
    assert query(server, "SELECT count(*), min(phones)::VARCHAR FROM canonical.contacts WHERE id = ?", new["id"]) == \
        [(1, "[]")]
    assert query(server, "SELECT count(*) FROM sync.changes WHERE canonical_id = ?", new["id"]) == [(1,)]
    # deleting twice is one deletion
    gone = {"contacts": {"created": [], "updated": [], "deleted": [new["id"]]}}
    assert server.push("acme", gone, first["timestamp"])["applied"]["contacts"]["deleted"] == 1
    assert server.push("acme", gone, first["timestamp"])["applied"]["contacts"]["deleted"] == 0


def test_app_edits_reach_the_crm_and_crm_edits_reach_the_app(app_server, fake_crm):
    server, amo, first, records = started(app_server, fake_crm)
    rec = records[0]
    new = {"id": "wmdb0000000002", "first_name": "Zed", "last_name": "Appmade",
           "emails": json.dumps([{"value": "zed@example.com", "type": "work"}])}
    server.push("acme", {"contacts": {"created": [new], "updated": [{**rec, "first_name": "Fromapp",
                                                                     "_changed": "first_name"}], "deleted": []}},
                first["timestamp"])
    assert server.ok("GET", "/api/sync/status", "acme")["unsent_app_edits"] == {"contact": 2}
    server.sync("acme")
    assert server.ok("GET", "/api/sync/status", "acme")["unsent_app_edits"] == {}
    listing = requests.get(amo.url + "/_fake/records?entity=contacts", timeout=10).json()["records"]
    remote = {r["id"]: r for r in listing}
    (rid,) = query(server, "SELECT remote_id FROM sync.links WHERE canonical_id = ?", rec["id"])[0]
    assert remote[int(rid)]["first_name"] == "Fromapp"
    assert any(r.get("last_name") == "Appmade" for r in remote.values())
    after_push = server.pull("acme", first["timestamp"])

    patched = requests.patch(f"{amo.url}/api/v4/contacts/{rid}", json={"last_name": "Crmside"}, headers=AMO, timeout=10)
    assert patched.status_code == 200, patched.text
    server.sync("acme")
    later = server.pull("acme", after_push["timestamp"])
    assert [(r["id"], r["last_name"], r["first_name"]) for r in changes_of(later)["updated"]] == \
        [(rec["id"], "Crmside", "Fromapp")]


def test_push_now_sends_the_edit_to_the_crm_at_once(app_server, fake_crm):
    server, amo, first, records = started(app_server, fake_crm,
                                          config=CONFIG.replace("push_now = false", "push_now = true"))
    rec = records[0]
    answer = server.push("acme", {"contacts": {"created": [], "updated": [{**rec, "first_name": "Atonce",
                                                                           "_changed": "first_name"}],
                                               "deleted": []}}, first["timestamp"])
    assert len(answer["runs"]) == 1
    runner = server.app.state.app_sync.state("acme").runner
    job = wait_for(lambda: (j := runner.get(answer["runs"][0])).done and j, 120, "the push_now run")
    assert job.status == "ok", job.error
    (rid,) = query(server, "SELECT remote_id FROM sync.links WHERE canonical_id = ?", rec["id"])[0]
    got = requests.get(f"{amo.url}/api/v4/contacts/{rid}", headers=AMO, timeout=10).json()
    assert got["first_name"] == "Atonce"
    # a push that changes nothing starts nothing
    again = server.push("acme", {"contacts": {"created": [], "updated": [{**rec, "first_name": "Atonce",
                                                                          "_changed": "first_name"}],
                                              "deleted": []}}, first["timestamp"])
    assert "runs" not in again
