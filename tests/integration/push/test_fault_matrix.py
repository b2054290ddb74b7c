"""The fault matrix: every write kind of both CRMs through every way an answer goes wrong.

For each CRM × write (create, update, delete) × fault (the answer truncated, dropped or never sent
after the CRM applied the write; a 5xx after it applied it; a 429, which it did not apply): one push
run with the fault, then a clean follow-up run (pull and push), leave exactly the intended records in
the fake, counted through its admin route ``/_fake/records``. The push settles a lost answer in the
same run (it asks the CRM what became of the write), so the intended state holds after the first
run already, and the follow-up run writes nothing.

AmoCRM's API deletes nothing (``crmsync validate`` refuses ``deletes: hard`` there), so its delete
column is not applicable: :func:`test_amocrm_delete_is_not_applicable` pins that a push refuses it
without writing.
"""

import pytest
import requests

from crmsync.errors import CrmError
from tests.integration.push.test_push import Sync, project  # noqa: F401  (project is a fixture)

FAULTS = ["truncate-after", "drop-after", "hang-after", "500-after", "429-before"]
WRITE_ROUTE = {("amocrm", "create"): "/api/v4/contacts", ("amocrm", "update"): "/api/v4/contacts",
               ("bitrix24", "create"): "crm.contact.add", ("bitrix24", "update"): "crm.contact.update",
               ("bitrix24", "delete"): "crm.contact.delete"}
CASES = [(crm, kind, fault) for (crm, kind) in WRITE_ROUTE for fault in FAULTS]
HANG_SECONDS = 2.5  # the fake's hang; the session gives up after CRMSYNC_HTTP_TIMEOUT's 1 s


def records(server):
    """``{id: (first name, last name)}`` of every contact the fake holds, through its admin route."""
    rows = requests.get(server.url + "/_fake/records", params={"entity": "contacts"}, timeout=10).json()["records"]
    return {int(r.get("id", r.get("ID"))): (r.get("first_name", r.get("NAME")), r.get("last_name", r.get("LAST_NAME")))
            for r in rows}


def intended(before, kind, target):
    """What the fake must hold after the write, with ``None`` for the created record's unknown id."""
    after = dict(before)
    if kind == "update":
        after[target] = (before[target][0], "Matrix")
    elif kind == "delete":
        del after[target]
    else:
        after[None] = ("Fault", "Matrix")
    return after


def as_found(now, before):
    """``now`` keyed like :func:`intended`: a single new record under ``None``; several stay apart (and differ)."""
    new = {rid: names for rid, names in now.items() if rid not in before}
    kept = {rid: names for rid, names in now.items() if rid in before}
    if len(new) == 1:
        kept[None] = next(iter(new.values()))
        return kept
    return {**kept, **new}


@pytest.mark.parametrize("crm, kind, fault", CASES, ids=lambda v: v)
def test_one_run_and_a_clean_one_leave_exactly_the_intended_records(project, fake_crm, monkeypatch,  # noqa: F811
                                                                     crm, kind, fault):
    if fault.startswith("hang"):
        monkeypatch.setenv("CRMSYNC_HTTP_TIMEOUT", "5,1")  # the documented setting, read by the session
    server = fake_crm(crm, contacts=4, deals=1, tasks=1, rate_limit=False)
    sync = Sync(project, crm, server)
    sync.session._sleep = lambda _: None  # a 429's Retry-After need not be waited out here
    mode = "hard" if kind == "delete" else "soft"
    sync.pull()
    cid, target = sync.sql("SELECT canonical_id, CAST(remote_id AS INTEGER) FROM sync.links "
                           "WHERE entity = 'contact' AND connection = ? ORDER BY remote_id LIMIT 1", [crm])[0]
    if kind == "create":
        sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
                 "VALUES ('fault-matrix', 1, 'Fault', 'Matrix')")
        cid = "fault-matrix"
    elif kind == "update":
        sync.sql("UPDATE canonical.contacts SET last_name = 'Matrix' WHERE id = ?", [cid])
    else:
        sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [cid])
    before = records(server)
    want = intended(before, kind, target)
    server.faults.add_spec(f"{fault}:x1@{WRITE_ROUTE[crm, kind]}").hang_seconds = HANG_SECONDS

    pushed = sync.push(deletes=mode).entities["contact"]
    assert server.faults.injected == {fault: 1}, (pushed, server.stats.by_route)  # the fault did hit the write
    assert pushed[{"create": "created", "update": "updated", "delete": "deleted"}[kind]] == 1
    assert as_found(records(server), before) == want  # settled within the run that lost the answer
    # the lost answer was settled by asking the CRM, never by sending the write again blind
    assert sync.session.stats.unknown == (0 if fault.startswith("429") else 1)

    writes = sync.writes
    sync.pull()
    again = sync.push(deletes=mode).entities
    assert all(c["created"] == c["updated"] == c["deleted"] == 0 for c in again.values())
    assert sync.writes == writes
    assert as_found(records(server), before) == want
    assert sync.sql("SELECT status, count(*) FROM sync.outbox WHERE canonical_id = ? GROUP BY status", [cid]) == [
        ("sent", 1)]
    links = sync.sql("SELECT remote_id, remote_deleted_at IS NOT NULL FROM sync.links "
                     "WHERE entity = 'contact' AND connection = ? AND canonical_id = ?", [crm, cid])
    assert len(links) == 1 and links[0][1] == (kind == "delete")
    assert sync.sql("SELECT count(*) FROM sync.rejected") == [(0,)]


