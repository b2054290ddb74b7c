"""Raw rows read back for the apply (and a remap) in keyset pages: every row once, whatever the page size."""

import duckdb
import pytest

from crmsync.pull import _raw_rows, _raw_values, _rechunk


def _arrow_rows(con, dataset, entity, *, page_size, chunk=3, **kw):
    """The records a mapping process makes of the pages as Arrow tables, re-chunked as a run re-chunks them."""
    shape, pages = _raw_values(con, dataset, entity, 0, key="id", page_size=page_size, arrow=True, **kw)
    return [record for values in _rechunk(pages, chunk) for record in shape.records(values)]


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw_amo; CREATE SCHEMA sync")
    con.execute("CREATE TABLE sync.links (connection VARCHAR, entity VARCHAR, remote_id VARCHAR, "
                "remote_deleted_at TIMESTAMPTZ)")
    # dlt's columns, a variant column beside a typed one, loads at two times; ids not in insertion order
    con.execute("CREATE TABLE raw_amo.contact (id BIGINT, name VARCHAR, price BIGINT, \"price\u25b6v_text\" VARCHAR, "
                "_cursor BIGINT, _dlt_load_id VARCHAR, _dlt_id VARCHAR)")
    con.execute("INSERT INTO raw_amo.contact SELECT (i * 7919) % 1009, 'n' || i, i, NULL, i, "
                "CASE WHEN i < 600 THEN '1700000000.5' ELSE '1700000100.25' END, 'd' || i FROM range(1009) r(i)")
    con.execute("UPDATE raw_amo.contact SET price = NULL, \"price\u25b6v_text\" = 'lots' WHERE id = 5")
    return con


@pytest.mark.parametrize("page", [1, 7, 1009, 5000])
def test_every_row_once_in_any_page_size(con, page):
    rows = list(_raw_rows(con, "raw_amo", "contact", 0, key="id", page_size=page))
    assert sorted(r["id"] for r in rows) == list(range(1009))
    assert all(set(r) == {"id", "name", "price"} for r in rows)  # dlt's and crmsync's own columns left out
    assert next(r for r in rows if r["id"] == 5)["price"] == "lots"  # the variant folded back


def test_only_later_loads_and_not_the_records_the_crm_deleted(con):
    after = 1700000000_500000  # microseconds: the first load
    later = list(_raw_rows(con, "raw_amo", "contact", after, key="ID", page_size=50))
    assert len(later) == 409
    gone = str(later[0]["id"])
    con.execute("INSERT INTO sync.links VALUES ('amo', 'contact', ?, now()), ('amo', 'contact', '3', NULL)", [gone])
    kept = list(_raw_rows(con, "raw_amo", "contact", 0, key="id", skip_gone=("amo", "contact"), page_size=100))
    assert len(kept) == 1008 and all(str(r["id"]) != gone for r in kept)


def test_a_table_without_the_id_column_streams_for_a_pull_and_refuses_a_remap(con):
    from crmsync.errors import UserError

    assert len(list(_raw_rows(con, "raw_amo", "contact", 0, key="record_no"))) == 1009
    with pytest.raises(UserError, match="no 'record_no' column"):
        list(_raw_rows(con, "raw_amo", "contact", 0, key="record_no", skip_gone=("amo", "contact")))


def test_a_record_loaded_twice_and_rows_loaded_between_pages(con):
    """Page bounds are taken once: both copies of an id on a bound come in one page, and rows loaded
    while the pages are read (above the last bound) come in the last, open-ended page."""
    con.execute("INSERT INTO raw_amo.contact SELECT id, name || '-again', price, NULL, _cursor, '1700000200.0', "
                "_dlt_id || 'b' FROM raw_amo.contact WHERE id IN (99, 100, 1008)")
    pages = _raw_rows(con, "raw_amo", "contact", 0, key="id", page_size=100)
    first = [next(pages) for _ in range(101)]  # the first page ends on 99, loaded twice: 101 rows
    assert sorted(r["id"] for r in first) == [*range(99), 99, 99]
    con.execute("INSERT INTO raw_amo.contact VALUES (5000, 'late', 1, NULL, 1, '1700000300.0', 'late')")
    rest = [*first, *pages]
    assert sorted(r["id"] for r in rest) == sorted([*range(1009), 99, 100, 1008, 5000])


def _to_json_rows(con, table, kept, variants):
    """The read-back as it was (each row as DuckDB's to_json text, parsed): the oracle."""
    import orjson

    from crmsync.read.storable import fold_variants

    texts = con.execute(f"SELECT to_json(t) FROM (SELECT {kept} FROM {table}) t ORDER BY t.id").fetchall()
    return [fold_variants(orjson.loads(text), variants) for (text,) in texts]


