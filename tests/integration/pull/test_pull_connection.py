"""Pull both fake CRMs into canonical tables: stable ids, incremental changes, history, no echo."""

import json
import shutil

import duckdb
import pytest
import requests

from crmsync.mapping import load_canonical, load_mapping
from crmsync.project import Project, builtin_project_dir
from crmsync.pull import pull_connection
from tests.integration.fake_sessions import fake_session
from tests.integration.fake_sessions import store_rows as query
from tests.store_plugin import both_stores

ENTITIES = ["contact", "deal", "task"]
NATIVE_CONTACT = {"amocrm": "contacts", "bitrix24": "contact"}


@pytest.fixture
def project(tmp_path):
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, tmp_path / folder)
    return Project(tmp_path)


def clean_and_killed(tmp_path, fake_crm):
    """Two projects with the shipped specs (one to run cleanly, one to kill mid-pull) and the AmoCRM fake
    both read: 130 contacts, 60 deals, 40 tasks."""
    projects = [Project(tmp_path / n) for n in ("clean", "killed")]
    for p in projects:
        for folder in ("connectors", "mappings"):
            shutil.copytree(builtin_project_dir() / folder, p.root / folder)
    return *projects, fake_crm("amocrm", contacts=130, deals=60, tasks=40, rate_limit=False)


def puller(project, crm, server, store="crmsync.duckdb"):
    connector, session, base = fake_session(project, crm, server)
    mappings = {e: load_mapping(project.mappings_dir / crm / f"{e}.yaml") for e in ENTITIES}

    def pull(**kw):
        return pull_connection(project, pipeline=crm, connection=crm, crm=crm, connector=connector,
                               mappings=mappings, canonical=load_canonical(project.root), entities=ENTITIES,
                               session=session, base_url=base, store=store, **kw)
    return pull



@both_stores
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_first_pull_then_only_changes(project, fake_crm, crm, store):
    server = fake_crm(crm, contacts=400, deals=120, tasks=90, rate_limit=False)
    pull = puller(project, crm, server, store.name)

    def query(project, sql, params=()):
        return store.rows(project, sql, params)

    first = pull()
    assert {e: (c["read"], c["new_rows"], c["rejected"]) for e, c in first.entities.items()} == {
        "contact": (400, 400, 0), "deal": (120, 120, 0), "task": (90, 90, 0)}
    ids_before = dict(query(project, "SELECT remote_id, canonical_id FROM sync.links WHERE entity = 'contact'"))

    touched = requests.post(server.url + "/_fake/touch",
                            json={"entity": NATIVE_CONTACT[crm], "count": 4}).json()["touched"]
    second = pull()
    assert second.entities["contact"]["read"] == 4 and second.entities["contact"]["applied"] == 4
    assert second.entities["deal"]["read"] == 0 and second.entities["task"]["read"] == 0
    assert dict(query(project, "SELECT remote_id, canonical_id FROM sync.links WHERE entity = 'contact'")) \
        == ids_before  # canonical ids are stable
    names = {str(t.get("id", t.get("ID"))): t.get("name", t.get("NAME")) for t in touched}
    for remote_id, name in names.items():
        (row,) = query(project, "SELECT c.first_name, c.name, c.version FROM canonical.contacts c JOIN sync.links l "
                                "ON l.canonical_id = c.id WHERE l.entity = 'contact' AND l.remote_id = ?",
                       [remote_id])
        assert name in (row[0], row[1]) and row[2] == 2
    history = query(project, "SELECT count(DISTINCT canonical_id) FROM sync.changes WHERE run_id = ?",
                    [second.run_id])
    assert history == [(4,)]
    third = pull()
    assert all(c["applied"] == 0 for c in third.entities.values())
    runs = query(project, "SELECT kind, status FROM sync.runs ORDER BY started_at")
    assert runs == [("pull", "ok")] * 3


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_deals_link_to_canonical_contacts(project, fake_crm, crm):
    server = fake_crm(crm, contacts=50, deals=40, tasks=30, rate_limit=False)
    puller(project, crm, server)()
    orphans = query(project, """
        SELECT count(*) FROM canonical.deals d, unnest(CAST(d.contacts AS VARCHAR[])) AS u(cid)
        WHERE cid NOT IN (SELECT id FROM canonical.contacts)""")
    assert orphans == [(0,)]
    linked = query(project, "SELECT count(*) FROM canonical.deals WHERE json_array_length(contacts) > 0")
    assert linked[0][0] > 20


