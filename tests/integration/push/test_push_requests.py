"""What a push costs in requests, and what happens when a batch fails while the next is ready.

Reading each written batch back is what keeps the next pull from taking our own writes for
changes; these tests pin how many requests that read-back takes and that it still does its job.
"""

import pytest

from crmsync.errors import CrmError
from tests.integration.push.test_push import Sync, project  # noqa: F401  (project is a fixture)


def routes(server, route):
    return server.stats.by_route.get(route, 0)


def batch_writes(server):
    return sum(1 for method, route, _ in server.stats.log if route.endswith("/batch"))


def three_edited(project, fake_crm, deals):  # noqa: F811
    """An AmoCRM fake of 30 contacts, pulled, and the first three contacts' last names edited by SQL."""
    server = fake_crm("amocrm", contacts=30, deals=deals, tasks=2, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    sync.sql("UPDATE canonical.contacts SET last_name = last_name || ' Изм' WHERE id IN "
             "(SELECT id FROM canonical.contacts ORDER BY id LIMIT 3)")
    return server, sync


def test_amocrm_reads_a_full_batch_back_in_one_request(project, fake_crm):  # noqa: F811
    server = fake_crm("amocrm", contacts=30, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    # A read-back of exactly one page: AmoCRM's ``next`` link would cost a request for an empty 204.
    sync.connector["paginator"]["size"] = 10
    sync.connector["entities"]["contact"]["update"]["batch_size"] = 10
    sync.sql("UPDATE canonical.contacts SET last_name = last_name || ' Изм' WHERE id IN "
             "(SELECT id FROM canonical.contacts ORDER BY id LIMIT 20)")
    server.stats.reset()
    assert sync.push().entities["contact"]["updated"] == 20
    assert routes(server, "PATCH /api/v4/contacts") == 2
    assert routes(server, "GET /api/v4/contacts") == 2  # one read-back per written batch
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())  # read back exactly as a pull sees it


METADATA = ("custom_fields", "users", "companies", "pipelines")


def metadata_asked(server):
    """The AmoCRM metadata routes asked for since the last reset, with how often."""
    return {route[len("GET /api/v4/"):]: n for route, n in server.stats.by_route.items()
            if route.startswith("GET ") and route.endswith(METADATA)}


def other_owner(sync, table="contacts"):
    """An owner's e-mail (a user the fake's account lists) that none of the first three rows of ``table`` has."""
    return sync.sql(f"SELECT owner FROM canonical.contacts WHERE owner IS NOT NULL AND owner NOT IN (SELECT owner "
                    f"FROM canonical.{table} WHERE owner IS NOT NULL ORDER BY id LIMIT 3) LIMIT 1")[0][0]


def test_a_push_fetches_only_the_metadata_the_fields_it_writes_use(project, fake_crm):  # noqa: F811
    server, sync = three_edited(project, fake_crm, deals=4)
    assert metadata_asked(server)["companies"] == 1  # the pull maps every field it reads: unchanged
    server.stats.reset()
    assert sync.push().entities["contact"]["updated"] == 3
    # last names look nothing up: no custom fields, users or companies (a pull-only field) asked for
    assert metadata_asked(server) == {}
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())  # the read-back base is complete
    first = [r[0] for r in sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 2")]
    sync.sql("UPDATE canonical.contacts SET phones = CAST('[{\"value\": \"+79161234567\", \"type\": \"mobile\"}]' "
             "AS JSON) WHERE id = ?", [first[0]])
    sync.sql("UPDATE canonical.contacts SET owner = ? WHERE id = ?", [other_owner(sync), first[1]])
    sync.sql("UPDATE canonical.deals SET owner = ? WHERE id IN (SELECT id FROM canonical.deals ORDER BY id LIMIT 1)",
             [other_owner(sync, "deals")])
    server.stats.reset()
    pushed = sync.push().entities
    assert pushed["contact"]["updated"] == 2 and pushed["deal"]["updated"] == 1
    # a phone: the contacts' custom fields; an owner: the users, once for contacts and deals; nothing else
    assert metadata_asked(server) == {"contacts/custom_fields": 1, "users": 1}
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())


