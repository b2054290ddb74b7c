"""HubSpot push, with only connectors/hubspot.yaml and mappings/hubspot/*.yaml: updates, creates and
archives of contacts, deals and tasks reach the fake; nothing echoes back; a second push sends nothing;
a create whose answer is dropped is found by its content, not made twice."""

from __future__ import annotations

import json

import duckdb
import pytest
import requests

from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import load_canonical, load_mapping
from crmsync.pull import pull_connection
from crmsync.push import push_connection
from crmsync.specs.yamlload import load_yaml
from tests.integration.push.test_push import project  # noqa: F401  (a fixture)

ENTITIES = ["contact", "deal", "task"]
OBJECTS = {"contact": "contacts", "deal": "deals", "task": "tasks"}
TOKEN = {"Authorization": "Bearer demo-token"}  # the fake's private-app token


class HubSpot:
    def __init__(self, proj, server):
        self.project, self.server = proj, server
        self.connector = load_yaml(proj.connectors_dir / "hubspot.yaml")
        self.session = CrmSession.from_connector(self.connector, Unlimited(), records_can_fail=True)
        self.session.headers.update(TOKEN)
        self.mappings = {e: load_mapping(proj.mappings_dir / "hubspot" / f"{e}.yaml") for e in ENTITIES}
        self.writes = 0
        self.session.hooks["response"].append(self._count)

    def _count(self, response, **_):
        path = response.request.path_url.split("?")[0]
        self.writes += response.request.method != "GET" and "/batch/" in path and not path.endswith("/batch/read")
        return response

    def _args(self):
        return dict(pipeline="hubspot", connection="hubspot", crm="hubspot", connector=self.connector,
                    mappings=self.mappings, canonical=load_canonical(self.project.root), entities=ENTITIES,
                    session=self.session, base_url=self.server.url, store="crmsync.duckdb")

    def pull(self):
        return pull_connection(self.project, **self._args())

    def push(self, **kw):
        return push_connection(self.project, **self._args(), **kw)

    def sql(self, statement, params=()):
        con = duckdb.connect(str(self.project.store_path()))
        try:
            return con.execute(statement, list(params)).fetchall()
        finally:
            con.close()

    def linked(self, entity, canonical_id):
        return self.sql("SELECT remote_id FROM sync.links WHERE entity = ? AND connection = 'hubspot' "
                        "AND canonical_id = ?", [entity, canonical_id])[0][0]

    def record(self, entity, remote_id, *props, archived=False):
        response = requests.get(f"{self.server.url}/crm/v3/objects/{OBJECTS[entity]}/{remote_id}", headers=TOKEN,
                                params={"properties": ",".join(props), "archived": str(archived).lower()},
                                timeout=10)
        return response.json() if response.status_code == 200 else None

    def count(self, entity):
        total, after = 0, None
        while True:
            body = requests.get(f"{self.server.url}/crm/v3/objects/{OBJECTS[entity]}", headers=TOKEN, timeout=10,
                                params={"limit": 100, **({"after": after} if after else {})}).json()
            total += len(body["results"])
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return total


def nothing_sent(result):
    return all(c["created"] == c["updated"] == c["deleted"] == 0 for c in result.entities.values())


@pytest.fixture
def hubspot(project, fake_crm):  # noqa: F811
    hub = HubSpot(project, fake_crm("hubspot", contacts=12, deals=6, tasks=6, rate_limit=False))
    hub.pull()
    return hub