def test_rows_read_as_columns_equal_the_rows_read_as_json_text():
    """Every shape a raw table holds (typed scalars, JSON columns, variants, envelopes, NULLs, a column
    null in the first rows, types read through to_json) comes back as the very dicts, values and types
    to_json text parsed to: the same keys in the same order, an int never a float or a bool."""
    import orjson

    from crmsync.mapping.raw_values import ENVELOPED
    from crmsync.read.storable import variant_columns

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw_amo; CREATE SCHEMA sync")
    con.execute("CREATE TABLE sync.links (connection VARCHAR, entity VARCHAR, remote_id VARCHAR, "
                "remote_deleted_at TIMESTAMPTZ)")
    con.execute(f"""CREATE TABLE raw_amo.deal (id BIGINT, name VARCHAR, price DOUBLE, "price\u25b6v_json" JSON,
        qty BIGINT, "qty\u25b6v_text" VARCHAR, won BOOLEAN, fields JSON, tags JSON, late VARCHAR, small INTEGER,
        seen_at TIMESTAMPTZ, amount DECIMAL(12, 2), "{ENVELOPED}" BOOLEAN, _cursor BIGINT, _rowhash VARCHAR,
        _dlt_load_id VARCHAR, _dlt_id VARCHAR)""")
    values = [
        (1, "Ann \"quoted\" \\ back", 2.0, None, 7, None, True, '{"a":[1,2.5,null,{"b":"\u00e9"}],"c":{}}', "[]",
         None, 3, "2024-01-02 03:04:05+00", "12.50", None),
        (2, "\u65e5\u672c\u8a9e \U0001f600\ttab\nline", -0.0, None, None, "lots", False, "null", '["x", 1, true]',
         None, None, None, None, None),
        (3, None, None, '{"$crmsync":"number","text":"1e400"}', None, '{"$crmsync":"number","text":'
         '"123456789012345678901234567890"}', None, None, None, None, -2147483648, None, "-0.01", True),
        (4, "", 1e300, None, -(2**63), None, None, '{"big":9223372036854775807,"neg":-1.5e-300}', None, "finally",
         0, "1970-01-01 00:00:00+00", "0.00", False),
        (5, "x", 0.1, None, 2**63 - 1, None, True, '{"deep":[[[{"k":null}]]]}', '[0.30000000000000004]', "",
         None, None, None, None),
    ]
    for row in values:
        con.execute("INSERT INTO raw_amo.deal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'h', "
                    "'1700000000.5', 'd')", list(row))
    names = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = 'deal' "
                                       "ORDER BY ordinal_position").fetchall()]
    kept = ", ".join(f'"{n}"' for n in names if not n.startswith("_dlt_") and n not in ("_cursor", "_rowhash"))
    expected = _to_json_rows(con, "raw_amo.deal", kept, variant_columns(names))
    for page in (1, 2, 5000):
        rows = list(_raw_rows(con, "raw_amo", "deal", 0, key="id", page_size=page))
        assert rows == expected
        assert orjson.dumps(rows) == orjson.dumps(expected)  # types too: 2.0 stays a float, -0.0 keeps its sign
        assert [list(r) for r in rows] == [list(r) for r in expected]  # key order
        # and as Arrow tables (a mapping process's pages): the same records, values and types
        arrow = _arrow_rows(con, "raw_amo", "deal", page_size=page)
        assert orjson.dumps(arrow) == orjson.dumps(expected) and [list(r) for r in arrow] == [list(r) for r in expected]
    assert rows[1]["qty"] == "lots" and rows[2]["price"] == {"$crmsync": "number", "text": "1e400"}
    assert rows[0]["late"] is None and rows[3]["late"] == "finally" and rows[1]["fields"] is None
    assert rows[0]["seen_at"] == "2024-01-02 03:04:05+00" and rows[0]["amount"] == 12.5  # through to_json, as before
    # the no-id path (one streamed query) builds its rows the same way
    assert sorted(_raw_rows(con, "raw_amo", "deal", 0, key="nope"), key=lambda r: r["id"]) == expected


def test_pages_as_arrow_tables_hold_the_values_pages_of_rows_hold():
    """Every type the read-back takes as DuckDB's own value (the rest come through to_json) comes from an
    Arrow page as the very Python value of its row page: ints at both ends of each width, unsigned ones,
    floats that are not numbers, text of every kind, NULLs, a record loaded twice across a chunk's edge."""
    from crmsync.read.columns import NATIVE_TYPES

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw_amo; CREATE SCHEMA sync")
    kinds = sorted(NATIVE_TYPES)
    columns = ", ".join(f'"c_{k.lower()}" {k}' for k in kinds)
    con.execute(f"CREATE TABLE raw_amo.contact (id BIGINT, {columns}, doc JSON, _dlt_load_id VARCHAR, _dlt_id VARCHAR)")
    ends = {"BIGINT": (-(2**63), 2**63 - 1), "INTEGER": (-(2**31), 2**31 - 1), "SMALLINT": (-(2**15), 2**15 - 1),
            "TINYINT": (-128, 127), "UBIGINT": (0, 2**64 - 1), "UINTEGER": (0, 2**32 - 1), "USMALLINT": (0, 65535),
            "UTINYINT": (0, 255), "DOUBLE": (float("nan"), float("-inf")), "VARCHAR": ("", "\u65e5\U0001f600\x00 \\"),
            "BOOLEAN": (False, True)}
    for n in range(9):
        row = [n // 2] + [None if n == 4 else ends[k][n % 2] for k in kinds]  # ids 0..3 loaded twice, 4 once
        con.execute(f"INSERT INTO raw_amo.contact VALUES ({', '.join('?' * (len(row) + 1))}, '1700000000.5', 'd')",
                    [*row, None if n == 3 else '{"n": ' + str(n) + ', "x": [1.5, "\u00e9"]}'])
    assert set(kinds) <= {k.upper() for (k,) in con.execute(
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_name = 'contact'").fetchall()}
    for page in (1, 2, 4, 100):
        rows = list(_raw_rows(con, "raw_amo", "contact", 0, key="id", page_size=page))
        for chunk in (1, 2, 5):
            arrow = _arrow_rows(con, "raw_amo", "contact", page_size=page, chunk=chunk)
            assert len(arrow) == len(rows) == 9
            # repr: NaN equals itself, and 1 is not 1.0 or True
            assert [[(k, type(v), repr(v)) for k, v in r.items()] for r in arrow] == \
                   [[(k, type(v), repr(v)) for k, v in r.items()] for r in rows]