def test_a_pushed_field_that_looks_up_companies_still_fetches_them(project, fake_crm):  # noqa: F811
    import dataclasses

    server, sync = three_edited(project, fake_crm, deals=2)
    spec = sync.mappings["contact"]
    sync.mappings["contact"] = dataclasses.replace(spec, fields=tuple(
        dataclasses.replace(f, direction="both") if f.name == "company" else f for f in spec.fields))
    cid, company = sync.sql("SELECT id, company FROM canonical.contacts WHERE company IS NOT NULL "
                            "ORDER BY id DESC LIMIT 1")[0]  # not one of the three edited
    other = sync.sql("SELECT company FROM canonical.contacts WHERE company IS NOT NULL AND company <> ? LIMIT 1",
                     [company])[0][0]
    sync.sql("UPDATE canonical.contacts SET company = ? WHERE id = ?", [other, cid])
    server.stats.reset()
    sync.push()
    assert metadata_asked(server) == {"companies": 1}  # only what the written fields look up
    assert sync.sql("SELECT count(*) FROM sync.outbox WHERE canonical_id = ? AND status = 'pending'", [cid]) == [(0,)]


def test_a_value_the_push_did_not_look_up_keeps_its_base_and_the_next_pull_brings_the_crms(project, fake_crm):  # noqa: F811
    # The push edits last names only, so it fetches no company list and cannot name a contact's company
    # in its read-back. Meanwhile someone linked one of those contacts to another company in the CRM: the
    # read-back's base keeps the company last agreed, and the next pull applies the CRM's change.
    server, sync = three_edited(project, fake_crm, deals=2)
    cid = sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0][0]
    remote = sync.remote_id("contact", cid)
    before = sync.sql("SELECT company FROM canonical.contacts WHERE id = ?", [cid])[0][0]
    companies = sync.session.get(f"{server.url}/api/v4/companies", params={"limit": 250}).json()
    other_id, other = next((c["id"], c["name"]) for c in companies["_embedded"]["companies"] if c["name"] != before)
    linked = [c["id"] for c in sync.fake_contact(remote)["_embedded"].get("companies", [])]
    for old in linked:
        sync.session.post(f"{server.url}/api/v4/contacts/{remote}/unlink",
                          json=[{"to_entity_id": old, "to_entity_type": "companies"}]).raise_for_status()
    sync.session.post(f"{server.url}/api/v4/contacts/{remote}/link",
                      json=[{"to_entity_id": other_id, "to_entity_type": "companies"}]).raise_for_status()
    server.stats.reset()
    assert sync.push().entities["contact"]["updated"] == 3
    assert "companies" not in metadata_asked(server)
    base = sync.sql("SELECT json_extract_string(base, '$.company') FROM sync.links WHERE canonical_id = ?", [cid])
    assert base == [(before,)]  # what was last agreed, not a guess
    assert sync.sql("SELECT company FROM canonical.contacts WHERE id = ?", [cid]) == [(before,)]
    pulled = sync.pull().entities["contact"]
    assert pulled["applied"] == 1  # the CRM's change, and only that record
    assert sync.sql("SELECT company FROM canonical.contacts WHERE id = ?", [cid]) == [(other,)]
    assert sync.sql("SELECT count(*) FROM sync.changes WHERE canonical_id = ? AND field = 'company' "
                    "AND side = 'crm:amocrm'", [cid]) == [(1,)]
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())


def test_new_records_are_read_back_with_the_whole_catalog(project, fake_crm):  # noqa: F811
    # A new record has no agreed value to keep: what the CRM set on it (its owner) is looked up.
    server, sync = three_edited(project, fake_crm, deals=2)
    sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
             "SELECT 'new-' || i, 1, 'Имя' || i, 'Новый' FROM range(3) t(i)")
    server.stats.reset()
    pushed = sync.push().entities["contact"]
    assert pushed["created"] == 3 and pushed["updated"] == 3
    assert set(metadata_asked(server)) == {"contacts/custom_fields", "users", "companies"}
    assert sync.sql("SELECT count(*) FROM canonical.contacts WHERE id LIKE 'new-%' AND owner IS NOT NULL") == [(3,)]
    assert all(c["applied"] == 0 for c in sync.pull().entities.values())


