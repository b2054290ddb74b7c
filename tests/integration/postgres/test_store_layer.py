"""The Postgres store behind DuckDB's surface (crmsync.store_postgres), on a real server: what callers rely on
from a DuckDB connection holds, and the canonical tables are created and migrated in place by version."""

import datetime as dt
import json
from decimal import Decimal

import duckdb
import psycopg
import pytest

from crmsync.canonical.tables import ensure
from crmsync.errors import UserError
from crmsync.mapping import load_canonical
from crmsync.project import Project, builtin_project_dir
from crmsync.store import open_store

CANONICAL = load_canonical(builtin_project_dir())


@pytest.fixture
def path(tmp_path, pg_dsn, monkeypatch):
    monkeypatch.setenv("CRMSYNC_PG_DSN", pg_dsn)
    return Project(tmp_path).store_path("postgres:CRMSYNC_PG_DSN")


@pytest.fixture
def con(path):
    with open_store(path) as con:
        ensure(con, CANONICAL)
        yield con


def test_values_come_back_as_duckdb_gives_them(con):
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    con.execute("INSERT INTO canonical.deals (id, title, amount, status, contacts, closed_at) VALUES "
                "(?, ?, ?, 'won', CAST(? AS JSON), ?)",
                ["d1", "Deal", Decimal("10.5"), json.dumps(["c1"]), when])
    row = con.execute("SELECT amount, contacts, closed_at, version FROM canonical.deals").fetchone()
    assert row == (Decimal("10.500000"), '["c1"]', when, 1)
    assert con.execute("SELECT count(*) FROM canonical.deals WHERE title LIKE 'De%' AND id = ?", ["d1"]).fetchone() \
        == (1,)
    assert con.execute("SELECT id FROM canonical.deals WHERE id IN (SELECT unnest(?))", [["d1", "d2"]]).fetchall() \
        == [("d1",)]


def test_transactions_behave_as_on_duckdb(con):
    con.begin()
    con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Ann')")
    with pytest.raises(duckdb.TransactionException):  # DuckDB refuses a nested BEGIN; migrate relies on it
        con.execute("BEGIN")
    con.rollback()
    assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone() == (0,)
    con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Ann')")  # autocommit again
    with pytest.raises(duckdb.ConstraintException, match="contacts_pkey"):
        con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Bob')")
    with pytest.raises(duckdb.ConstraintException, match="status"):  # the schema's CHECK, on Postgres too
        con.execute("INSERT INTO canonical.deals (title, status) VALUES ('D', 'bogus')")
    with pytest.raises(duckdb.CatalogException):
        con.execute("SELECT * FROM canonical.nothing_here")
    con.begin()  # an error caught inside a transaction: its COMMIT must not pass for a success
    con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c2', 'Cy')")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Bob')")
    with pytest.raises(duckdb.TransactionException, match="nothing of it was committed"):
        con.commit()
    assert con.execute("SELECT id FROM canonical.contacts").fetchall() == [("c1",)]


def test_insert_or_replace_and_a_cursor_in_the_same_transaction(con):
    con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, 'applied_load', ?)", ["amo", "contact", 1])
    con.execute("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, 'applied_load', ?)", ["amo", "contact", 2])
    con.begin()
    con.executemany("INSERT OR REPLACE INTO sync.cursors (connection, entity, kind, value) VALUES (?, ?, ?, ?)",
                    [["amo", "deal", "applied_load", 5], ["amo", "contact", "applied_load", 3]])
    cursor = con.cursor()  # sees what this transaction wrote, like DuckDB's cursor on the same connection
    assert cursor.execute("SELECT entity, value FROM sync.cursors ORDER BY entity").fetchall() == [
        ("contact", 3), ("deal", 5)]
    con.commit()


def test_a_read_only_store_refuses_writes(con, path):
    with open_store(path, read_only=True) as reader:
        assert reader.execute("SELECT count(*) FROM sync.runs").fetchone() == (0,)
        with pytest.raises(duckdb.Error, match="read-only"):
            reader.execute("DELETE FROM sync.runs")


def test_migrations_are_versioned_and_a_grown_schema_rebuilds_the_table_in_place(con, pg_dsn):
    assert con.execute("SELECT version FROM sync.schema_version").fetchall() == [(2,)]
    con.execute("INSERT INTO canonical.contacts (id, first_name) VALUES ('c1', 'Ann')")
    grown = json.loads(json.dumps(CANONICAL))
    grown["contact"]["properties"]["birthday"] = {"type": ["string", "null"], "format": "date"}
    ensure(con, grown)
    assert con.execute("SELECT id, first_name, birthday FROM canonical.contacts").fetchall() == [("c1", "Ann", None)]
    con.execute("UPDATE canonical.contacts SET birthday = '1990-05-01'")
    assert con.execute("SELECT birthday FROM canonical.contacts").fetchone() == (dt.date(1990, 5, 1),)
    with pytest.raises(UserError, match="birthday .*would lose their values"):
        ensure(con, CANONICAL)
    with psycopg.connect(pg_dsn) as raw:  # Postgres' own types, as a SQL client sees them
        types = dict(raw.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                                 "table_schema = 'canonical' AND table_name = 'deals'").fetchall())
    assert types["amount"] == "numeric" and types["closed_at"] == "timestamp with time zone"
    assert types["contacts"] == "jsonb" and types["id"] == "text"


def test_workers_creating_the_tables_at_once_do_not_collide(path, pg_dsn):
    """Several workers' first runs on a fresh database: one creates the layout, the others wait and find it."""
    from concurrent.futures import ThreadPoolExecutor

    def first_run(_):
        with open_store(path) as con:
            ensure(con, CANONICAL)
            return con.execute("SELECT count(*) FROM sync.schema_version").fetchone()[0]

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(first_run, range(6))) == [1] * 6
    with psycopg.connect(pg_dsn) as raw:  # a current layout is left alone: no ALTER TABLE, no exclusive lock
        raw.execute("BEGIN")
        raw.execute("LOCK TABLE sync.links IN ROW EXCLUSIVE MODE")  # another worker's open transaction on links
        with open_store(path) as con:
            con.execute("SET lock_timeout = '2s'")
            ensure(con, CANONICAL)
        raw.execute("ROLLBACK")
