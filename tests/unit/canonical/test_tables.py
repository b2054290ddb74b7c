"""Canonical tables generated from the JSON Schemas: real SQL types, defaults, CHECKs, on a real DuckDB file."""

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from crmsync.canonical.tables import columns, decimal_type, duck_type, ensure
from crmsync.canonical.values import plain, same
from crmsync.mapping import load_canonical
from crmsync.project import Project, builtin_project_dir
from crmsync.store import open_store
from tests.store_plugin import both_stores

CANONICAL = load_canonical(builtin_project_dir())


@pytest.fixture
def con(tmp_path, store):
    """The tables on a real store: a DuckDB file, or (tests marked both_stores) a Postgres database too."""
    if store.engine == "duckdb":
        con = duckdb.connect(str(tmp_path / "store.duckdb"))
        ensure(con, CANONICAL)
        yield con
        con.close()
        return
    with open_store(Project(tmp_path).store_path(store.name)) as con:
        ensure(con, CANONICAL)
        yield con


def test_types_come_from_the_schemas():
    contact, deal, task = (columns(CANONICAL[e]) for e in ("contact", "deal", "task"))
    assert contact["created_at"] == contact["updated_at"] == "TIMESTAMPTZ"
    assert contact["emails"] == contact["phones"] == contact["custom"] == "JSON"
    assert deal["amount"] == "DECIMAL(22,6)" and deal["closed_at"] == "TIMESTAMPTZ"
    assert task["completed"] == "BOOLEAN" and task["due_at"] == "TIMESTAMPTZ"
    assert duck_type({"type": ["string", "null"], "format": "date"}) == "DATE"
    assert duck_type({"type": "integer"}) == "BIGINT"


def test_a_decimal_needs_power_of_ten_bounds():
    assert decimal_type({"format": "decimal", "x-scale": 4, "exclusiveMaximum": 1e6, "exclusiveMinimum": 0}) \
        == "DECIMAL(14,8)"
    with pytest.raises(ValueError, match="power of ten"):
        decimal_type({"format": "decimal", "x-scale": 2, "maximum": 500})


@both_stores
def test_an_insert_of_just_the_fields_is_a_complete_new_record(con):
    con.execute("INSERT INTO canonical.contacts (first_name, emails) "
                "VALUES ('Ann', '[{\"value\": \"ann@example.com\", \"type\": \"work\"}]')")
    cid, version, created, updated, phones, deleted = con.execute(
        "SELECT id, version, created_at, updated_at, phones, deleted_at FROM canonical.contacts").fetchone()
    assert len(cid) == 36 and version == 1 and phones == "[]" and deleted is None
    now = dt.datetime.now(dt.timezone.utc)
    assert abs((now - created).total_seconds()) < 60 and created == updated


@pytest.mark.parametrize(("statement", "column"), [
    ("UPDATE canonical.deals SET status = 'bogus'", "status"),
    ("UPDATE canonical.deals SET currency = 'usd'", "currency"),
    ("UPDATE canonical.deals SET owner = 'nobody'", "owner"),
    ("UPDATE canonical.deals SET contacts = '{}'", "contacts"),
    ("UPDATE canonical.deals SET amount = 1e30", "DECIMAL"),
    ("UPDATE canonical.deals SET closed_at = 'yesterday'", "timestamp"),
])
def test_a_bad_sql_edit_fails_where_it_is_typed(con, statement, column):
    con.execute("INSERT INTO canonical.deals (title, amount, status, currency) VALUES ('D', 10.5, 'open', 'RUB')")
    with pytest.raises(duckdb.Error, match=column):
        con.execute(statement)
    assert con.execute("SELECT amount, status, currency FROM canonical.deals").fetchall() == [
        (Decimal("10.50"), "open", "RUB")]


@both_stores
@pytest.mark.parametrize(("typed", "stored"), [
    ("100.00001", None),            # within the 6 places the column keeps: the CHECK sees it, refused
    ("100.125", None),
    ("1e-5", None),                 # a float within them: refused too
    ("1e-30", Decimal("0")),        # beyond them SQL rounds on assignment, as the README says
    ("100.1200001", Decimal("100.12")),
    ("1e3", Decimal("1000")),       # a float amount that converts exactly
    ("CAST(19.99 AS DOUBLE)", Decimal("19.99")),
])
def test_where_sql_rounding_begins_for_amounts(con, typed, stored):
    con.execute("INSERT INTO canonical.deals (id, title, amount, status) VALUES ('d1', 'D', 5, 'open')")
    if stored is None:
        with pytest.raises(duckdb.ConstraintException, match="amount"):
            con.execute(f"UPDATE canonical.deals SET amount = {typed}")
        stored = Decimal("5")
    else:
        con.execute(f"UPDATE canonical.deals SET amount = {typed}")
    assert con.execute("SELECT amount FROM canonical.deals").fetchone()[0] == stored


