"""``staged``: rows handed to DuckDB as an Arrow table are stored exactly as the JSON-lines file stored
them (the path a Postgres store and values Arrow does not take still use), for every column type a
canonical or ``sync.*`` table has; and the batch apply's Arrow stage of new rows equals the row apply
for values of unusual types."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from crmsync.canonical.apply import _arrow_columns, _select, _stage, staged
from crmsync.canonical.conflicts import ConflictRules

from .test_batch_apply import Twin, golden

COLS = {"id": "VARCHAR", "version": "INTEGER", "n": "BIGINT", "b": "BOOLEAN", "j": "JSON", "t": "TIMESTAMPTZ",
        "d": "DATE", "amount": "DECIMAL(22,6)", "s": "VARCHAR"}
UTC = dt.timezone.utc

ROWS = [
    {"id": "a", "version": 1, "n": 2**40, "b": True, "j": {"y": [1, 2.5, None], "x": "é\u0000"},
     "t": "2026-01-01T10:00:00Z", "d": "2026-01-02", "amount": Decimal("100.250000"), "s": "text"},
    {"id": "b", "version": 7, "n": -1, "b": False, "j": [{"value": "+79001234567", "type": "work"}],
     "t": dt.datetime(2026, 2, 1, 12, 30, 15, 123456, tzinfo=UTC), "d": dt.date(2026, 3, 4), "amount": 5,
     "s": "quote ' \" and \\ and \n"},
    {"id": "c", "version": 2, "n": None, "b": None, "j": None, "t": "2026-01-01T10:00:00+03:00", "d": None,
     "amount": None, "s": None},
    {"id": "d", "j": '{"as": "text"}',
     "t": dt.datetime(2026, 5, 1, 1, 2, 3, tzinfo=dt.timezone(dt.timedelta(hours=5)))},
]


def _store() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (" + ", ".join(f'"{n}" {k}' for n, k in COLS.items()) + ", PRIMARY KEY (id))")
    return con


def _stored(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    names = ", ".join(f'CAST("{n}" AS VARCHAR)' if k == "JSON" else f'"{n}"' for n, k in COLS.items())
    return con.execute(f"SELECT {names} FROM t ORDER BY id").fetchall()


def _by_file(con: duckdb.DuckDBPyConnection, rows: list[dict]) -> None:
    import os

    path = _stage(con, COLS, rows)
    try:
        con.execute(f"INSERT INTO t {_select(COLS, path)}")
    finally:
        os.unlink(path)


@pytest.mark.parametrize("rows", [ROWS, ROWS[:1]], ids=["all", "one"])
def test_arrow_rows_are_stored_as_the_json_lines_file_stored_them(rows):
    assert _arrow_columns(COLS, rows) is not None  # the Arrow path is the one under test
    by_arrow, by_file = _store(), _store()
    with staged(by_arrow, COLS, rows) as select:
        by_arrow.execute(f"INSERT INTO t {select}")
    _by_file(by_file, rows)
    assert _stored(by_arrow) == _stored(by_file)
    assert [r[0] for r in _stored(by_arrow)] == sorted(r["id"] for r in rows)


@pytest.mark.parametrize("odd", [{"amount": 0.1}, {"n": True}, {"s": 5}, {"b": 1}, {"t": 1700000000}])
def test_a_value_arrow_would_cast_otherwise_takes_the_file(odd):
    """An amount given as a float (a cast from its text is not how JSON reads it), a boolean in a number
    column and the like: the whole statement goes through the file, as before."""
    rows = [{**ROWS[0], **odd}, ROWS[1]]
    assert _arrow_columns(COLS, rows) is None
    by_staged, by_file = _store(), _store()
    outcomes = []
    for con, write in ((by_staged, None), (by_file, _by_file)):
        try:
            if write is None:
                with staged(con, COLS, rows) as select:
                    con.execute(f"INSERT INTO t {select}")
            else:
                write(con, rows)
            outcomes.append(_stored(con))
        except duckdb.Error as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes[0] == outcomes[1]


def test_new_rows_with_values_of_unusual_types_apply_as_record_by_record():
    """The batch apply's Arrow stage: a number where a text is expected, a boolean and an amount read from
    the record's JSON, JSON fields holding text, nulls and empty lists — all stored as the row apply stores
    them, and one record set aside for one bad field in the same chunk."""
    twin = Twin()
    try:
        deals = {f"d{i}": rec for i, rec in enumerate(golden("deal"))}
        odd = {rid: {**rec, "title": 12345 if n == 0 else rec.get("title"), "amount": [0.1, 7, 2.5, None][n % 4],
                     "contacts": [] if n == 1 else rec.get("contacts"), "custom": {"note": "x\u0000y"}}
               for n, (rid, rec) in enumerate(deals.items())}
        bad = {"field": "amount", "reason": "not a number"}
        results = [(rid, None if rid == "d1" else rec, bad if rid == "d1" else None, {"id": rid})
                   for rid, rec in odd.items()]
        twin.pull("deal", "amo", results, rules=ConflictRules("deal"), chunk_size=50)
        twin.assert_same()
        tasks = {f"t{i}": {**rec, "completed": i % 2 == 0, "description": None}
                 for i, rec in enumerate(golden("task"))}
        twin.pull("task", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in tasks.items()],
                  rules=ConflictRules("task"), chunk_size=50)
        twin.assert_same()
    finally:
        twin.close()


def test_rows_are_staged_after_a_query_whose_rows_were_not_all_fetched():
    # A conflict settled by SQL: the settle read one row (fetchone), then upserted through an Arrow stage;
    # DuckDB 2.0 refuses register() and unregister() beside an unfetched result, which failed the whole sync.
    from crmsync.canonical.apply import insert_rows, upsert_rows

    con = _store()
    insert_rows(con, "t", COLS, [{"id": "a", "version": 1, "s": "one"}, {"id": "b", "version": 1, "s": "two"}])
    assert con.execute("SELECT id FROM t ORDER BY id").fetchone() == ("a",)  # one of two rows fetched
    upsert_rows(con, "t", COLS, [{"id": "a", "version": 2, "s": "edited"}], key=["id"])
    con.execute("SELECT s FROM t WHERE id = 'a'")
    with staged(con, {"id": "VARCHAR"}, [{"id": "b"}]) as select:
        assert con.execute(f"SELECT t.s FROM t JOIN ({select}) k USING (id)").fetchone() == ("two",)
    assert con.execute("SELECT id, version, s FROM t ORDER BY id").fetchall() == [("a", 2, "edited"), ("b", 1, "two")]
