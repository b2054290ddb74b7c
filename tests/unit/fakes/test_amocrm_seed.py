"""The seeded AmoCRM account: deterministic, realistic ids, and faithful to the neutral world."""

from __future__ import annotations

from crmsync.fakes import make_app
from crmsync.fakes.amocrm.events import EventLog


def test_same_seed_same_records_and_ids_follow_creation_order():
    a, b = make_app("amocrm", rate_limit=False), make_app("amocrm", rate_limit=False)
    assert a.tables["contacts"].rows == b.tables["contacts"].rows
    assert [e["id"] for e in a.events.events] == [e["id"] for e in b.events.events]
    contacts = list(a.tables["contacts"].rows.values())
    assert [c["created_at"] for c in contacts] == sorted(c["created_at"] for c in contacts)
    assert all(10_000_000 <= c["id"] < 100_000_000 for c in contacts)


def test_world_maps_onto_native_fields():
    app = make_app("amocrm", rate_limit=False)
    phone_codes = {v["enum_code"] for c in app.tables["contacts"].rows.values()
                   for e in c["custom_fields_values"] or [] if e["field_code"] == "PHONE" for v in e["values"]}
    assert "MOB" in phone_codes and "MOBILE" not in phone_codes
    pipes = app.account.pipelines
    assert all({142, 143} <= {s.id for s in p.statuses} for p in pipes)
    for lead in app.tables["leads"].rows.values():
        assert (lead["closed_at"] is not None) == (lead["status_id"] in (142, 143))
    kinds = {t["entity_type"] for t in app.tables["tasks"].rows.values()}
    assert kinds == {"leads", "contacts", None}


def test_event_ids_are_lowercase_ulids_sorted_by_time():
    log = EventLog(1, 42)
    early = log.add("lead_added", "leads", 1, 2, 1_700_000_000)
    late = log.add("lead_added", "leads", 1, 2, 1_700_000_100)
    assert len(early["id"]) == 26 and early["id"] == early["id"].lower() and early["id"] < late["id"]
    assert early["entity_type"] == "lead"