@both_stores
@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_deletions_show_up_as_deleted_at(project, fake_crm, crm, store):
    server = fake_crm(crm, contacts=60, deals=10, tasks=10, rate_limit=False)
    pull = puller(project, crm, server, store.name)

    def query(project, sql, params=()):
        return store.rows(project, sql, params)

    pull()
    victims = [str(r[0]) for r in query(project, "SELECT remote_id FROM sync.links WHERE entity = 'contact' "
                                                 "AND base IS NOT NULL ORDER BY remote_id LIMIT 2")]
    for rid in victims:
        assert requests.post(server.url + "/_fake/delete", json={"entity": NATIVE_CONTACT[crm], "id": int(rid)}).ok
    second = pull()
    assert second.entities["contact"]["deleted"] == 2
    gone = query(project, "SELECT l.remote_id FROM canonical.contacts c JOIN sync.links l ON l.canonical_id = c.id "
                          "WHERE l.entity = 'contact' AND c.deleted_at IS NOT NULL")
    assert sorted(r[0] for r in gone) == sorted(victims)
    assert query(project, "SELECT count(*) FROM canonical.contacts") == [(60,)]  # marked, never removed
    assert pull().entities["contact"]["deleted"] == 0  # already marked: not counted twice


def test_an_id_scan_only_looks_for_records_linked_before_the_run(project, fake_crm):
    """Bitrix24 has no delete feed: a pull lists every id to find the missing ones. A first pull has
    just read every record, so it does not; the next pull does, and finds a deletion."""
    from urllib.parse import unquote

    server = fake_crm("bitrix24", contacts=60, deals=10, tasks=10, rate_limit=False)
    connector, session, base = fake_session(project, "bitrix24", server)
    scans: list[str] = []

    def note_scan(response, **_):
        body = unquote(response.request.body.decode() if isinstance(response.request.body, bytes) else "")
        if "/batch" in (response.request.url or "") and "crm.contact.list" in body and "UF_" not in body:
            scans.append(body)  # the id scan selects ID alone; the read also asks for user fields
        return response

    session.hooks["response"].append(note_scan)
    mappings = {e: load_mapping(project.mappings_dir / "bitrix24" / f"{e}.yaml") for e in ENTITIES}

    def pull_with_hook():
        return pull_connection(project, pipeline="bitrix24", connection="bitrix24", crm="bitrix24",
                               connector=connector, mappings=mappings, canonical=load_canonical(project.root),
                               entities=ENTITIES, session=session, base_url=base, store="crmsync.duckdb")

    assert pull_with_hook().entities["contact"]["new_rows"] == 60
    assert scans == []
    assert requests.post(server.url + "/_fake/delete", json={"entity": "contact", "id": 7}).ok
    assert pull_with_hook().entities["contact"]["deleted"] == 1
    assert len(scans) == 1


def test_a_run_that_died_after_loading_raw_data_is_finished_by_the_next(project, fake_crm):
    from crmsync.read.run import read_connection

    server = fake_crm("amocrm", contacts=80, deals=10, tasks=10, rate_limit=False)
    pull = puller(project, "amocrm", server)
    pull()
    requests.post(server.url + "/_fake/touch", json={"entity": "contacts", "count": 5})
    # The dlt load commits (and moves the cursor), then the process dies before the canonical apply.
    connector, session, base = fake_session(project, "amocrm", server)
    read_connection(project, connection="amocrm", connector=connector, entities=ENTITIES, session=session,
                    base_url=base, store="crmsync.duckdb")
    after = pull()
    assert after.entities["contact"]["read"] == 0       # the CRM has nothing new for us...
    assert after.entities["contact"]["applied"] == 5    # ...but the 5 loaded rows reach canonical now
    assert pull().entities["contact"]["applied"] == 0


