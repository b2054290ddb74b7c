"""Deletions both ways, per the pipeline's ``deletes``, against both fake CRMs; no resurrection by a racing edit."""

import json
import shutil

import pytest
import requests

from crmsync.project import Project, builtin_project_dir
from crmsync.pull import pull_connection
from crmsync.push import push_connection
from tests.integration.push.test_push import Sync, first_name
from tests.store_plugin import both_stores


@pytest.fixture
def project(tmp_path):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project(tmp_path)


class Deletes(Sync):
    """A Sync whose pipeline has a ``deletes`` setting."""

    mode = "soft"

    def pull(self):
        return pull_connection(self.project, **self._args(), deletes=self.mode)

    def push(self, **kw):
        return push_connection(self.project, **self._args(), deletes=self.mode, **kw)

    def delete_in_crm(self, remote_id, entity="contacts"):
        native = entity if self.crm == "amocrm" else {"contacts": "contact", "leads": "deal"}.get(entity, entity)
        assert requests.post(self.server.url + "/_fake/delete", json={"entity": native, "id": int(remote_id)}).ok

    def edit_in_crm(self, remote_id, name):
        if self.crm == "amocrm":
            r = self.session.patch(f"{self.server.url}/api/v4/contacts/{remote_id}", json={"first_name": name})
        else:
            r = self.session.post(f"{self.base}/crm.contact.update", json={"id": remote_id, "fields": {"NAME": name}})
        assert r.ok, r.text

    def contact_exists(self, remote_id):
        if self.crm == "amocrm":
            return self.session.get(f"{self.server.url}/api/v4/contacts/{remote_id}").status_code == 200
        return "result" in self.session.get(f"{self.base}/crm.contact.get", params={"id": remote_id}).json()

    def some_contact(self, offset=0):
        (cid,) = self.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1 OFFSET ?", [offset])[0]
        return cid, self.remote_id("contact", cid)

    def deleted_at(self, cid):
        return self.sql("SELECT deleted_at FROM canonical.contacts WHERE id = ?", [cid])[0][0]

    def remote_deleted_at(self, cid):
        return self.sql("SELECT remote_deleted_at FROM sync.links WHERE entity = 'contact' AND connection = ? "
                        "AND canonical_id = ?", [self.crm, cid])[0][0]


def synced_with(project, fake_crm, crm, mode, store="crmsync.duckdb", **sizes):
    server = fake_crm(crm, **({"contacts": 30, "deals": 10, "tasks": 10} | sizes), rate_limit=False)
    sync = Deletes(project, crm, server, store=store)
    sync.mode = mode
    sync.pull()
    return sync


def nothing_written(result):
    return all(c["created"] == 0 and c["updated"] == 0 and c["deleted"] == 0 for c in result.entities.values())


# -- a deletion in the CRM, per setting ------------------------------------------------------------
# AmoCRM cannot delete through its API, so crmsync validate refuses hard there (tests/unit/specs).
@pytest.mark.parametrize(("crm", "mode"), [("amocrm", "soft"), ("amocrm", "never"),
                                           ("bitrix24", "soft"), ("bitrix24", "hard"), ("bitrix24", "never")])
def test_a_crm_deletion_follows_the_setting(project, fake_crm, crm, mode):
    sync = synced_with(project, fake_crm, crm, mode)
    cid, rid = sync.some_contact()
    sync.delete_in_crm(rid)
    pulled = sync.pull()
    assert pulled.entities["contact"]["deleted"] == (0 if mode == "never" else 1)
    assert (sync.deleted_at(cid) is None) == (mode == "never")
    assert sync.remote_deleted_at(cid) is not None  # every setting: the link knows the CRM record is gone
    assert sync.pull().entities["contact"]["deleted"] == 0  # not found twice

    # a local edit of that row afterwards goes nowhere: no update to a gone record, no re-create
    sync.sql("UPDATE canonical.contacts SET last_name = 'После' WHERE id = ?", [cid])
    writes = sync.writes
    assert nothing_written(sync.push())
    assert sync.writes == writes and not sync.contact_exists(rid)


def test_a_record_restored_in_amocrm_comes_back(project, fake_crm):
    sync = synced_with(project, fake_crm, "amocrm", "soft")
    cid, rid = sync.some_contact()
    sync.delete_in_crm(rid)
    sync.pull()
    assert sync.deleted_at(cid) is not None
    # Restored a while later (within the deletion's second the event and the record cannot be told apart:
    # the deletion wins then, and the record comes back with its next change).
    assert requests.post(sync.server.url + "/_fake/clock", json={"advance": 5}).ok
    assert requests.post(sync.server.url + "/_fake/restore", json={"entity": "contacts", "id": int(rid)}).ok
    sync.pull()
    assert sync.deleted_at(cid) is None and sync.remote_deleted_at(cid) is None
    assert sync.pull().entities["contact"]["deleted"] == 0  # the feed's old deletion event does not win again