@both_stores
def test_a_row_with_constraints_updates_repeatedly_in_one_transaction(con):
    """DuckDB turns an UPDATE of a constrained row into delete + insert: the engine's upserts and a
    person's UPDATEs must still work twice on one row inside one transaction."""
    con.execute("INSERT INTO canonical.deals (id, title, status) VALUES ('d1', 'D', 'open')")
    con.execute("BEGIN")
    con.execute("UPDATE canonical.deals SET status = 'won', updated_at = now() WHERE id = 'd1'")
    con.execute("INSERT INTO canonical.deals (id, version, title, status) VALUES ('d1', 2, 'E', 'lost') "
                "ON CONFLICT (id) DO UPDATE SET version = excluded.version, title = excluded.title, "
                "status = excluded.status")
    con.execute("UPDATE canonical.deals SET amount = 5 WHERE id = 'd1'")
    con.execute("COMMIT")
    assert con.execute("SELECT version, title, status, amount FROM canonical.deals").fetchall() == [
        (2, "E", "lost", Decimal("5.00"))]


def test_typed_values_compare_as_json_sees_them():
    utc = dt.timezone.utc
    assert plain(dt.datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=utc)) == "2026-01-02T03:04:05Z"
    assert plain(Decimal("1500.00")) == 1500 and plain(Decimal("10.50")) == 10.5
    assert same(Decimal("10.50"), 10.5) and same(dt.datetime(2026, 1, 1, tzinfo=utc), "2026-01-01T00:00:00Z")
    assert plain(dt.date(2026, 1, 2)) == "2026-01-02"


@both_stores
def test_ensure_on_a_current_store_changes_nothing(con):
    con.execute("INSERT INTO canonical.tasks (title, completed) VALUES ('T', true)")
    before = con.execute("SELECT * FROM canonical.tasks").fetchall()
    ensure(con, CANONICAL)
    assert con.execute("SELECT * FROM canonical.tasks").fetchall() == before
    assert con.execute("SELECT version FROM sync.schema_version").fetchall() == [(2,)]


def test_history_values_are_kept_with_zstd_on_duckdb_and_read_back_as_written(con):
    # a DuckDB store's sync.changes old/new: zstd (cheaper to write than DuckDB's own pick, and smaller), the
    # values exactly as written; Postgres' DDL text is the one its stores recorded before (SYNC_LAYOUT)
    from crmsync.canonical.tables import DUCKDB_SYNC_DDL, SYNC_DDL

    assert "USING COMPRESSION" not in SYNC_DDL and DUCKDB_SYNC_DDL.count("USING COMPRESSION zstd") == 2
    values = [None, '"Ёлка 🎄"', '{"name":"Ann","phones":[{"kind":"work","value":"+74951234567"}]}', "42", "null"]
    con.execute("INSERT INTO sync.changes (run_id, entity, canonical_id, field, old, new, side) "
                "SELECT 'r', 'contact', 'c' || i, 'name', ?[i % 5 + 1], ?[(i + 1) % 5 + 1], 'crm:a' "
                "FROM range(5000) t(i)", [values, values])
    con.execute("CHECKPOINT")
    used = dict(con.execute("SELECT column_name, list(DISTINCT compression) FROM pragma_storage_info('sync.changes') "
                            "WHERE column_name IN ('old', 'new') AND segment_type <> 'VALIDITY' GROUP BY ALL"
                            ).fetchall())
    assert used == {"old": ["ZSTD"], "new": ["ZSTD"]}
    rows = con.execute("SELECT CAST(old AS VARCHAR), CAST(new AS VARCHAR) FROM sync.changes ORDER BY "
                       "CAST(substr(canonical_id, 2) AS INTEGER)").fetchall()
    assert rows == [(values[i % 5], values[(i + 1) % 5]) for i in range(5000)]