def canonical_snapshot(project):
    """Canonical content keyed by CRM id (canonical ids differ between two stores)."""
    out = {}
    for table, entity in (("contacts", "contact"), ("deals", "deal"), ("tasks", "task")):
        rows = query(project, f"SELECT l.remote_id, c.* EXCLUDE (id, version) FROM canonical.{table} c "
                              "JOIN sync.links l ON l.canonical_id = c.id AND l.entity = ?", [entity])
        out[entity] = {r[0]: r[1:] for r in rows}
    links = query(project, "SELECT entity, remote_id, canonical_id FROM sync.links")
    ids = {cid: f"{e}:{rid}" for e, rid, cid in links}
    # canonical ids inside values (deal contacts, task targets) are store-specific: compare by CRM id
    return {e: {rid: tuple(_rekey(v, ids) for v in vals) for rid, vals in rows.items()} for e, rows in out.items()}


def _rekey(value, ids):
    if isinstance(value, str):
        for cid, key in ids.items():
            if cid in value:
                value = value.replace(cid, key)
    return value


@pytest.mark.parametrize("crm", ["amocrm", "bitrix24"])
def test_faults_end_in_the_same_canonical_data_as_a_clean_run(tmp_path, fake_crm, crm):
    clean_project, faulty_project = (Project(tmp_path / n) for n in ("clean", "faulty"))
    for p in (clean_project, faulty_project):
        for folder in ("connectors", "mappings"):
            shutil.copytree(builtin_project_dir() / folder, p.root / folder)
    clean = fake_crm(crm, contacts=600, deals=80, tasks=80, rate_limit=False)
    faulty = fake_crm(crm, contacts=600, deals=80, tasks=80, rate_limit=False, fault_seed=7,
                      faults=["429:0.1", "503:0.1", "500:0.05", "drop:0.05", "truncate:0.05"])
    puller(clean_project, crm, clean)()
    pull = puller(faulty_project, crm, faulty)
    result = pull()
    assert sum(faulty.faults.injected.values()) > 0
    assert all(c["rejected"] == 0 for c in result.entities.values())
    assert canonical_snapshot(faulty_project) == canonical_snapshot(clean_project)


def add_contact_with_a_broken_email(server):
    """A contact the mapping sets aside (its e-mail is not one); its AmoCRM id."""
    bad = [{"name": "Broken E-mail", "custom_fields_values": [
        {"field_code": "EMAIL", "values": [{"value": "not an e-mail", "enum_code": "WORK"}]}]}]
    created = requests.post(server.url + "/api/v4/contacts", json=bad, timeout=10,
                            headers={"Authorization": "Bearer demo-token"}).json()
    return str(created["_embedded"]["contacts"][0]["id"])


def test_a_record_that_fails_mapping_is_set_aside_and_the_rest_goes_through(project, fake_crm):
    server = fake_crm("amocrm", contacts=30, deals=5, tasks=5, rate_limit=False)
    bad_id = add_contact_with_a_broken_email(server)
    result = puller(project, "amocrm", server)()
    assert result.entities["contact"]["read"] == 31
    assert result.entities["contact"]["rejected"] == 1 and result.entities["contact"]["applied"] == 30
    (row,) = query(project, "SELECT remote_id, field, reason FROM sync.rejected WHERE run_id = ?", [result.run_id])
    assert row[0] == bad_id and row[1] == "emails" and "not an e-mail" in row[2]


def test_a_record_set_aside_by_a_killed_run_is_set_aside_once_by_the_run_that_finishes(project, fake_crm):
    server = fake_crm("amocrm", contacts=30, deals=0, tasks=0, rate_limit=False)
    bad_id = add_contact_with_a_broken_email(server)
    pull = puller(project, "amocrm", server)

    def killed(entity):  # dies once its one chunk of 31 contacts is committed
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        pull(chunk_size=31, on_chunk=killed)
    assert query(project, "SELECT count(*) FROM sync.rejected WHERE remote_id = ?", [bad_id]) == [(1,)]
    result = pull()  # maps the same raw rows again
    assert result.entities["contact"]["rejected"] == 1
    assert query(project, "SELECT run_id FROM sync.rejected WHERE remote_id = ?", [bad_id]) == [(result.run_id,)]