# -- a local deletion, per setting -----------------------------------------------------------------
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
@pytest.mark.parametrize("mode", ["soft", "never"])
def test_a_local_deletion_stays_local_unless_hard(project, fake_crm, crm, mode):
    sync = synced_with(project, fake_crm, crm, mode)
    cid, rid = sync.some_contact()
    sync.sql("UPDATE canonical.contacts SET deleted_at = now(), last_name = 'Удалён' WHERE id = ?", [cid])
    writes = sync.writes
    assert nothing_written(sync.push())  # neither a delete nor the edit made with it
    assert sync.writes == writes and sync.contact_exists(rid)


@both_stores
def test_hard_sends_local_deletions_to_bitrix24_in_batches_once(project, fake_crm, store):
    sync = synced_with(project, fake_crm, "bitrix24", "hard", store.name, contacts=80, deals=10, tasks=10)
    doomed = [r[0] for r in sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 60")]
    (deal,) = sync.sql("SELECT id FROM canonical.deals ORDER BY id LIMIT 1")[0]
    (task,) = sync.sql("SELECT id FROM canonical.tasks ORDER BY id LIMIT 1")[0]
    sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id IN (SELECT unnest(?))", [doomed])
    for table, cid in (("deals", deal), ("tasks", task)):
        sync.sql(f"UPDATE canonical.{table} SET deleted_at = now() WHERE id = ?", [cid])
    remote = {cid: sync.remote_id("contact", cid) for cid in doomed}

    planned = sync.push(dry_run=True)
    assert planned.entities["contact"]["deleted"] == 60 and planned.entities["task"]["deleted"] == 1
    assert planned.plan["contact"]["deletes"][0]["kind"] == "delete"
    assert sync.writes == 0

    batches = []
    sync.session.hooks["response"].append(
        lambda r, **_: batches.append(r) if b"crm.contact.delete" in (r.request.body or b"") else None)
    result = sync.push()
    assert {e: c["deleted"] for e, c in result.entities.items()} == {"contact": 60, "deal": 1, "task": 1}
    assert len(batches) == 2  # 50 commands per batch
    assert not any(sync.contact_exists(rid) for rid in remote.values())
    assert sync.sql("SELECT count(*) FROM sync.links WHERE entity = 'contact' AND remote_deleted_at IS NOT NULL") \
        == [(60,)]
    history = sync.sql("SELECT count(*) FROM sync.changes WHERE run_id = ? AND field = 'deleted_at' "
                       "AND side = 'local→bitrix24'", [result.run_id])
    assert history == [(62,)]
    assert sync.sql("SELECT DISTINCT kind, status FROM sync.outbox WHERE kind = 'delete'") == [("delete", "sent")]
    assert sync.sql("SELECT count(*) FROM canonical.contacts") == [(80,)]  # marked, never removed

    writes = sync.writes
    assert nothing_written(sync.push())  # a second push after a hard delete sends nothing
    assert sync.writes == writes
    after = sync.pull()
    assert all(c["deleted"] == 0 for c in after.entities.values()), after.entities
    assert after.entities["contact"]["applied"] == 0 and after.entities["task"]["applied"] == 0
    # Bitrix24 itself drops a deleted contact from the deals it was on (within the same second):
    # that is a CRM-side change of the deal, and the only thing the pull brings.
    changed = sync.sql("SELECT DISTINCT field FROM sync.changes WHERE run_id = ?", [after.run_id])
    assert {f for (f,) in changed} <= {"contacts", "contact_id", "contact_ids"}, changed
    assert nothing_written(sync.push())


def test_hard_delete_of_a_record_already_gone_counts_once_and_stops(project, fake_crm):
    sync = synced_with(project, fake_crm, "bitrix24", "hard")
    cid, rid = sync.some_contact()
    sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [cid])
    sync.delete_in_crm(rid)  # the CRM got there first: "not found" means done
    assert sync.push().entities["contact"]["deleted"] == 1
    assert sync.remote_deleted_at(cid) is not None
    assert nothing_written(sync.push())


