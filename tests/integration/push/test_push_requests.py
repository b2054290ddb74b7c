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


def test_a_push_fetches_only_the_metadata_its_mappings_use(project, fake_crm):  # noqa: F811
    server, sync = three_edited(project, fake_crm, deals=4)
    server.stats.reset()
    assert sync.push().entities["contact"]["updated"] == 3
    asked = {route for route in server.stats.by_route if route.startswith("GET ") and route != "GET /api/v4/contacts"}
    # contacts: their own custom fields, the users (owner), the companies (company); no deal fields, no pipelines
    assert asked == {"GET /api/v4/contacts/custom_fields", "GET /api/v4/users", "GET /api/v4/companies"}
    sync.sql("UPDATE canonical.deals SET title = title || ' Изм' WHERE id IN (SELECT id FROM canonical.deals LIMIT 1)")
    sync.sql("UPDATE canonical.contacts SET last_name = last_name || ' 2' WHERE id IN "
             "(SELECT id FROM canonical.contacts ORDER BY id LIMIT 1)")
    server.stats.reset()
    pushed = sync.push().entities
    assert pushed["contact"]["updated"] == 1 and pushed["deal"]["updated"] == 1
    for route in ("contacts/custom_fields", "leads/custom_fields", "leads/pipelines", "users", "companies"):
        assert routes(server, f"GET /api/v4/{route}") == 1, route  # each once, the users shared


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
    seen = []
    sync.session.hooks["response"].append(
        lambda response, **_: seen.append((threading.current_thread().name, response.request.method,
                                           response.request.path_url.split("?")[0])) or response)
    assert sync.push().entities["contact"]["updated"] == 3
    metadata = [(thread, path) for thread, _, path in seen if path.endswith(("custom_fields", "users", "companies"))]
    assert sorted(path for _, path in metadata) == ["/api/v4/companies", "/api/v4/contacts/custom_fields",
                                                    "/api/v4/users"]
    assert {thread for thread, _ in metadata} == {"crmsync-metadata"}
    first_write = next(i for i, (_, method, _) in enumerate(seen) if method == "PATCH")
    assert all(seen.index((t, "GET", p)) < first_write for t, p in metadata)
    assert sync.pull().entities["contact"]["applied"] == 0  # the read-back was mapped with that metadata
    seen.clear()
    assert sync.push().entities["contact"]["updated"] == 0
    assert seen == []  # nothing to write: no metadata asked for, no thread started


def test_metadata_the_crm_refuses_stops_the_push_before_any_write(project, fake_crm):  # noqa: F811
    import threading

    server, sync = three_edited(project, fake_crm, deals=2)
    server.faults.add(403, count=1000, path="/api/v4/users")
    server.stats.reset()
    with pytest.raises(CrmError, match="403.*/api/v4/users.*blocked this IP"):
        sync.push()
    assert routes(server, "PATCH /api/v4/contacts") == 0
    assert not [t for t in threading.enumerate() if t.name == "crmsync-metadata"]
    assert sync.sql("SELECT count(*) FROM sync.outbox WHERE status <> 'pending'") == [(0,)]
    server.faults.clear()
    assert sync.push().entities["contact"]["updated"] == 3