def test_updates_of_every_entity_reach_hubspot_once_and_do_not_echo(hubspot):
    contact, deal, task = (hubspot.sql(f"SELECT min(id) FROM canonical.{t}")[0][0] for t in ("contacts", "deals",
                                                                                             "tasks"))
    hubspot.sql("UPDATE canonical.contacts SET position = 'Head of sales', updated_at = now() WHERE id = ?", [contact])
    hubspot.sql("UPDATE canonical.deals SET title = 'Pushed deal', updated_at = now() WHERE id = ?", [deal])
    hubspot.sql("UPDATE canonical.tasks SET title = 'Pushed task', completed = true, updated_at = now() WHERE id = ?",
                [task])
    sent = hubspot.push()
    assert {e: c["updated"] for e, c in sent.entities.items()} == {"contact": 1, "deal": 1, "task": 1}, sent.entities
    assert hubspot.writes == 3  # one batch update per entity
    c = hubspot.record("contact", hubspot.linked("contact", contact), "jobtitle")
    assert c["properties"]["jobtitle"] == "Head of sales"
    d = hubspot.record("deal", hubspot.linked("deal", deal), "dealname")
    assert d["properties"]["dealname"] == "Pushed deal"
    t = hubspot.record("task", hubspot.linked("task", task), "hs_task_subject", "hs_task_status")
    assert (t["properties"]["hs_task_subject"], t["properties"]["hs_task_status"]) == ("Pushed task", "COMPLETED")

    writes = hubspot.writes
    back = hubspot.pull()
    assert all(e["applied"] == 0 for e in back.entities.values()), back.entities  # our writes are no news
    assert nothing_sent(hubspot.push()) and hubspot.writes == writes


def test_inserted_records_are_created_once_and_linked(hubspot):
    before = {e: hubspot.count(e) for e in ENTITIES}
    hubspot.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
                "VALUES ('new-contact', 1, 'Ann', 'Lee')")
    hubspot.sql("INSERT INTO canonical.deals (id, version, title, amount, pipeline, stage, owner) "
                "SELECT 'new-deal', 1, 'New deal', 1500, pipeline, stage, owner FROM canonical.deals LIMIT 1")
    hubspot.sql("INSERT INTO canonical.tasks (id, version, title, due_at, completed) "
                "VALUES ('new-task', 1, 'Call Ann', '2030-02-01T09:00:00Z', false)")
    sent = hubspot.push()
    assert {e: c["created"] for e, c in sent.entities.items()} == {"contact": 1, "deal": 1, "task": 1}, sent.entities
    assert {e: hubspot.count(e) for e in ENTITIES} == {e: n + 1 for e, n in before.items()}
    made = hubspot.record("contact", hubspot.linked("contact", "new-contact"), "firstname", "lastname")
    assert (made["properties"]["firstname"], made["properties"]["lastname"]) == ("Ann", "Lee")
    deal = hubspot.record("deal", hubspot.linked("deal", "new-deal"), "dealname", "amount")
    assert deal["properties"]["dealname"] == "New deal" and float(deal["properties"]["amount"]) == 1500
    task = hubspot.record("task", hubspot.linked("task", "new-task"), "hs_task_subject", "hs_timestamp")
    assert task["properties"]["hs_task_subject"] == "Call Ann"
    assert task["properties"]["hs_timestamp"].startswith("2030-02-01T09:00:00")

    back = hubspot.pull()
    assert all(e["applied"] == 0 for e in back.entities.values()), back.entities
    assert nothing_sent(hubspot.push())


def test_a_local_deletion_archives_the_record_when_the_pipeline_says_hard(hubspot):
    contact = hubspot.sql("SELECT min(id) FROM canonical.contacts")[0][0]
    remote = hubspot.linked("contact", contact)
    hubspot.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [contact])
    sent = hubspot.push(deletes="hard")
    assert sent.entities["contact"]["deleted"] == 1
    assert hubspot.record("contact", remote) is None
    assert hubspot.record("contact", remote, archived=True)["archived"] is True
    assert nothing_sent(hubspot.push(deletes="hard"))


def test_a_create_whose_answer_is_dropped_is_found_by_content_not_made_twice(hubspot):
    before = hubspot.count("contact")
    hubspot.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
                "VALUES ('lost-answer', 1, 'Lost', 'Answer')")
    hubspot.server.faults.add_spec("drop-after:x1@/crm/v3/objects/contacts/batch/create")
    sent = hubspot.push()
    assert hubspot.server.faults.injected == {"drop-after": 1} and hubspot.session.stats.unknown == 1
    assert sent.entities["contact"]["created"] == 1
    assert hubspot.count("contact") == before + 1
    made = hubspot.record("contact", hubspot.linked("contact", "lost-answer"), "firstname")
    assert made["properties"]["firstname"] == "Lost"
    hubspot.pull()
    assert nothing_sent(hubspot.push()) and hubspot.count("contact") == before + 1


