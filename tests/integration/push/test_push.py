"""Push canonical changes to both fake CRMs: updates, creates, no echo, rejections, no duplicate creates."""

import json
import shutil

import duckdb
import pytest

from crmsync.mapping import load_canonical, load_mapping
from crmsync.project import Project, builtin_project_dir
from crmsync.pull import pull_connection
from crmsync.push import push_connection
from crmsync.store import open_store, postgres_env
from tests.integration.fake_sessions import fake_session
from tests.store_plugin import both_stores

ENTITIES = ["contact", "deal", "task"]


@pytest.fixture
def project(tmp_path):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project(tmp_path)


class Sync:
    """Pull and push one fake CRM, counting the HTTP writes the push makes."""

    def __init__(self, project, crm, server, paced=False, store="crmsync.duckdb"):
        self.project, self.crm, self.server, self.store = project, crm, server, store
        self.connector, self.session, self.base = fake_session(project, crm, server, paced=paced)
        self.session.records_can_fail = True
        self.mappings = {e: load_mapping(project.mappings_dir / crm / f"{e}.yaml") for e in ENTITIES}
        self.writes = 0
        self.session.hooks["response"].append(self._count)

    def _count(self, response, **_):
        request = response.request
        if self.crm == "amocrm":
            wrote = request.method in ("POST", "PATCH")
        else:
            body = request.body or b""
            body = body.decode() if isinstance(body, bytes) else body
            wrote = request.url.endswith("/batch") and any(m in body for m in (".add?", ".update?", ".delete?"))
        self.writes += wrote
        return response

    def _args(self):
        return dict(pipeline=self.crm, connection=self.crm, crm=self.crm, connector=self.connector,
                    mappings=self.mappings, canonical=load_canonical(self.project.root), entities=ENTITIES,
                    session=self.session, base_url=self.base, store=self.store)

    def pull(self):
        return pull_connection(self.project, **self._args())

    def push(self, **kw):
        return push_connection(self.project, **self._args(), **kw)

    def sql(self, statement, params=()):
        if postgres_env(self.store):  # DuckDB SQL, as crmsync's own: translated on a Postgres store
            with open_store(self.project.store_path(self.store)) as pg:
                return pg.execute(statement, list(params)).fetchall()
        con = duckdb.connect(str(self.project.store_path()))
        try:
            return con.execute(statement, list(params)).fetchall()
        finally:
            con.close()

    def remote_id(self, entity, canonical_id):
        return self.sql("SELECT remote_id FROM sync.links WHERE entity = ? AND connection = ? AND canonical_id = ?",
                        [entity, self.crm, canonical_id])[0][0]

    def fake_contact(self, remote_id):
        if self.crm == "amocrm":
            return self.session.get(f"{self.server.url}/api/v4/contacts/{remote_id}").json()
        return self.session.get(f"{self.base}/crm.contact.get", params={"id": remote_id}).json()["result"]

    def count_contacts(self):
        if self.crm == "amocrm":
            total, page = 0, 1
            while True:
                r = self.session.get(f"{self.server.url}/api/v4/contacts", params={"limit": 250, "page": page})
                if r.status_code == 204:
                    return total
                total += len(r.json()["_embedded"]["contacts"])
                page += 1
        return self.session.get(f"{self.base}/crm.contact.list", params={"select[]": "ID"}).json()["total"]


def first_name(record, crm):
    return record["first_name"] if crm == "amocrm" else record["NAME"]


@pytest.fixture(params=["amocrm", "bitrix24"])
def synced(request, project, fake_crm, store):
    server = fake_crm(request.param, contacts=30, deals=15, tasks=10, rate_limit=False)
    sync = Sync(project, request.param, server, store=store.name)
    sync.pull()
    return sync


@both_stores
def test_an_sql_update_reaches_the_crm_once(synced):
    (cid,) = synced.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.contacts SET first_name = 'Пушкин' WHERE id = ?", [cid])
    result = synced.push()
    assert result.entities["contact"]["updated"] == 1
    assert result.entities["contact"]["created"] == 0
    assert first_name(synced.fake_contact(synced.remote_id("contact", cid)), synced.crm) == "Пушкин"
    history = synced.sql("SELECT field, new, side FROM sync.changes WHERE run_id = ?", [result.run_id])
    assert history == [("first_name", '"Пушкин"', f"local→{synced.crm}")]

    writes = synced.writes
    again = synced.push()
    assert all(c["updated"] == 0 and c["created"] == 0 for c in again.entities.values())
    assert synced.writes == writes
    after = synced.pull()
    assert all(c["applied"] == 0 for c in after.entities.values()), after.entities
    assert synced.push().entities["contact"]["updated"] == 0