def test_amocrm_delete_is_not_applicable(project, fake_crm):  # noqa: F811
    server = fake_crm("amocrm", contacts=2, deals=1, tasks=1, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = (SELECT min(id) FROM canonical.contacts)")
    before = records(server)
    with pytest.raises(CrmError, match="no way to delete records through the API"):
        sync.push(deletes="hard")
    assert sync.writes == 0 and records(server) == before


# Deals and tasks take the same path; tasks are found by content in both CRMs (no key on the record).
OTHER = {("amocrm", "deal"): ("leads", "name", "/api/v4/leads"), ("amocrm", "task"): ("tasks", "text", "/api/v4/tasks"),
         ("bitrix24", "deal"): ("deals", "TITLE", "crm.deal."), ("bitrix24", "task"): ("tasks", "title", "tasks.task.")}


def titles(server, table, key):
    rows = requests.get(server.url + "/_fake/records", params={"entity": table}, timeout=10).json()["records"]
    return {int(r.get("id", r.get("ID"))): r.get(key) for r in rows}


@pytest.mark.parametrize("crm, entity", list(OTHER), ids=lambda v: v)
@pytest.mark.parametrize("kind", ["create", "update"])
def test_deals_and_tasks_whose_answer_is_dropped_are_written_once(project, fake_crm, crm, entity, kind):  # noqa: F811
    table, key, route = OTHER[crm, entity]
    server = fake_crm(crm, contacts=2, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, crm, server)
    sync.pull()
    plural = f"{entity}s"
    cid, rid = sync.sql("SELECT canonical_id, CAST(remote_id AS INTEGER) FROM sync.links WHERE entity = ? "
                        "AND connection = ? ORDER BY remote_id LIMIT 1", [entity, crm])[0]
    if kind == "update":
        sync.sql(f"UPDATE canonical.{plural} SET title = 'Matrix {entity}' WHERE id = ?", [cid])
    elif entity == "deal":
        sync.sql("INSERT INTO canonical.deals (id, version, title, amount, pipeline, stage, owner) "
                 "SELECT 'fault-matrix', 1, 'Matrix deal', 100, pipeline, stage, owner FROM canonical.deals "
                 "WHERE id = ?", [cid])
    else:
        sync.sql("INSERT INTO canonical.tasks (id, version, title, due_at, completed, owner) "
                 "SELECT 'fault-matrix', 1, 'Matrix task', '2030-02-01T09:00:00Z', false, owner FROM canonical.tasks "
                 "WHERE id = ?", [cid])
    before = titles(server, table, key)
    server.faults.add_spec(f"drop-after:x1@{route}")

    assert sync.push().entities[entity]["created" if kind == "create" else "updated"] == 1
    assert server.faults.injected == {"drop-after": 1} and sync.session.stats.unknown == 1
    writes = sync.writes
    sync.pull()
    assert all(c["created"] == c["updated"] == 0 for c in sync.push().entities.values()) and sync.writes == writes
    now = titles(server, table, key)
    if kind == "update":
        assert now == {**before, rid: f"Matrix {entity}"}
    else:
        assert {i: t for i, t in now.items() if i in before} == before
        assert [t for i, t in now.items() if i not in before] == [f"Matrix {entity}"]


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_lost_answer_the_crm_cannot_be_asked_about_waits_for_the_next_run(project, fake_crm, crm):  # noqa: F811
    from crmsync.http.policy import RetryPolicy

    server = fake_crm(crm, contacts=2, deals=1, tasks=1, rate_limit=False)
    sync = Sync(project, crm, server)
    sync.pull()
    sync.session.retry, sync.session._sleep = RetryPolicy(max_attempts=2), lambda _: None
    sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
             "VALUES ('fault-matrix', 1, 'Fault', 'Matrix')")
    before = records(server)
    route = WRITE_ROUTE[crm, "create"]
    server.faults.add_spec(f"drop-after:x1@{route}")
    pick = server.faults.pick

    def then_down(path, writes=(), query=""):  # the fake goes down right after it applied the write
        rule = pick(path, writes, query)
        if rule is not None and rule.when == "after":
            server.faults.add(503, rate=1.0)
        return rule

    server.faults.pick = then_down

    with pytest.raises(CrmError, match="could not be asked what became of them.*status 'unknown'"):
        sync.push()
    assert sync.sql("SELECT status FROM sync.outbox WHERE canonical_id = 'fault-matrix'") == [("unknown",)]
    server.faults.clear()
    assert as_found(records(server), before) == intended(before, "create", None)  # once, never resent blind

    writes = sync.writes
    assert sync.push().entities["contact"]["created"] == 1  # the next run finds it and links it
    assert sync.writes == writes and as_found(records(server), before) == intended(before, "create", None)
    assert sync.sql("SELECT status FROM sync.outbox WHERE canonical_id = 'fault-matrix'") == [("sent",)]