def test_a_field_changed_on_both_sides_follows_the_policy(hubspot):
    contact = hubspot.sql("SELECT min(id) FROM canonical.contacts")[0][0]
    remote = hubspot.linked("contact", contact)
    requests.post(hubspot.server.url + "/_fake/clock", json={"advance": 60}, timeout=10).raise_for_status()
    requests.patch(f"{hubspot.server.url}/crm/v3/objects/contacts/{remote}", headers=TOKEN, timeout=10,
                   json={"properties": {"jobtitle": "Set in HubSpot"}}).raise_for_status()
    # the local edit is older than HubSpot's: newest_wins keeps HubSpot's value and sends nothing back
    hubspot.sql("UPDATE canonical.contacts SET position = 'Set locally', updated_at = now() - INTERVAL 1 DAY "
                "WHERE id = ?", [contact])
    hubspot.pull()
    assert hubspot.sql("SELECT position FROM canonical.contacts WHERE id = ?", [contact]) == [("Set in HubSpot",)]
    assert hubspot.sql("SELECT count(*) FROM sync.conflicts WHERE canonical_id = ?", [contact])[0][0] >= 1
    assert nothing_sent(hubspot.push())
    assert hubspot.record("contact", remote, "jobtitle")["properties"]["jobtitle"] == "Set in HubSpot"


def test_a_lost_create_is_looked_for_again_while_the_search_index_lags(project, fake_crm):  # noqa: F811
    """HubSpot's search shows a new record a while after it is written: a lookup that finds nothing at
    once must wait out ``index_delay_seconds`` and look again, or the create would be made twice."""
    path = project.connectors_dir / "hubspot.yaml"
    path.write_text(path.read_text().replace("index_delay_seconds: 30", "index_delay_seconds: 3"))
    hub = HubSpot(project, fake_crm("hubspot", contacts=3, deals=1, tasks=1, rate_limit=False,
                                    search_index_delay=2.0))
    hub.pull()
    before = hub.count("contact")
    hub.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) VALUES ('late', 1, 'Late', 'Index')")
    hub.server.faults.add_spec("drop-after:x1@/crm/v3/objects/contacts/batch/create")
    assert hub.push().entities["contact"]["created"] == 1
    assert hub.server.faults.injected == {"drop-after": 1}
    assert hub.count("contact") == before + 1  # found on the second look, not created again
    assert hub.record("contact", hub.linked("contact", "late"), "firstname")["properties"]["firstname"] == "Late"


def _contact_points(hub, remote):
    p = hub.record("contact", remote, "email", "phone", "mobilephone")["properties"]
    return p["email"], p["phone"], p["mobilephone"]


def test_emails_and_phones_go_each_to_its_property_and_do_not_echo(hubspot):
    first, second = (r[0] for r in hubspot.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 2"))
    hubspot.sql("UPDATE canonical.contacts SET updated_at = now(), emails = CAST(? AS JSON), phones = CAST(? AS JSON) "
                "WHERE id = ?", ['[{"value": "ann.lee@example.org", "type": "work"}]',
                                 '[{"value": "+79161234567", "type": "mobile"}, {"value": "+74951234567", '
                                 '"type": "work"}]', first])
    # cleared here: cleared in HubSpot
    hubspot.sql("UPDATE canonical.contacts SET updated_at = now(), emails = CAST('[]' AS JSON), "
                "phones = CAST('[]' AS JSON) WHERE id = ?", [second])
    sent = hubspot.push()
    assert sent.entities["contact"]["updated"] == 2 and sent.entities["contact"]["rejected"] == 0, sent.entities
    assert _contact_points(hubspot, hubspot.linked("contact", first)) == (
        "ann.lee@example.org", "+74951234567", "+79161234567")
    assert _contact_points(hubspot, hubspot.linked("contact", second)) == (None, None, None)

    writes = hubspot.writes
    back = hubspot.pull()
    assert back.entities["contact"]["applied"] == 0, back.entities  # our writes are no news
    assert hubspot.sql("SELECT CAST(emails AS VARCHAR), CAST(phones AS VARCHAR) FROM canonical.contacts "
                       "WHERE id = ?", [second]) == [("[]", "[]")]
    assert nothing_sent(hubspot.push()) and hubspot.writes == writes


def test_a_created_contact_carries_its_email_and_phones(hubspot):
    hubspot.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name, emails, phones) VALUES "
                "('with-points', 1, 'Ann', 'Lee', CAST(? AS JSON), CAST(? AS JSON))",
                ['[{"value": "new.ann@example.org", "type": "work"}]', '[{"value": "+79161234567", "type": "work"}]'])
    assert hubspot.push().entities["contact"]["created"] == 1
    assert _contact_points(hubspot, hubspot.linked("contact", "with-points")) == (
        "new.ann@example.org", "+79161234567", None)
    hubspot.pull()
    assert nothing_sent(hubspot.push())