def test_a_new_custom_field_and_a_new_enum_option_do_not_break_a_run(project, fake_crm):
    from crmsync.fakes.amocrm.fields import Enum, FieldBook, FieldDef

    server = fake_crm("amocrm", contacts=20, deals=5, tasks=5, rate_limit=False)
    pull = puller(project, "amocrm", server)
    pull()
    # Someone adds a field the mapping does not know, and a new option to a select it does know.
    book = server.app.account.fields["contacts"]
    source = next(f for f in book.fields if f.name == "Источник")
    source.enums.append(Enum(990001, "Партнёр", 99))
    book.fields.append(FieldDef(990100, "Любимый цвет", "text", "contacts", 900))
    server.app.account.fields["contacts"] = FieldBook(book.fields)
    contact = query(project, "SELECT remote_id FROM sync.links WHERE entity = 'contact' AND base IS NOT NULL "
                             "ORDER BY remote_id LIMIT 1")[0][0]
    r = requests.patch(server.url + "/api/v4/contacts", headers={"Authorization": "Bearer demo-token"}, timeout=10,
                       json=[{"id": int(contact), "custom_fields_values": [
                           {"field_id": 990100, "values": [{"value": "зелёный"}]},
                           {"field_id": source.id, "values": [{"enum_id": 990001}]}]}])
    assert r.status_code == 200, r.text
    result = pull()
    assert result.entities["contact"] == {"read": 1, "applied": 1, "new_rows": 0, "unchanged": 0, "rejected": 0,
                                          "deleted": 0, "conflicts": 0, "matched": 0}
    (custom,) = query(project, "SELECT c.custom FROM canonical.contacts c JOIN sync.links l ON l.canonical_id = c.id "
                               "WHERE l.entity = 'contact' AND l.remote_id = ?", [contact])[0]
    assert json.loads(custom)["source"] == "Партнёр"


def test_a_local_edit_survives_a_pull_of_other_changes_and_clashes_are_recorded(project, fake_crm):
    server = fake_crm("amocrm", contacts=10, deals=2, tasks=2, rate_limit=False)
    pull = puller(project, "amocrm", server)
    pull()
    (remote_id, cid), (other_remote, other_cid) = query(
        project, "SELECT remote_id, canonical_id FROM sync.links WHERE entity = 'contact' AND base IS NOT NULL "
                 "ORDER BY remote_id LIMIT 2")
    con = duckdb.connect(str(project.store_path()))
    con.execute("UPDATE canonical.contacts SET position = 'Edited locally' WHERE id IN (?, ?)", [cid, other_cid])
    con.close()
    # In the CRM: the first contact gets a new name (another field), the second a new position (the same field).
    headers = {"Authorization": "Bearer demo-token"}
    requests.patch(server.url + "/api/v4/contacts", headers=headers, timeout=10, json=[
        {"id": int(remote_id), "first_name": "CrmRenamed"},
        {"id": int(other_remote), "custom_fields_values": [{"field_code": "POSITION", "values": [{"value": "CRM"}]}]},
    ]).raise_for_status()
    result = pull()
    assert result.entities["contact"]["applied"] == 2 and result.entities["contact"]["conflicts"] == 1
    rows = dict(query(project, "SELECT id, position FROM canonical.contacts WHERE id IN (?, ?)", [cid, other_cid]))
    assert rows[cid] == "Edited locally"     # the CRM changed another field: the local edit stays
    assert rows[other_cid] == "CRM"          # both changed it: the CRM wins for now, and it is on record
    (conflict,) = query(project, "SELECT canonical_id, field, json_extract_string(\"local\", '$'), "
                                 "json_extract_string(crm, '$'), policy, resolution, status FROM sync.conflicts")
    assert conflict == (other_cid, "position", "Edited locally", "CRM", "crm_wins", "crm", "resolved")
    (name,) = query(project, "SELECT first_name FROM canonical.contacts WHERE id = ?", [cid])[0]
    assert name == "CrmRenamed"


