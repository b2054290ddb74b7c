"""Deals and tasks travel in the app schema's encodings both ways (exact decimal text, milliseconds, JSON
text), a value the canonical schema refuses is rejected naming its field, and schema versions and
WatermelonDB's migration syncs are answered."""

import json

from tests.integration.appsync.harness import changes_of


def test_deals_and_tasks_round_trip_in_their_encodings(app_server):
    server = app_server(entities=["contact", "deal", "task"])
    first = server.pull("acme")
    deal = {"id": "deal0000000001", "title": "Big", "amount": "12500.50", "currency": "EUR", "status": "open",
            "contacts": json.dumps([]), "custom": json.dumps({"source": "app"}), "closed_at": None,
            "updated_at": 1796533201999}
    task = {"id": "task0000000001", "title": "Call", "completed": False, "due_at": 1796600000000,
            "related": json.dumps({"kind": "deal", "id": "deal0000000001"})}
    bad = {"id": "deal0000000002", "title": "Odd", "amount": "12.345", "status": "open"}
    worse = {"id": "deal0000000003", "title": "Odd", "amount": "12", "status": "maybe"}
    answer = server.push("acme", {"deals": {"created": [deal, bad, worse], "updated": [], "deleted": []},
                                  "tasks": {"created": [task], "updated": [], "deleted": []}}, first["timestamp"])
    assert {r["id"]: r["field"] for r in answer["rejected"]} == {"deal0000000002": "amount",
                                                               "deal0000000003": "status"}
    assert answer["applied"]["deals"]["created"] == 1 and answer["applied"]["tasks"]["created"] == 1
    pulled = server.pull("acme", first["timestamp"])
    (got_deal,) = changes_of(pulled, "deals")["created"]
    assert got_deal["amount"] == "12500.5" and got_deal["updated_at"] == 1796533201000  # cut to its second
    assert json.loads(got_deal["custom"]) == {"source": "app"} and got_deal["currency"] == "EUR"
    (got_task,) = changes_of(pulled, "tasks")["created"]
    assert got_task["completed"] is False and got_task["due_at"] == 1796600000000
    assert json.loads(got_task["related"]) == {"kind": "deal", "id": "deal0000000001"}
    assert server.sql("acme", "SELECT CAST(amount AS VARCHAR) FROM canonical.deals") == [("12500.500000",)]


def test_schema_version_and_migration_syncs(app_server):
    server = app_server()
    first = server.pull("acme")
    server.push("acme", {"contacts": {"created": [{"id": "c000000000001", "first_name": "Ann"}], "updated": [],
                                      "deleted": []}}, first["timestamp"])
    now = server.pull("acme", first["timestamp"])
    newer = server.call("GET", f"/api/sync/incremental?last_pulled_at={now['timestamp']}&schema_version=99", "acme")
    assert newer.status_code == 400 and "newer" in newer.json()["error"]["message"]
    same = server.pull("acme", now["timestamp"])
    assert changes_of(same)["updated"] == []
    migration = json.dumps({"from": 1, "tables": [], "columns": [{"table": "contacts", "columns": ["position"]}]})
    answer = server.ok("GET", f"/api/sync/incremental?last_pulled_at={now['timestamp']}&schema_version=1"
                              f"&migration={migration}", "acme")
    assert [r["id"] for r in changes_of(answer)["updated"]] == ["c000000000001"]  # every record of that table again
    assert changes_of(answer, "deals")["updated"] == []
    wrong = server.call("GET", f"/api/sync/incremental?last_pulled_at=1&migration={json.dumps({'tables': ['x']})}",
                        "acme")
    assert wrong.status_code == 400 and "unknown table" in wrong.json()["error"]["message"]


def test_a_push_larger_than_the_limit_is_refused_before_it_is_read(app_server):
    from tests.integration.appsync.harness import CONFIG

    server = app_server(config=CONFIG.replace("push_now = false", "push_now = false\nmax_push_mb = 0.01"))
    first = server.pull("acme")
    big = {"changes": {"contacts": {"created": [{"id": f"c{i:012d}", "first_name": "x" * 200} for i in range(60)],
                                    "updated": [], "deleted": []}}}
    declared = server.call("POST", f"/api/sync/outgoing?last_pulled_at={first['timestamp']}", "acme", json=big)
    assert declared.status_code == 413 and declared.json()["error"]["code"] == "too_large"
    text = json.dumps(big).encode()
    chunked = server.call("POST", f"/api/sync/outgoing?last_pulled_at={first['timestamp']}", "acme",
                          data=(text[i:i + 1000] for i in range(0, len(text), 1000)),
                          headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413, chunked.text
    assert server.sql("acme", "SELECT count(*) FROM canonical.contacts") == [(0,)]
    small = {"contacts": {"created": big["changes"]["contacts"]["created"][:2], "updated": [], "deleted": []}}
    assert server.push("acme", small, first["timestamp"])["applied"]["contacts"]["created"] == 2