def test_more_numbers_than_hubspot_has_properties_set_the_contact_aside_and_the_rest_is_written(hubspot):
    crowded, plain = (r[0] for r in hubspot.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 2"))
    remote = hubspot.linked("contact", crowded)
    before = _contact_points(hubspot, remote)
    hubspot.sql("UPDATE canonical.contacts SET updated_at = now(), position = 'Crowded', phones = CAST(? AS JSON) "
                "WHERE id = ?", ['[{"value": "+79161234567", "type": "work"}, {"value": "+74951234567", '
                                 '"type": "work"}]', crowded])
    hubspot.sql("UPDATE canonical.contacts SET updated_at = now(), position = 'Plain' WHERE id = ?", [plain])
    sent = hubspot.push()
    assert (sent.entities["contact"]["updated"], sent.entities["contact"]["rejected"]) == (1, 1), sent.entities
    rows = hubspot.sql("SELECT field, reason FROM sync.rejected WHERE direction = 'push'")
    assert len(rows) == 1 and rows[0][0] == "phones"
    assert "'+74951234567' (work): its properties (phone) already hold '+79161234567'" in rows[0][1]
    assert _contact_points(hubspot, remote) == before  # nothing of it was written, no number lost
    assert hubspot.record("contact", remote, "jobtitle")["properties"]["jobtitle"] != "Crowded"
    assert hubspot.record("contact", hubspot.linked("contact", plain), "jobtitle")["properties"]["jobtitle"] == "Plain"


# -- associations: a deal's contacts, a task's contact or deal -----------------------------------------

def _associated(hub, frm, to, remote_id):
    """The ids the fake associates with one record (v4 batch read), as a sorted list."""
    body = requests.post(f"{hub.server.url}/crm/v4/associations/{frm}/{to}/batch/read", headers=TOKEN, timeout=10,
                         json={"inputs": [{"id": str(remote_id)}]}).json()
    return sorted(str(t["toObjectId"]) for r in body["results"] for t in r["to"])


def _remote(hub, entity, canonical_ids):
    return sorted(hub.linked(entity, c) for c in canonical_ids)


def _deal_with_contacts(hub):
    rows = hub.sql("SELECT id, CAST(contacts AS VARCHAR) FROM canonical.deals WHERE json_array_length(contacts) > 0 "
                   "ORDER BY id LIMIT 1")
    assert rows, "the seed associates deals with contacts"
    return rows[0][0], json.loads(rows[0][1])


def test_a_deals_contacts_become_exactly_its_associations_and_a_second_push_sends_nothing(hubspot):
    deal, contacts = _deal_with_contacts(hubspot)
    others = [r[0] for r in hubspot.sql("SELECT id FROM canonical.contacts ORDER BY id") if r[0] not in contacts]
    wanted = [others[0], others[1]]  # every contact it had removed, two others added
    hubspot.sql("UPDATE canonical.deals SET contacts = CAST(? AS JSON), updated_at = now() WHERE id = ?",
                [json.dumps(wanted), deal])
    remote = hubspot.linked("deal", deal)
    sent = hubspot.push()
    assert sent.entities["deal"]["updated"] == 1 and sent.entities["deal"]["rejected"] == 0, sent.entities
    assert _associated(hubspot, "deals", "contacts", remote) == _remote(hubspot, "contact", wanted)
    # links alone changed: no record update, one associate call and one archive call
    assert hubspot.writes == 2
    # the reverse direction agrees (HubSpot keeps both)
    for c in wanted:
        assert remote in _associated(hubspot, "contacts", "deals", hubspot.linked("contact", c))
    for c in contacts:
        assert remote not in _associated(hubspot, "contacts", "deals", hubspot.linked("contact", c))

    writes = hubspot.writes
    hubspot.pull()
    assert sorted(json.loads(hubspot.sql("SELECT CAST(contacts AS VARCHAR) FROM canonical.deals WHERE id = ?",
                                         [deal])[0][0])) == sorted(wanted)
    assert nothing_sent(hubspot.push()) and hubspot.writes == writes


def test_a_created_deal_and_task_carry_their_associations_in_the_create_call(hubspot):
    contacts = [r[0] for r in hubspot.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 2")]
    hubspot.sql("INSERT INTO canonical.deals (id, version, title, amount, pipeline, stage, contacts) "
                "SELECT 'linked-deal', 1, 'Linked deal', 10, pipeline, stage, CAST(? AS JSON) FROM canonical.deals "
                "LIMIT 1", [json.dumps(contacts)])
    hubspot.sql("INSERT INTO canonical.tasks (id, version, title, due_at, completed, related) "
                "VALUES ('linked-task', 1, 'Call them', '2030-02-01T09:00:00Z', false, CAST(? AS JSON))",
                [json.dumps({"kind": "contact", "id": contacts[0]})])
    sent = hubspot.push()
    assert (sent.entities["deal"]["created"], sent.entities["task"]["created"]) == (1, 1), sent.entities
    assert hubspot.writes == 2  # one batch create each, associations inside
    deal, task = hubspot.linked("deal", "linked-deal"), hubspot.linked("task", "linked-task")
    assert _associated(hubspot, "deals", "contacts", deal) == _remote(hubspot, "contact", contacts)
    assert _associated(hubspot, "tasks", "contacts", task) == [hubspot.linked("contact", contacts[0])]
    assert _associated(hubspot, "tasks", "deals", task) == []
    hubspot.pull()
    assert json.loads(hubspot.sql("SELECT CAST(related AS VARCHAR) FROM canonical.tasks WHERE id = 'linked-task'")[0][0]
                      ) == {"kind": "contact", "id": contacts[0]}
    assert nothing_sent(hubspot.push())


def test_a_task_moved_from_its_contact_to_a_deal_loses_the_contact_association(hubspot):
    task, related = hubspot.sql("SELECT id, CAST(related AS VARCHAR) FROM canonical.tasks "
                                "WHERE related->>'kind' = 'contact' ORDER BY id LIMIT 1")[0]
    deal = hubspot.sql("SELECT min(id) FROM canonical.deals")[0][0]
    remote = hubspot.linked("task", task)
    assert _associated(hubspot, "tasks", "contacts", remote) == [hubspot.linked("contact", json.loads(related)["id"])]
    hubspot.sql("UPDATE canonical.tasks SET related = CAST(? AS JSON), title = 'Moved', updated_at = now() "
                "WHERE id = ?", [json.dumps({"kind": "deal", "id": deal}), task])
    sent = hubspot.push()
    assert sent.entities["task"]["updated"] == 1 and sent.entities["task"]["rejected"] == 0, sent.entities
    assert _associated(hubspot, "tasks", "contacts", remote) == []
    assert _associated(hubspot, "tasks", "deals", remote) == [hubspot.linked("deal", deal)]
    assert hubspot.record("task", remote, "hs_task_subject")["properties"]["hs_task_subject"] == "Moved"
    hubspot.pull()
    assert json.loads(hubspot.sql("SELECT CAST(related AS VARCHAR) FROM canonical.tasks WHERE id = ?", [task])[0][0]
                      ) == {"kind": "deal", "id": deal}
    assert nothing_sent(hubspot.push())


def test_an_association_call_whose_answer_is_lost_is_sent_again_and_links_once(hubspot):
    """Associating is idempotent by nature: a pair is linked or not, so the session repeats the call
    whose answer was lost, and HubSpot holds the association once."""
    deal, contacts = _deal_with_contacts(hubspot)
    extra = next(r[0] for r in hubspot.sql("SELECT id FROM canonical.contacts ORDER BY id") if r[0] not in contacts)
    hubspot.sql("UPDATE canonical.deals SET contacts = CAST(? AS JSON), updated_at = now() WHERE id = ?",
                [json.dumps([*contacts, extra]), deal])
    hubspot.server.faults.add_spec("drop-after:x1@/crm/v4/associations/deals/contacts/batch/associate/default")
    sent = hubspot.push()
    assert hubspot.server.faults.injected == {"drop-after": 1}
    assert sent.entities["deal"]["updated"] == 1 and sent.entities["deal"]["rejected"] == 0, sent.entities
    remote = hubspot.linked("deal", deal)
    assert _associated(hubspot, "deals", "contacts", remote) == _remote(hubspot, "contact", [*contacts, extra])
    body = requests.get(f"{hubspot.server.url}/crm/v4/objects/deals/{remote}/associations/contacts", headers=TOKEN,
                        timeout=10).json()
    assert [len(r["associationTypes"]) for r in body["results"]] == [1] * (len(contacts) + 1)  # once each
    assert hubspot.sql("SELECT count(*) FROM sync.outbox WHERE status NOT IN ('sent', 'superseded')") == [(0,)]
    hubspot.pull()
    assert nothing_sent(hubspot.push())


def test_a_lost_create_of_a_deal_with_contacts_is_found_with_its_associations_not_made_twice(hubspot):
    # listed against HubSpot's order (it answers associations by id): the same links in another order
    # are still what the create wrote
    contacts = [r[0] for r in hubspot.sql("SELECT canonical_id FROM sync.links WHERE entity = 'contact' "
                                          "AND connection = 'hubspot' ORDER BY CAST(remote_id AS BIGINT) DESC LIMIT 2")]
    before = hubspot.count("deal")
    hubspot.sql("INSERT INTO canonical.deals (id, version, title, amount, pipeline, stage, contacts) "
                "SELECT 'lost-deal', 1, 'Lost deal', 10, pipeline, stage, CAST(? AS JSON) FROM canonical.deals "
                "LIMIT 1", [json.dumps(contacts)])
    hubspot.server.faults.add_spec("drop-after:x1@/crm/v3/objects/deals/batch/create")
    sent = hubspot.push()
    assert hubspot.server.faults.injected == {"drop-after": 1}
    assert sent.entities["deal"]["created"] == 1
    assert hubspot.count("deal") == before + 1
    remote = hubspot.linked("deal", "lost-deal")
    assert _associated(hubspot, "deals", "contacts", remote) == _remote(hubspot, "contact", contacts)
    hubspot.pull()
    assert nothing_sent(hubspot.push()) and hubspot.count("deal") == before + 1


def test_a_batch_refused_for_one_input_is_sent_again_one_by_one_and_only_that_one_is_set_aside(hubspot):
    """HubSpot refuses a whole batch create for one bad input (two new contacts with one e-mail) and
    writes none of it: each is sent alone, the others are created, the duplicate is set aside."""
    before = hubspot.count("contact")
    for cid, name, email in (("dup-1", "Ann", "same@example.org"), ("dup-2", "Anna", "same@example.org"),
                             ("fine", "Bob", "bob@example.org")):
        hubspot.sql("INSERT INTO canonical.contacts (id, version, first_name, emails) "
                    "VALUES (?, 1, ?, CAST(? AS JSON))", [cid, name, json.dumps([{"value": email, "type": "work"}])])
    sent = hubspot.push()
    assert (sent.entities["contact"]["created"], sent.entities["contact"]["rejected"]) == (2, 1), sent.entities
    assert hubspot.count("contact") == before + 2
    reasons = hubspot.sql("SELECT reason FROM sync.rejected WHERE direction = 'push'")
    assert len(reasons) == 1 and "Contact already exists" in reasons[0][0]
    assert hubspot.record("contact", hubspot.linked("contact", "fine"), "firstname")["properties"]["firstname"] == "Bob"
