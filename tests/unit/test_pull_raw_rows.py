"""Raw rows read back for the apply (and a remap) in keyset pages: every row once, whatever the page size."""

import duckdb
import pytest

from crmsync.pull import _raw_rows


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