def test_a_deal_stage_and_a_new_phone_reach_the_crm(synced):
    (cid, new_stage) = synced.sql(  # another open stage of the same pipeline
        "SELECT a.id, b.stage FROM canonical.deals a JOIN canonical.deals b ON a.pipeline = b.pipeline "
        "AND a.stage <> b.stage WHERE a.status = 'open' AND b.status = 'open' ORDER BY a.id, b.stage LIMIT 1")[0]
    synced.sql("UPDATE canonical.deals SET stage = ? WHERE id = ?", [new_stage, cid])
    (contact,) = synced.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.contacts SET phones = CAST(? AS JSON) WHERE id = ?",
               [json.dumps([{"value": "+79161234567", "type": "mobile"}]), contact])
    result = synced.push()
    assert result.entities["deal"]["updated"] == 1 and result.entities["contact"]["updated"] == 1
    raw = synced.fake_contact(synced.remote_id("contact", contact))
    numbers = [v["value"] for f in raw.get("custom_fields_values") or [] if f.get("field_code") == "PHONE"
               for v in f["values"]] if synced.crm == "amocrm" else [p["VALUE"] for p in raw.get("PHONE") or []]
    assert "+79161234567" in numbers
    assert all(c["applied"] == 0 for c in synced.pull().entities.values())
    assert synced.sql("SELECT stage FROM canonical.deals WHERE id = ?", [cid]) == [(new_stage,)]
    assert all(c["updated"] == 0 for c in synced.push().entities.values())


@both_stores
def test_an_inserted_contact_is_created_once_and_linked(synced):
    before = synced.count_contacts()
    synced.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name, emails) "
               "VALUES ('new-1', 1, 'Ада', 'Лавлейс', CAST(? AS JSON))",
               [json.dumps([{"value": "ada@example.com", "type": "work"}])])
    result = synced.push()
    assert result.entities["contact"]["created"] == 1
    assert synced.count_contacts() == before + 1
    remote = synced.remote_id("contact", "new-1")
    assert first_name(synced.fake_contact(remote), synced.crm) == "Ада"
    writes = synced.writes
    assert all(c["created"] == 0 and c["updated"] == 0 for c in synced.push().entities.values())
    assert synced.writes == writes
    assert all(c["applied"] == 0 and c["new_rows"] == 0 for c in synced.pull().entities.values())
    assert synced.count_contacts() == before + 1
    (created_at,) = synced.sql("SELECT created_at FROM canonical.contacts WHERE id = 'new-1'")[0]
    assert created_at is not None  # canonical took what the CRM set


@both_stores
def test_a_crash_after_sending_a_create_does_not_duplicate_it(synced, monkeypatch):
    before = synced.count_contacts()
    synced.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
               "VALUES ('new-2', 1, 'Грейс', 'Хоппер')")
    monkeypatch.setenv("CRMSYNC_TEST_CRASH_AFTER_SEND", "1")
    with pytest.raises(RuntimeError, match="CRMSYNC_TEST_CRASH_AFTER_SEND"):
        synced.push()
    monkeypatch.delenv("CRMSYNC_TEST_CRASH_AFTER_SEND")
    assert synced.count_contacts() == before + 1  # it reached the CRM, we never recorded the answer
    assert synced.sql("SELECT status FROM sync.outbox WHERE canonical_id = 'new-2'") == [("sending",)]
    writes = synced.writes
    result = synced.push()
    assert synced.writes == writes  # found on the CRM and linked, not sent again
    assert result.entities["contact"]["created"] == 1
    assert synced.count_contacts() == before + 1
    assert synced.sql("SELECT status FROM sync.outbox WHERE canonical_id = 'new-2'") == [("sent",)]
    assert first_name(synced.fake_contact(synced.remote_id("contact", "new-2")), synced.crm) == "Грейс"
    assert all(c["created"] == 0 for c in synced.push().entities.values())


