"""``update_rows``: the changed columns of existing rows written in one statement, exactly as a whole-row
upsert would have stored them."""

import datetime as dt
import json

import duckdb

from crmsync.canonical.apply import update_rows, upsert_rows

COLS = {"id": "VARCHAR", "n": "BIGINT", "j": "JSON", "t": "TIMESTAMPTZ", "s": "VARCHAR"}


def stores():
    out = []
    for _ in range(2):
        con = duckdb.connect()
        con.execute("CREATE TABLE rows (id VARCHAR PRIMARY KEY, n BIGINT, j JSON, t TIMESTAMPTZ, s VARCHAR)")
        con.execute("""INSERT INTO rows VALUES ('a', 1, '{"y": 2, "x": 1}', '2026-01-01 10:00:00.123456+00', 'keep'),
                       ('b', 2, '[1, 2]', NULL, 'old'), ('c', 3, NULL, NULL, 'untouched')""")
        out.append(con)
    return out


def read(con, ids=("a", "b", "c")):
    rows = con.execute("SELECT id, n, j, t, s FROM rows WHERE id IN (SELECT unnest(?))", [list(ids)]).fetchall()
    return {r[0]: dict(zip(COLS, r, strict=True)) | {"j": None if r[2] is None else json.loads(r[2])}
            for r in rows}


def test_only_changed_columns_are_written_and_the_result_equals_the_upsert():
    by_update, by_upsert = stores()
    old = read(by_update)
    new_a = {**old["a"], "j": {"x": 1, "y": 2}}  # equal as an object, another text: written as the upsert would
    new_b = {**old["b"], "s": "new", "t": "2026-02-01T00:00:00Z"}
    first_b = {**old["b"], "s": "first copy"}  # a row given twice: the last wins, as in the upsert
    update_rows(by_update, "rows", COLS, [(new_a, old["a"]), (first_b, old["b"]), (new_b, old["b"])])
    upsert_rows(by_upsert, "rows", COLS, [new_a, first_b, new_b], key=["id"])
    seen = [con.execute("SELECT id, n, CAST(j AS VARCHAR), t, s FROM rows ORDER BY id").fetchall()
            for con in (by_update, by_upsert)]
    assert seen[0] == seen[1]
    assert seen[0][0][2] == '{"x":1,"y":2}' and seen[0][0][3].microsecond == 123456  # the kept clock keeps its µs
    assert seen[0][1][4] == "new" and seen[0][1][3] == dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc)

