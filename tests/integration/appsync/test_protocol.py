"""WatermelonDB's pull over real HTTP: a first sync, incremental syncs that carry every change exactly
once, and a change committed while a pull is answered that the next pull carries."""

import json
import threading

import duckdb

from tests.integration.appsync.harness import changes_of


def test_initial_then_incremental_exactly_once(app_server, fake_crm):
    server = app_server()
    amo = fake_crm("amocrm", contacts=12, deals=0, tasks=0, rate_limit=False)
    server.connect("acme", amo)
    server.sync("acme")

    first = server.pull("acme")
    created = changes_of(first)["created"]
    assert len(created) == 12 and changes_of(first)["updated"] == [] and changes_of(first)["deleted"] == []
    assert set(first["changes"]) == {"contacts", "deals", "tasks"}
    sample = created[0]
    assert isinstance(sample["id"], str) and isinstance(sample["updated_at"], int)
    assert isinstance(json.loads(sample["phones"]), list)  # nested values travel as JSON text
    assert "version" not in sample and "deleted_at" not in sample

    again = server.pull("acme", first["timestamp"])
    assert again["timestamp"] == first["timestamp"]
    assert all(v == {"created": [], "updated": [], "deleted": []} for v in again["changes"].values())

    # an SQL edit and an SQL delete: each in the next pull, once
    ids = [c["id"] for c in created]
    server.sql("acme", "UPDATE canonical.contacts SET position = 'CFO', updated_at = now() WHERE id = ?", ids[0])
    server.sql("acme", "UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", ids[1])
    second = server.pull("acme", first["timestamp"])
    assert second["timestamp"] > first["timestamp"]
    assert [r["id"] for r in changes_of(second)["updated"]] == [ids[0]]
    assert changes_of(second)["updated"][0]["position"] == "CFO"
    assert changes_of(second)["deleted"] == [ids[1]] and changes_of(second)["created"] == []
    third = server.pull("acme", second["timestamp"])
    assert all(v == {"created": [], "updated": [], "deleted": []} for v in third["changes"].values())


def test_a_change_during_a_pull_is_in_this_pull_or_the_next(app_server, fake_crm):
    server = app_server()
    amo = fake_crm("amocrm", contacts=5, deals=0, tasks=0, rate_limit=False)
    server.connect("acme", amo)
    server.sync("acme")
    first = server.pull("acme")
    ids = [c["id"] for c in changes_of(first)["created"]]
    store = server.tenant_dir("acme") / "crmsync.duckdb"
    lock = server.app.state.app_sync.state("acme").runner.store_lock
    seen: dict[str, list[str]] = {}

    def pull_in_background():
        seen["during"] = [r["position"] for r in changes_of(server.pull("acme", first["timestamp"]))["updated"]]

    # the edit commits while the pull waits for the store: the pull answers after it, and carries it
    lock.acquire()
    server.app.state.app_sync.state("acme").close()  # the server lets go of the file, as between requests
    thread = threading.Thread(target=pull_in_background)
    thread.start()
    with duckdb.connect(str(store)) as con:
        con.execute("UPDATE canonical.contacts SET position = 'during' WHERE id = ?", [ids[0]])
    lock.release()
    thread.join(60)
    after = server.pull("acme", first["timestamp"])
    total = seen["during"] + [r["position"] for r in changes_of(after)["updated"]]
    assert "during" in total
    # once it is in a pull, a pull from that pull's timestamp does not carry it again
    assert changes_of(server.pull("acme", after["timestamp"]))["updated"] == []