def test_a_record_the_crm_refuses_is_set_aside_and_the_rest_is_written(synced):
    # Both CRMs refuse a task with no title: the mappings declare it required (limits), so it is set
    # aside before anything is sent. A record deleted in the CRM meanwhile is not a refusal:
    # tests/integration/push/test_deletes.py.
    (owner, due) = synced.sql("SELECT owner, due_at FROM canonical.tasks ORDER BY id LIMIT 1")[0]
    synced.sql("INSERT INTO canonical.tasks (id, version, title, owner, due_at) "
               "VALUES ('t-good', 1, 'Позвонить', ?, ?), ('t-bad', 1, NULL, ?, ?)", [owner, due, owner, due])
    result = synced.push()
    assert result.entities["task"]["created"] == 1 and result.entities["task"]["rejected"] == 1
    assert synced.sql("SELECT count(*) FROM sync.links WHERE canonical_id = 't-good'") == [(1,)]
    (field, reason) = synced.sql("SELECT field, reason FROM sync.rejected WHERE direction = 'push'")[0]
    assert field == "title" and "required by the CRM" in reason
    assert synced.sql("SELECT status FROM sync.outbox WHERE canonical_id = 't-bad'") == []  # never sent
    writes = synced.writes
    synced.push()
    assert synced.writes == writes  # a refused change is not sent again until the data changes


def test_a_value_the_mapping_cannot_write_is_set_aside_before_sending(synced):
    (bad, good) = [r[0] for r in synced.sql("SELECT id FROM canonical.deals ORDER BY id LIMIT 2")]
    synced.sql("UPDATE canonical.deals SET stage = 'Нет такой стадии' WHERE id = ?", [bad])
    synced.sql("UPDATE canonical.deals SET title = 'Новый заголовок' WHERE id = ?", [good])
    result = synced.push()
    assert result.entities["deal"]["updated"] == 1 and result.entities["deal"]["rejected"] == 1
    rows = synced.sql("SELECT field, reason FROM sync.rejected WHERE direction = 'push'")
    assert len(rows) == 1 and rows[0][0] == "stage" and "Нет такой стадии" in rows[0][1]
    assert synced.sql("SELECT count(*) FROM sync.outbox WHERE canonical_id = ?", [bad]) == [(0,)]


def test_dry_run_prints_the_plan_and_sends_nothing(synced):
    (cid,) = synced.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.contacts SET position = 'Главный по тестам' WHERE id = ?", [cid])
    writes = synced.writes
    result = synced.push(dry_run=True)
    assert synced.writes == writes
    assert result.entities["contact"]["updated"] == 1
    assert result.plan["contact"]["updates"] == [
        {"kind": "update", "canonical_id": cid, "remote_id": synced.remote_id("contact", cid),
         "fields": {"position": "Главный по тестам"}}]
    assert synced.sql("SELECT count(*) FROM sync.outbox") == [(0,)]
    assert synced.push().entities["contact"]["updated"] == 1


@pytest.mark.parametrize("crm", ["bitrix24"])
def test_many_creates_go_in_batches_under_real_rate_limits(project, fake_crm, crm):
    server = fake_crm(crm, contacts=10, deals=2, tasks=2)  # rate limits on
    sync = Sync(project, crm, server, paced=True)
    sync.pull()
    before = sync.count_contacts()
    sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
             "SELECT 'bulk-' || i, 1, 'Имя' || i, 'Фамилия' || i FROM range(120) t(i)")
    writes = sync.writes
    result = sync.push()
    assert result.entities["contact"]["created"] == 120
    assert sync.writes - writes == (1 if crm == "amocrm" else 3)  # 250 per POST; 50 per batch
    assert sync.count_contacts() == before + 120
    assert sync.sql("SELECT count(DISTINCT remote_id) FROM sync.links WHERE canonical_id LIKE 'bulk-%'") == [(120,)]
    assert server.stats.by_status.get(429, 0) == 0 and server.stats.by_status.get(503, 0) == 0
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())


def test_write_mode_limits_what_is_planned(synced):
    (cid,) = synced.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.contacts SET last_name = 'Режимов' WHERE id = ?", [cid])
    synced.sql("INSERT INTO canonical.contacts (id, version, first_name) VALUES ('new-3', 1, 'Режим')")
    only_updates = synced.push(write_mode="update_only")
    assert (only_updates.entities["contact"]["created"], only_updates.entities["contact"]["updated"]) == (0, 1)
    synced.sql("UPDATE canonical.contacts SET last_name = 'Режимов-2' WHERE id = ?", [cid])
    only_creates = synced.push(write_mode="insert_only")
    assert (only_creates.entities["contact"]["created"], only_creates.entities["contact"]["updated"]) == (1, 0)