# -- no resurrection ---------------------------------------------------------------------------------
@both_stores
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_crm_deletion_beats_a_local_edit_and_the_edit_is_kept_in_sight(project, fake_crm, crm, store):
    sync = synced_with(project, fake_crm, crm, "soft", store.name)
    before = sync.count_contacts()
    cid, rid = sync.some_contact()
    sync.sql("UPDATE canonical.contacts SET last_name = 'Локально' WHERE id = ?", [cid])
    sync.delete_in_crm(rid)
    sync.pull()
    assert sync.deleted_at(cid) is not None
    assert sync.sql("SELECT last_name FROM canonical.contacts WHERE id = ?", [cid]) == [("Локально",)]
    lost = sync.sql("SELECT field, \"local\", crm, resolution FROM sync.conflicts WHERE canonical_id = ?", [cid])
    assert lost == [("last_name", '"Локально"', "null", "deleted_in_crm")]
    writes = sync.writes
    assert nothing_written(sync.push())
    assert sync.writes == writes and sync.count_contacts() == before - 1  # not re-created


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_an_update_to_a_record_deleted_meanwhile_marks_it_deleted_and_is_not_retried(project, fake_crm, crm):
    sync = synced_with(project, fake_crm, crm, "soft")
    before = sync.count_contacts()
    (gone, gone_rid), (kept, kept_rid) = sync.some_contact(0), sync.some_contact(1)
    sync.delete_in_crm(gone_rid)  # no pull in between: the push finds out from the CRM's answer
    sync.sql("UPDATE canonical.contacts SET last_name = 'Изменён' WHERE id IN (?, ?)", [gone, kept])
    result = sync.push()
    assert result.entities["contact"]["updated"] == 1 and result.entities["contact"]["rejected"] == 0
    raw = sync.fake_contact(kept_rid)
    assert (raw["last_name"] if crm == "amocrm" else raw["LAST_NAME"]) == "Изменён"
    assert sync.sql("SELECT status FROM sync.outbox WHERE canonical_id = ?", [gone]) == [("gone",)]
    assert sync.deleted_at(gone) is not None and sync.remote_deleted_at(gone) is not None
    lost = sync.sql("SELECT field, resolution FROM sync.conflicts WHERE canonical_id = ?", [gone])
    assert lost == [("last_name", "deleted_in_crm")]

    writes = sync.writes
    assert nothing_written(sync.push())
    assert sync.writes == writes and sync.count_contacts() == before - 1
    assert sync.pull().entities["contact"]["deleted"] == 0  # already known: the pull does not count it again


def test_a_local_hard_delete_beats_a_crm_edit_made_before_the_next_sync(project, fake_crm):
    sync = synced_with(project, fake_crm, "bitrix24", "hard")
    cid, rid = sync.some_contact()
    sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [cid])
    sync.edit_in_crm(rid, "Правка")
    pulled = sync.pull()
    assert pulled.entities["contact"]["applied"] == 1
    assert sync.deleted_at(cid) is not None  # the CRM's edit does not revive the row …
    assert sync.sql("SELECT first_name FROM canonical.contacts WHERE id = ?", [cid]) == [("Правка",)]  # … it lands
    assert sync.push().entities["contact"]["deleted"] == 1
    assert not sync.contact_exists(rid)
    assert nothing_written(sync.push())


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_a_local_soft_delete_is_not_undone_by_a_crm_edit(project, fake_crm, crm):
    sync = synced_with(project, fake_crm, crm, "soft")
    cid, rid = sync.some_contact()
    sync.sql("UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [cid])
    sync.edit_in_crm(rid, "Правка")
    sync.pull()
    assert sync.deleted_at(cid) is not None
    assert first_name(sync.fake_contact(rid), crm) == "Правка"
    assert nothing_written(sync.push())


# -- sync.links.remote_updated_at -------------------------------------------------------------------
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_links_carry_the_crm_records_modification_time(project, fake_crm, crm):
    sync = synced_with(project, fake_crm, crm, "soft")
    mismatched = sync.sql("SELECT count(*) FROM sync.links l JOIN canonical.contacts c ON c.id = l.canonical_id "
                          "WHERE l.entity = 'contact' AND l.remote_updated_at IS DISTINCT FROM c.updated_at")
    assert mismatched == [(0,)]
    assert sync.sql("SELECT count(*) FROM sync.links WHERE entity = 'contact' AND remote_updated_at IS NULL "
                    "AND base IS NOT NULL") == [(0,)]
    cid, rid = sync.some_contact()
    (was,) = sync.sql("SELECT remote_updated_at FROM sync.links WHERE canonical_id = ?", [cid])[0]
    requests.post(sync.server.url + "/_fake/clock", json={"advance": 120})
    sync.sql("UPDATE canonical.contacts SET last_name = 'Позже' WHERE id = ?", [cid])
    sync.push()
    (now,) = sync.sql("SELECT remote_updated_at FROM sync.links WHERE canonical_id = ?", [cid])[0]
    assert now > was  # the read-back after the push brought the CRM's new modification time


# -- Bitrix24 multi-fields -----------------------------------------------------------------------------
def test_bitrix24_phones_and_emails_are_replaced_and_cleared(project, fake_crm):
    sync = synced_with(project, fake_crm, "bitrix24", "soft")
    (cid,) = sync.sql("SELECT id FROM canonical.contacts WHERE json_array_length(phones) > 0 "
                      "AND json_array_length(emails) > 0 ORDER BY id LIMIT 1")[0]
    rid = sync.remote_id("contact", cid)
    sync.sql("UPDATE canonical.contacts SET phones = CAST(? AS JSON) WHERE id = ?",
             [json.dumps([{"value": "+79161234567", "type": "mobile"}]), cid])
    sync.push()
    assert [(p["VALUE"], p["VALUE_TYPE"]) for p in sync.fake_contact(rid)["PHONE"]] == [("+79161234567", "MOBILE")]

    sync.sql("UPDATE canonical.contacts SET phones = CAST('[]' AS JSON), emails = CAST('[]' AS JSON) "
             "WHERE id = ?", [cid])
    assert sync.push().entities["contact"]["updated"] == 1
    raw = sync.fake_contact(rid)
    assert not raw.get("PHONE") and not raw.get("EMAIL")
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())  # nothing echoes
    phones, emails = sync.sql("SELECT phones, emails FROM canonical.contacts WHERE id = ?", [cid])[0]
    assert json.loads(phones or "[]") == [] and json.loads(emails or "[]") == []
    assert nothing_written(sync.push())


