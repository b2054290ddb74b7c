"""A push maps and stores its ops a batch at a time while the batch before it is on the wire
(crmsync.push.run._Entity._batches): the first write does not wait for the whole plan, the batches
are the ones a plan mapped whole would give, and a rejected record is set aside as before."""

import crmsync.push.plan as plan_module
from tests.integration.push.test_push import Sync, project  # noqa: F401  (project is a fixture)


def test_the_first_write_leaves_before_the_last_batch_is_mapped(project, fake_crm, monkeypatch):  # noqa: F811
    server = fake_crm("amocrm", contacts=60, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    sync.connector["entities"]["contact"]["update"]["batch_size"] = 10
    sync.connector["entities"]["contact"]["create"]["batch_size"] = 10
    ids = [r[0] for r in sync.sql("SELECT id FROM canonical.contacts ORDER BY id")]
    sync.sql("UPDATE canonical.contacts SET last_name = 'Волна' WHERE id IN (SELECT unnest(?))", [ids[:55]])
    # one record the CRM would refuse (AmoCRM's names are at most 256 characters): set aside, not sent
    sync.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", ["Я" * 300, ids[21]])
    sync.sql("INSERT INTO canonical.contacts (id, version, name, first_name, last_name) "
             "SELECT 'new-' || i, 1, 'Новый ' || i, 'Новый', 'Контакт ' || i FROM range(12) t(i)")

    events = []
    keyed = plan_module.keyed

    def noting_keyed(con, ops, base_hashes):
        if ops:
            events.append(("mapped", ops[0].kind, len(ops)))
        return keyed(con, ops, base_hashes)

    def noting_writes(response, **_):
        if response.request.method in ("POST", "PATCH"):
            events.append(("write", response.request.method, len(response.json()["_embedded"]["contacts"])))
        return response

    monkeypatch.setattr(plan_module, "keyed", noting_keyed)
    sync.session.hooks["response"].append(noting_writes)
    server.stats.reset()
    done = sync.push().entities["contact"]
    sync.session.hooks["response"].remove(noting_writes)

    assert (done["created"], done["updated"], done["rejected"]) == (12, 54, 1)
    writes = [e for e in events if e[0] == "write"]
    # creates first, then updates, in full batches of 10: as if everything had been planned first
    assert [(method, n) for _, method, n in writes] == [("POST", 10), ("POST", 2)] + [("PATCH", 10)] * 5 + \
        [("PATCH", 4)]
    mapped = [e for e in events if e[0] == "mapped"]
    assert mapped[0] == ("mapped", "create", 10)  # one batch, then larger chunks
    assert len(mapped) > 2 and sum(n for _, kind, n in mapped if kind == "update") == 54
    # the first write left while most of the plan was still to be mapped
    assert events.index(writes[0]) < events.index(mapped[-1])
    assert sync.sql("SELECT status, count(*) FROM sync.outbox GROUP BY status") == [("sent", 66)]
    assert sync.sql("SELECT count(*) FROM sync.rejected WHERE direction = 'push'") == [(1,)]
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())
    assert all(c["updated"] == 0 and c["created"] == 0 for c in sync.push().entities.values())