def test_the_same_value_can_be_written_again_after_the_crm_changed_it_back(synced):
    (cid, original) = synced.sql("SELECT id, first_name FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    synced.sql("UPDATE canonical.contacts SET first_name = 'Снова' WHERE id = ?", [cid])
    assert synced.push().entities["contact"]["updated"] == 1
    remote = synced.remote_id("contact", cid)
    if synced.crm == "amocrm":  # someone in the CRM puts the old name back
        synced.session.patch(f"{synced.server.url}/api/v4/contacts/{remote}", json={"first_name": original})
    else:
        synced.session.post(f"{synced.base}/crm.contact.update", json={"id": remote, "fields": {"NAME": original}})
    assert synced.pull().entities["contact"]["applied"] == 1
    synced.sql("UPDATE canonical.contacts SET first_name = 'Снова' WHERE id = ?", [cid])
    assert synced.push().entities["contact"]["updated"] == 1
    assert first_name(synced.fake_contact(remote), synced.crm) == "Снова"


def test_a_new_contact_deal_and_task_are_created_in_order_and_linked(synced):
    (pipeline, stage, owner) = synced.sql("SELECT pipeline, stage, owner FROM canonical.deals "
                                          "WHERE status = 'open' ORDER BY id LIMIT 1")[0]
    synced.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name, owner) "
               "VALUES ('c-new', 1, 'Новый', 'Клиент', ?)", [owner])
    synced.sql("INSERT INTO canonical.deals (id, version, title, amount, pipeline, stage, contacts, owner) "
               "VALUES ('d-new', 1, 'Новая сделка', 5000, ?, ?, CAST('[\"c-new\"]' AS JSON), ?)",
               [pipeline, stage, owner])
    synced.sql("INSERT INTO canonical.tasks (id, version, title, due_at, completed, owner, related) "
               "VALUES ('t-new', 1, 'Позвонить', '2030-01-10T09:00:00Z', false, ?, "
               "CAST('{\"kind\": \"deal\", \"id\": \"d-new\"}' AS JSON))", [owner])
    result = synced.push()
    assert {e: (c["created"], c["rejected"]) for e, c in result.entities.items()} == {
        "contact": (1, 0), "deal": (1, 0), "task": (1, 0)}, synced.sql("SELECT * FROM sync.rejected")
    assert all(c["applied"] == 0 for c in synced.pull().entities.values())
    assert synced.sql("SELECT contacts FROM canonical.deals WHERE id = 'd-new'") == [('["c-new"]',)]
    assert json.loads(synced.sql("SELECT related FROM canonical.tasks WHERE id = 't-new'")[0][0]) == {
        "kind": "deal", "id": "d-new"}
    assert all(c["created"] == 0 and c["updated"] == 0 for c in synced.push().entities.values())


def test_a_lost_task_create_is_found_by_its_content_not_sent_again(synced, monkeypatch):
    # Bitrix24 tasks have no ORIGIN_ID and AmoCRM records no client key: found by what we wrote.
    (owner,) = synced.sql("SELECT owner FROM canonical.tasks ORDER BY id LIMIT 1")[0]
    synced.sql("INSERT INTO canonical.tasks (id, version, title, due_at, completed, owner) "
               "VALUES ('t-lost', 1, 'Потерянная задача', '2030-02-01T09:00:00Z', false, ?)", [owner])
    monkeypatch.setenv("CRMSYNC_TEST_CRASH_AFTER_SEND", "1")
    with pytest.raises(RuntimeError):
        synced.push()
    monkeypatch.delenv("CRMSYNC_TEST_CRASH_AFTER_SEND")
    writes = synced.writes
    assert synced.push().entities["task"]["created"] == 1
    assert synced.writes == writes
    after = synced.pull().entities["task"]
    assert after["new_rows"] == 0 and after["applied"] == 0  # no second copy came back from the CRM
    assert synced.sql("SELECT count(*) FROM sync.links WHERE entity = 'task' AND canonical_id = 't-lost'") == [(1,)]


def test_a_value_set_back_and_forth_locally_reaches_the_crm_every_time(synced):
    """A→B, B→A, A→B, … from the store within one CRM second: a later write is the same change from
    the same base as an earlier one, and must still be sent (its key follows the record's last write)."""
    (cid, original) = synced.sql("SELECT id, first_name FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    remote = synced.remote_id("contact", cid)
    synced.server.app.clock.freeze(synced.server.app.clock.now())  # all three writes in one CRM second
    for value in ("Туда", original, "Туда", original, "Туда"):
        synced.sql("UPDATE canonical.contacts SET first_name = ? WHERE id = ?", [value, cid])
        assert synced.push().entities["contact"]["updated"] == 1, value
        assert first_name(synced.fake_contact(remote), synced.crm) == value
    assert synced.push().entities["contact"]["updated"] == 0
