"""A store made by the previous release (its DDL kept verbatim in tests/data/store_v1) is moved in place to
typed canonical tables on first use, every value kept with its new type; a value that cannot be kept
stops the migration with the rows to fix, and nothing changes."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from crmsync.canonical.tables import ensure
from crmsync.errors import UserError
from crmsync.mapping import load_canonical
from crmsync.project import builtin_project_dir

V1_DDL = (Path(__file__).parents[2] / "data" / "store_v1" / "ddl.sql").read_text(encoding="utf-8")
CANONICAL = load_canonical(builtin_project_dir())
UTC = dt.timezone.utc
EMAILS = [{"value": "ann@example.com", "type": "work"}]


def v1_store(path, deals=()):
    """The store as the previous release wrote it: text timestamps (the engine's and an SQL edit's),
    DOUBLE amounts, JSON multi-values, links with their bases."""
    con = duckdb.connect(str(path))
    con.execute(V1_DDL)
    con.execute("INSERT INTO canonical.contacts VALUES ('c1', 3, 'Ann Lee', 'Ann', NULL, 'Lee', ?, ?, 'Acme', "
                "'CEO', 'boss@example.com', ?, '2025-03-01T10:00:00Z', '2026-12-06 00:56:08.281452+00', NULL)",
                [json.dumps([{"value": "+79161234567", "type": "work"}]), json.dumps(EMAILS),
                 json.dumps({"source": "Web", "tags": ["a", "b"], "score": 7.5})])
    con.execute("INSERT INTO canonical.contacts (id, version, first_name, emails, deleted_at) "
                "VALUES ('c2', 1, 'Bob', '[]', TIMESTAMPTZ '2026-02-01 00:00:00+00')")
    rows = deals or [("d1", 1000000.5, "won", "2026-01-05T12:00:00Z"), ("d2", 1500.0, "open", None),
                     ("d3", None, None, None)]
    for did, amount, status, closed in rows:
        con.execute("INSERT INTO canonical.deals (id, version, title, amount, currency, status, contacts, closed_at, "
                    "created_at, updated_at) VALUES (?, 1, 'Deal', ?, 'RUB', ?, '[\"c1\"]', ?, "
                    "'2025-01-01T00:00:00Z', '2025-01-02T00:00:00Z')", [did, amount, status, closed])
    con.execute("INSERT INTO canonical.tasks (id, version, title, due_at, completed, related, created_at) "
                "VALUES ('t1', 2, 'Call', '2026-03-01T09:30:00Z', true, '{\"kind\": \"contact\", \"id\": \"c1\"}', "
                "'2025-02-02T02:02:02Z')")
    con.execute("INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base, base_hash) "
                "VALUES ('contact', 'old-portal', '11', 'c1', '{\"first_name\": \"Ann\"}', 'h1')")
    return con


def test_a_previous_release_store_is_migrated_with_every_value_typed(tmp_path):
    con = v1_store(tmp_path / "old.duckdb")
    ensure(con, CANONICAL)

    types = dict(con.execute("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = 'canonical'").fetchall())
    assert types["contacts.updated_at"] == types["deals.closed_at"] == types["tasks.due_at"] == \
        "TIMESTAMP WITH TIME ZONE"
    assert types["deals.amount"] == "DECIMAL(22,6)" and types["tasks.completed"] == "BOOLEAN"

    c1 = con.execute("SELECT version, name, phones, emails, company, owner, custom, created_at, updated_at "
                     "FROM canonical.contacts WHERE id = 'c1'").fetchone()
    assert c1[:2] == (3, "Ann Lee") and json.loads(c1[3]) == EMAILS
    assert json.loads(c1[2]) == [{"value": "+79161234567", "type": "work"}]
    assert c1[4:6] == ("Acme", "boss@example.com")
    assert json.loads(c1[6]) == {"source": "Web", "tags": ["a", "b"], "score": 7.5}
    assert c1[7] == dt.datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert c1[8] == dt.datetime(2026, 12, 6, 0, 56, 8, 281452, tzinfo=UTC)  # the SQL edit's now(), to the µs
    assert con.execute("SELECT first_name, deleted_at FROM canonical.contacts WHERE id = 'c2'").fetchone() == (
        "Bob", dt.datetime(2026, 2, 1, tzinfo=UTC))
    assert con.execute("SELECT id, amount, status, closed_at, contacts FROM canonical.deals ORDER BY id").fetchall() \
        == [("d1", Decimal("1000000.50"), "won", dt.datetime(2026, 1, 5, 12, tzinfo=UTC), '["c1"]'),
            ("d2", Decimal("1500.00"), "open", None, '["c1"]'), ("d3", None, None, None, '["c1"]')]
    assert con.execute("SELECT version, due_at, completed, related, created_at FROM canonical.tasks").fetchone() == (
        2, dt.datetime(2026, 3, 1, 9, 30, tzinfo=UTC), True, '{"kind": "contact", "id": "c1"}',
        dt.datetime(2025, 2, 2, 2, 2, 2, tzinfo=UTC))
    assert con.execute("SELECT canonical_id, base FROM sync.links").fetchall() == [("c1", '{"first_name": "Ann"}')]
    assert con.execute("SELECT version FROM sync.schema_version ORDER BY version").fetchall() == [(1,), (2,)]

    # and the migrated tables behave like new ones: defaults and CHECKs included
    con.execute("INSERT INTO canonical.contacts (first_name) VALUES ('New')")
    assert con.execute("SELECT version, updated_at IS NOT NULL FROM canonical.contacts WHERE first_name = 'New'"
                       ).fetchone() == (1, True)
    with pytest.raises(duckdb.ConstraintException):
        con.execute("UPDATE canonical.deals SET status = 'bogus' WHERE id = 'd1'")
    con.close()


def test_a_value_that_would_not_survive_stops_the_migration_and_changes_nothing(tmp_path):
    con = v1_store(tmp_path / "old.duckdb", deals=[("d1", 12.345, "open", None), ("d2", 5.0, "bogus", None),
                                                    ("d3", 7.0, "won", "last tuesday")])
    with pytest.raises(UserError) as caught:
        ensure(con, CANONICAL)
    text = str(caught.value)
    assert "canonical.deals.amount must become DECIMAL(22,6)" in text and "id d1: '12.345'" in text
    assert "canonical.deals.status" in text and "id d2: 'bogus'" in text and "one of open, won, lost" in text
    assert "canonical.deals.closed_at must become TIMESTAMPTZ" in text and "'last tuesday'" in text
    assert "nothing was changed" in text
    assert con.execute("SELECT data_type FROM information_schema.columns WHERE table_schema = 'canonical' "
                       "AND table_name = 'deals' AND column_name = 'amount'").fetchone() == ("DOUBLE",)
    assert con.execute("SELECT count(*) FROM canonical.deals").fetchone() == (3,)

    con.execute("UPDATE canonical.deals SET amount = 12.35 WHERE id = 'd1'")  # the user fixes them, runs again
    con.execute("UPDATE canonical.deals SET status = 'lost' WHERE id = 'd2'")
    con.execute("UPDATE canonical.deals SET closed_at = '2026-01-06T00:00:00Z' WHERE id = 'd3'")
    ensure(con, CANONICAL)
    assert con.execute("SELECT id, amount, status FROM canonical.deals ORDER BY id").fetchall() == [
        ("d1", Decimal("12.35"), "open"), ("d2", Decimal("5.00"), "lost"), ("d3", Decimal("7.00"), "won")]
    con.close()


def test_a_field_added_to_a_project_schema_rebuilds_the_table_and_keeps_its_rows(tmp_path):
    con = duckdb.connect(str(tmp_path / "s.duckdb"))
    ensure(con, CANONICAL)
    con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Ann')")
    grown = json.loads(json.dumps(CANONICAL))
    grown["contact"]["properties"]["birthday"] = {"type": ["string", "null"], "format": "date"}
    ensure(con, grown)
    assert con.execute("SELECT id, first_name, birthday FROM canonical.contacts").fetchall() == [("c1", "Ann", None)]
    con.execute("UPDATE canonical.contacts SET birthday = '1990-05-01'")
    assert con.execute("SELECT birthday FROM canonical.contacts").fetchone() == (dt.date(1990, 5, 1),)

    with pytest.raises(UserError, match="birthday .*would lose their values"):
        ensure(con, CANONICAL)  # the field taken out again: its values are not dropped silently
    con.close()