def test_bitrix24_reads_the_written_records_back_inside_the_write_batch(project, fake_crm):  # noqa: F811
    server = fake_crm("bitrix24", contacts=60, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, "bitrix24", server)
    sync.pull()
    sync.sql("UPDATE canonical.contacts SET first_name = first_name || ' Изм' WHERE first_name IS NOT NULL")
    updated = sync.sql("SELECT count(*) FROM canonical.contacts WHERE first_name LIKE '% Изм'")[0][0]
    for kind, changed in (("updated", updated), ("created", 60)):
        if kind == "created":
            sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name, emails) "
                     "SELECT 'rb-' || i, 1, 'Имя' || i, 'Фамилия', CAST('[{\"value\": \"rb' || i || "
                     "'@example.com\", \"type\": \"work\"}]' AS JSON) FROM range(60) t(i)")
        server.stats.reset()
        assert sync.push().entities["contact"][kind] == changed
        # 49 writes and one list call per batch, no read-back request of its own
        assert batch_writes(server) == -(-changed // 49)
        after = sync.pull().entities["contact"]
        assert after["applied"] == 0 and after["new_rows"] == 0
    # canonical took what the CRM set on the created records, as a read-back does
    assert sync.sql("SELECT count(*) FROM canonical.contacts WHERE id LIKE 'rb-%' AND created_at IS NULL") == [(0,)]
    writes = sync.writes
    assert all(c["created"] == 0 and c["updated"] == 0 for c in sync.push().entities.values())
    assert sync.writes == writes


def test_a_failed_batch_stops_the_push_after_recording_the_ones_before(project, fake_crm):  # noqa: F811
    server = fake_crm("amocrm", contacts=30, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, "amocrm", server)
    sync.pull()
    sync.session._sleep = lambda _: None  # the retries of the failing batch need not back off here
    sync.connector["entities"]["contact"]["update"]["batch_size"] = 10
    ids = [r[0] for r in sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 30")]
    sync.sql("UPDATE canonical.contacts SET last_name = 'Партия' WHERE id IN (SELECT unnest(?))", [ids])

    def fail_after_first_read_back(response, **_):  # from batch 2 on, every write is refused with a 500
        if "filter%5Bid%5D" in response.request.url and not server.faults.rules():
            server.faults.add(500, count=1000, path="/api/v4/contacts")
        return response

    sync.session.hooks["response"].append(fail_after_first_read_back)
    with pytest.raises(CrmError, match="could not be asked what became of them.*still failing"):
        sync.push()
    sync.session.hooks["response"].remove(fail_after_first_read_back)
    server.faults.clear()
    status = dict(sync.sql("SELECT status, count(*) FROM sync.outbox GROUP BY status"))
    # batch 2's 500 may have come after the CRM ran it: 'unknown', checked before it is sent again
    # (here the check's reads failed too); batch 3 was never handed over
    assert status == {"sent": 10, "unknown": 10, "pending": 10}
    sent = [r[0] for r in sync.sql("SELECT canonical_id FROM sync.outbox WHERE status = 'sent'")]
    assert sync.sql("SELECT count(*) FROM sync.links WHERE canonical_id IN (SELECT unnest(?)) "
                    "AND json_extract_string(base, '$.last_name') = 'Партия'", [sent]) == [(10,)]
    assert sync.push().entities["contact"]["updated"] == 20  # the rest goes out next time
    assert sync.pull().entities["contact"]["applied"] == 0


def test_bitrix24_finds_lost_creates_fifty_keys_a_request(project, fake_crm, monkeypatch):  # noqa: F811
    server = fake_crm("bitrix24", contacts=5, deals=2, tasks=2, rate_limit=False)
    sync = Sync(project, "bitrix24", server)
    sync.pull()
    before = sync.count_contacts()
    sync.sql("INSERT INTO canonical.contacts (id, version, first_name, last_name) "
             "SELECT 'lost-' || i, 1, 'Имя' || i, 'Потерянный' FROM range(60) t(i)")
    monkeypatch.setenv("CRMSYNC_TEST_CRASH_AFTER_SEND", "1")  # dies before recording the first batch
    with pytest.raises(RuntimeError):
        sync.push()
    monkeypatch.delenv("CRMSYNC_TEST_CRASH_AFTER_SEND")
    lost = sync.sql("SELECT count(*) FROM sync.outbox WHERE status = 'sending'")[0][0]
    assert lost == 60  # the batch on the wire when it died reached the CRM too
    lookups = []

    def note_lookup(response, **_):
        body = response.request.body or b""
        if b"ORIGIN_ID" in body and b".add?" not in body:
            lookups.append(response)
        return response

    sync.session.hooks["response"].append(note_lookup)
    result = sync.push()
    assert result.entities["contact"]["created"] == 60 and len(lookups) == 2  # was one request per create
    assert sync.count_contacts() == before + 60
    assert sync.sql("SELECT count(DISTINCT remote_id) FROM sync.links WHERE canonical_id LIKE 'lost-%'") == [(60,)]


def test_the_metadata_leaves_on_its_own_thread_once_the_planning_finds_a_row_to_write(project, fake_crm):  # noqa: F811
    # At the rate limit each request holds a slot of the CRM's window for a second: metadata asked for
    # while the rest of the rows are still compared frees its slots before the writes need them.
    import threading

    server, sync = three_edited(project, fake_crm, deals=2)
    sync.sql("UPDATE canonical.contacts SET phones = CAST('[{\"value\": \"+79161234567\", \"type\": \"mobile\"}]' "
             "AS JSON) WHERE id IN (SELECT id FROM canonical.contacts ORDER BY id LIMIT 3)")
    seen = []
    sync.session.hooks["response"].append(
        lambda response, **_: seen.append((threading.current_thread().name, response.request.method,
                                           response.request.path_url.split("?")[0])) or response)
    assert sync.push().entities["contact"]["updated"] == 3
    metadata = [(thread, path) for thread, _, path in seen if path.endswith(METADATA)]
    assert metadata == [("crmsync-metadata", "/api/v4/contacts/custom_fields")]  # phones: their field ids only
    first_write = next(i for i, (_, method, _) in enumerate(seen) if method == "PATCH")
    assert all(seen.index((t, "GET", p)) < first_write for t, p in metadata)
    assert sync.pull().entities["contact"]["applied"] == 0  # the read-back was mapped with that metadata
    seen.clear()
    assert sync.push().entities["contact"]["updated"] == 0
    assert seen == []  # nothing to write: no metadata asked for, no thread started


def test_metadata_the_crm_refuses_stops_the_push_before_any_write(project, fake_crm):  # noqa: F811
    import threading

    server, sync = three_edited(project, fake_crm, deals=2)
    sync.sql("UPDATE canonical.contacts SET owner = ? WHERE id IN (SELECT id FROM canonical.contacts ORDER BY id "
             "LIMIT 3)", [other_owner(sync)])  # an owner is written by the user's id: the users are needed
    server.faults.add(403, count=1000, path="/api/v4/users")
    server.stats.reset()
    with pytest.raises(CrmError, match="403.*/api/v4/users.*blocked this IP"):
        sync.push()
    assert routes(server, "PATCH /api/v4/contacts") == 0
    assert not [t for t in threading.enumerate() if t.name == "crmsync-metadata"]
    assert sync.sql("SELECT count(*) FROM sync.outbox WHERE status <> 'pending'") == [(0,)]
    server.faults.clear()
    assert sync.push().entities["contact"]["updated"] == 3


def test_a_field_the_crm_dropped_after_the_push_looked_it_up_is_refused_and_the_next_run_looks_again(
        project, fake_crm):  # noqa: F811
    # The push looks the custom fields up in this run, seconds before it writes; if an admin deletes one
    # in between, the CRM refuses that record (it is set aside with the CRM's words), the others in the
    # same array are written, and the next run fetches the fields again and names the one that is gone.
    from crmsync.mapping import MappingError

    server, sync = three_edited(project, fake_crm, deals=2)
    cid = sync.sql("SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0][0]
    sync.sql("UPDATE canonical.contacts SET custom = json_merge_patch(COALESCE(custom, '{}'), '{\"budget\": 12345}') "
             "WHERE id = ?", [cid])
    delete_field_after_lookup(server, sync, "Бюджет")
    pushed = sync.push().entities["contact"]
    assert pushed["updated"] == 2 and pushed["rejected"] == 1
    remote = int(sync.remote_id("contact", cid))
    reason = sync.sql("SELECT reason FROM sync.rejected WHERE direction = 'push' AND remote_id = ?", [str(remote)])
    assert len(reason) == 1 and "field_id" in reason[0][0], reason  # the CRM's words about the field it dropped
    contact = sync.fake_contact(remote)
    assert not contact["last_name"].endswith("Изм")  # nothing of the refused record was written
    values = [str(x.get("value")) for v in contact.get("custom_fields_values") or [] for x in v.get("values") or []]
    assert "12345" not in values
    with pytest.raises(MappingError, match="no custom field with name 'Бюджет'"):
        sync.push()  # the next run asks again and says which field the mapping names that is gone


def delete_field_after_lookup(server, sync, name):
    """An admin deletes the contact custom field ``name`` in the fake AmoCRM right after the push looked the
    custom fields up: the push maps with a field the CRM no longer has."""
    book = server.app.account.fields["contacts"]
    field = next(f for f in book.fields if f.name == name)

    def drop(response, **_):
        if response.request.path_url.startswith("/api/v4/contacts/custom_fields") and field.id in book.by_id:
            book.fields.remove(field)
            del book.by_id[field.id]
            book.by_key.pop(field.key, None)
        return response

    sync.session.hooks["response"].append(drop)