def test_more_rows_than_one_apply_chunk_all_arrive(project, fake_crm):
    """Apply works in chunks of 2,000 while the raw rows stream: every one of 4,500 must land once."""
    server = fake_crm("bitrix24", contacts=4500, deals=1, tasks=1, rate_limit=False)
    result = puller(project, "bitrix24", server)()
    assert result.entities["contact"]["read"] == 4500 and result.entities["contact"]["new_rows"] == 4500
    assert query(project, "SELECT count(*), count(DISTINCT id) FROM canonical.contacts") == [(4500, 4500)]


def test_a_long_pull_applies_round_by_round_and_a_failure_half_way_loses_nothing(project, fake_crm, monkeypatch):
    from crmsync.errors import CrmError

    monkeypatch.setenv("CRMSYNC_READ_ROUND_RECORDS", "500")
    server = fake_crm("amocrm", contacts=1600, deals=0, tasks=0, rate_limit=False)
    connector, session, base = fake_session(project, "amocrm", server)
    mappings = {e: load_mapping(project.mappings_dir / "amocrm" / f"{e}.yaml") for e in ENTITIES}
    get, failing = session.get, {"on": True}

    def flaky(url, **kw):  # the CRM fails for good on the 6th page of contacts
        if failing["on"] and url.endswith("/contacts") and kw.get("params", {}).get("page") == 6:
            raise CrmError("AmoCRM answered 500 to GET /api/v4/contacts: gone for lunch")
        return get(url, **kw)

    session.get = flaky

    def pull():
        return pull_connection(project, pipeline="amocrm", connection="amocrm", crm="amocrm", connector=connector,
                               mappings=mappings, canonical=load_canonical(project.root), entities=["contact"],
                               session=session, base_url=base, store="crmsync.duckdb")

    with pytest.raises(CrmError, match="gone for lunch"):
        pull()
    # the first two rounds (pages 1-4) were applied and committed before the failure
    assert query(project, "SELECT count(*) FROM canonical.contacts")[0][0] == 1000
    failing["on"] = False
    result = pull()  # the cursor had not moved: the listing is read again, what was applied compares unchanged
    assert result.rounds == 4
    assert result.entities["contact"]["read"] == 1600 and result.entities["contact"]["new_rows"] == 600
    assert result.entities["contact"]["unchanged"] == 1000
    assert query(project, "SELECT count(*), count(DISTINCT remote_id) FROM sync.links")[0] == (1600, 1600)
    assert query(project, "SELECT count(*) FROM canonical.contacts")[0][0] == 1600
    assert pull().entities["contact"]["read"] == 0
def test_a_pull_that_dies_during_the_apply_is_finished_by_the_next(tmp_path, fake_crm):
    # The apply commits each chunk (DuckDB would otherwise hold a whole pull's uncommitted rows in
    # memory): a run dying midway keeps its committed chunks, and the next one must end where a clean
    # run ends — every record once, references to the same ids, nothing lost.
    clean_project, killed_project, server = clean_and_killed(tmp_path, fake_crm)
    puller(clean_project, "amocrm", server)()
    chunks = []

    def dies_in_the_deals(entity):  # killed once the first chunk of deals is committed
        chunks.append(entity)
        if entity == "deal":
            raise RuntimeError("killed")

    pull = puller(killed_project, "amocrm", server)
    with pytest.raises(RuntimeError, match="killed"):
        pull(chunk_size=25, on_chunk=dies_in_the_deals)
    assert chunks == ["contact"] * 5 + ["deal"]
    # the contacts and the first chunk of deals were committed; the rest of the run was not
    assert query(killed_project, "SELECT count(*) FROM canonical.contacts") == [(130,)]
    assert query(killed_project, "SELECT count(*) FROM canonical.deals") == [(25,)]
    assert query(killed_project, "SELECT count(*) FROM sync.runs") == [(0,)]
    after = pull(chunk_size=25)
    assert after.entities["contact"]["read"] == 0 and after.entities["contact"]["applied"] == 0
    assert after.entities["deal"]["applied"] == 35 and after.entities["task"]["applied"] == 40
    assert canonical_snapshot(killed_project) == canonical_snapshot(clean_project)
    assert query(killed_project, "SELECT count(*), count(DISTINCT canonical_id) FROM sync.links "
                                 "WHERE entity = 'deal'") == [(60, 60)]
    assert pull().entities["deal"]["applied"] == 0