# -- the CLI ------------------------------------------------------------------------------------------
def test_cli_validate_refuses_hard_for_amocrm_and_bitrix24_push_deletes(tmp_path, fake_crm):
    from tests.integration.push.test_push_cli import sql
    from tests.integration.test_pull_cli import run, run_here

    run_here(tmp_path, "init", str(tmp_path / "p"))
    root = tmp_path / "p"
    for name in ("amocrm", "bitrix24"):
        path = root / "pipelines" / f"{name}.yaml"
        path.write_text(path.read_text().replace("deletes: soft", "deletes: hard"))
    refused = run(root, "validate", ok=False)
    assert refused.returncode == 2 and "pipelines/amocrm.yaml:13: deletes: 'hard' sends local deletions" in \
        refused.stdout + refused.stderr
    amo = root / "pipelines" / "amocrm.yaml"
    amo.write_text(amo.read_text().replace("deletes: hard", "deletes: soft"))

    server = fake_crm("bitrix24", contacts=20, deals=5, tasks=5, rate_limit=False)
    run_here(root, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", server.url + "/rest/1/demo/")
    run_here(root, "pull", "bitrix24", "--json")
    (cid,) = sql(root, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(root, "UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [cid])
    shown = run_here(root, "push", "bitrix24", "--dry-run")
    assert f"delete {cid}" in shown and "deleted     1" in shown
    done = json.loads(run_here(root, "push", "bitrix24", "--json"))
    assert done["entities"]["contact"] == {"created": 0, "updated": 0, "deleted": 1, "conflicts": 0, "rejected": 0,
                                           "held": 0}
    again = json.loads(run_here(root, "push", "bitrix24", "--json"))
    assert all(c["deleted"] == 0 for c in again["entities"].values())
    pulled = json.loads(run_here(root, "pull", "bitrix24", "--json"))
    assert pulled["entities"]["contact"]["applied"] == 0
    assert sql(root, "SELECT deleted_at IS NOT NULL FROM canonical.contacts WHERE id = ?", [cid]) == [(True,)]

    # crmsync sync follows the same setting: a CRM deletion comes in, a local one goes out
    (other, theirs) = sql(root, "SELECT c.id, l.remote_id FROM canonical.contacts c JOIN sync.links l "
                                "ON l.canonical_id = c.id WHERE c.deleted_at IS NULL ORDER BY c.id LIMIT 2")
    sql(root, "UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", [other[0]])
    assert requests.post(server.url + "/_fake/delete", json={"entity": "contact", "id": int(theirs[1])}).ok
    synced = json.loads(run(root, "sync", "bitrix24", "--json").stdout)
    assert synced["pull"]["entities"]["contact"]["deleted"] == 1
    assert synced["push"]["entities"]["contact"]["deleted"] == 1
    assert sql(root, "SELECT count(*) FROM sync.links WHERE canonical_id IN (?, ?) AND remote_deleted_at IS NOT NULL",
               [other[0], theirs[0]]) == [(2,)]
