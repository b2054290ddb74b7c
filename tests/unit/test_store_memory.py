"""DuckDB's memory cap on the store's connections: sized to what the store's primary keys pin (at least the
old fixed cap, except on a read round's connections), unless the user set one (crmsync.store.MEMORY_LIMIT)."""

import duckdb
import pytest

from crmsync.errors import UserError
from crmsync.store import FLOOR, KEY_BYTES, MEMORY_LIMIT, WORKING_ROOM, keeping, open_store


def as_duckdb_says(limit: str) -> str:
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{limit}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def _store(path, *, keyed: int = 0, raw: int = 0):
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA canonical")
    con.execute("CREATE TABLE canonical.contacts (id VARCHAR PRIMARY KEY, name VARCHAR)")
    con.execute("INSERT INTO canonical.contacts SELECT 'c' || i, 'n' FROM range(?) r(i)", [keyed])
    con.execute("CREATE SCHEMA raw_amo")
    con.execute("CREATE TABLE raw_amo.contact (id BIGINT, name VARCHAR)")  # dlt's raw tables have no key
    con.execute("INSERT INTO raw_amo.contact SELECT i, 'n' FROM range(?) r(i)", [raw])
    con.execute("CREATE TABLE raw_amo._dlt_loads (load_id VARCHAR)")  # dlt's bookkeeping is not records
    con.execute("INSERT INTO raw_amo._dlt_loads SELECT 'l' || i FROM range(?) r(i)", [raw * 5])
    con.close()
    return path


def _cap(con) -> str:
    return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]


@pytest.fixture(autouse=True)
def _no_user_cap(monkeypatch):
    monkeypatch.delenv(MEMORY_LIMIT, raising=False)


def _round_cap(path) -> str:
    with keeping(path) as kept:
        return _cap(kept.join())


def test_a_read_rounds_cap_grows_with_the_rows_of_keyed_tables(tmp_path):
    path = _store(tmp_path / "s.duckdb", keyed=300_000)
    assert _round_cap(path) == as_duckdb_says(f"{WORKING_ROOM + KEY_BYTES * 300_000}B")


def test_raw_records_not_applied_yet_count_for_the_keys_they_will_have(tmp_path):
    # A remap of stored raw records (or a round of new ones) adds a canonical row and a link for each.
    path = _store(tmp_path / "s.duckdb", keyed=1_000, raw=400_000)
    assert _round_cap(path) == as_duckdb_says(f"{WORKING_ROOM + KEY_BYTES * 2 * 400_000}B")


def test_an_empty_store_gets_the_working_room_in_a_round_and_the_floor_otherwise(tmp_path):
    path = tmp_path / "new.duckdb"
    with open_store(path) as con:
        assert _cap(con) == as_duckdb_says(f"{FLOOR}B")
        assert con.execute("SELECT current_setting('allocator_background_threads')").fetchone()[0] is True
    assert _round_cap(path) == as_duckdb_says(f"{WORKING_ROOM}B")


def test_other_connections_keep_the_floor_until_the_keys_need_more(tmp_path):
    keys = (FLOOR - WORKING_ROOM) // KEY_BYTES + 200_000
    path = _store(tmp_path / "s.duckdb", keyed=keys)
    with open_store(path, read_only=True) as con:
        assert _cap(con) == as_duckdb_says(f"{WORKING_ROOM + KEY_BYTES * keys}B")
    path = _store(tmp_path / "small.duckdb", keyed=1_000)
    with open_store(path) as con:
        assert _cap(con) == as_duckdb_says(f"{FLOOR}B")


def test_the_users_cap_wins(tmp_path, monkeypatch):
    path = _store(tmp_path / "s.duckdb", keyed=300_000)
    monkeypatch.setenv(MEMORY_LIMIT, "123MB")
    with open_store(path) as con:
        assert _cap(con) == as_duckdb_says("123MB")
    assert _round_cap(path) == as_duckdb_says("123MB")


def test_a_cap_duckdb_cannot_read_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT, "lots")
    with pytest.raises(UserError) as err, open_store(tmp_path / "s.duckdb"):
        pass
    assert f"{MEMORY_LIMIT}='lots' is not a size DuckDB understands" in str(err.value)
    assert "512MB" in str(err.value)


def test_running_out_of_memory_mid_transaction_says_so_and_what_to_set():
    # The rows a statement staged are unregistered in a ``finally``; in the transaction the failure aborted,
    # that refused with "Current transaction is aborted", which replaced the out-of-memory error itself.
    import pyarrow as pa

    from crmsync.store import out_of_memory, register_arrow, unregister_arrow

    con = duckdb.connect()
    con.execute("SET memory_limit = '8MB'")
    con.execute("SET max_temp_directory_size = '0B'")  # nowhere to spill: the cap is the end
    con.execute("BEGIN")
    register_arrow(con, "staged_rows", pa.table({"k": list(range(1000))}))
    with pytest.raises(duckdb.OutOfMemoryException) as raised:
        try:
            con.execute("CREATE TABLE big AS SELECT s.k, md5(r.range::VARCHAR) FROM staged_rows s, range(20000) r")
        finally:
            unregister_arrow(con, "staged_rows")
    con.close()
    try:
        raise RuntimeError("a step failed") from raised.value  # as dlt wraps its steps' errors
    except RuntimeError as wrapped:
        error = out_of_memory(wrapped)
    assert isinstance(error, UserError) and error.exit_code == 2
    assert str(error).startswith("the store ran out of memory under its cap, sized to the store: Out of Memory")
    assert "SET memory_limit" not in str(error) and MEMORY_LIMIT in error.hint
    assert out_of_memory(RuntimeError("something else")) is None


def _update_in_commits(path, *, relieving: bool) -> int:
    """Change every row of a 300k-row table, 10k rows a transaction, under a 24MB cap with nowhere to spill."""
    from crmsync.store import relieve

    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE OR REPLACE TABLE t AS SELECT range AS id, md5(range::VARCHAR) AS a FROM range(300000)")
        con.execute("CHECKPOINT")
        con.execute("SET memory_limit = '24MB'")
        con.execute("SET max_temp_directory_size = '0B'")
        checkpoints = 0
        for low in range(0, 300_000, 10_000):
            con.execute("BEGIN")
            con.execute("UPDATE t SET a = md5(a) WHERE id >= ? AND id < ?", [low, low + 10_000])
            con.execute("COMMIT")
            if relieving:
                checkpoints += relieve(con)
        assert con.execute("SELECT count(*) FROM t WHERE a = md5(md5(id::VARCHAR))").fetchone()[0] == 300_000
        return checkpoints
    finally:
        con.close()


def test_committed_updates_are_checkpointed_before_they_fill_the_cap(tmp_path):
    # DuckDB keeps committed updates in memory, unspillable, until a checkpoint: a remap changing every record
    # of a million ran out of memory under the store's cap. relieve() (after each of a run's commits) folds them
    # into the file once they pass RELIEVE_AT of the cap, so the same work fits.
    with pytest.raises(duckdb.OutOfMemoryException):
        _update_in_commits(tmp_path / "without.duckdb", relieving=False)
    assert _update_in_commits(tmp_path / "with.duckdb", relieving=True) >= 1


def test_a_store_far_from_its_cap_is_not_checkpointed(tmp_path):
    from crmsync.store import relieve

    with open_store(tmp_path / "s.duckdb") as con:
        con.execute("CREATE TABLE t AS SELECT range AS id FROM range(1000)")
        con.execute("UPDATE t SET id = id + 1")
        assert relieve(con) is False


def test_the_working_room_is_the_cap_less_what_the_keys_pin(tmp_path, monkeypatch):
    from crmsync.store import _memory_cap, working_room

    path = _store(tmp_path / "s.duckdb", keyed=1_000, raw=400_000)  # the raw records count for their two keys
    monkeypatch.setenv(MEMORY_LIMIT, "200MB")
    with open_store(path) as con:
        assert working_room(con) == _memory_cap(con) - KEY_BYTES * 2 * 400_000 > 0
    monkeypatch.setenv(MEMORY_LIMIT, "30MB")
    with open_store(path) as con:
        assert working_room(con) == 0  # less than the keys: no room, not a negative one


@pytest.fixture(scope="module")
def unapplied_million(tmp_path_factory):
    return _store(tmp_path_factory.mktemp("slices") / "s.duckdb", keyed=0, raw=1_000_000)  # a first remap of 1M


@pytest.mark.parametrize(("limit", "rows"), [(None, "SLICE"), ("512MB", "SLICE"), ("800MB", 122_880),
                                             ("1GB", 245_760), ("64GB", 245_760)])
def test_a_slice_is_whole_row_groups_only_where_the_cap_leaves_room_for_them(unapplied_million, monkeypatch, limit,
                                                                             rows):
    """crmsync's own cap keeps the slice it was measured with; a user's larger cap gets slices of whole row groups
    (one at ~800MB, two from ~1GB at 1M records), written to the file rather than through the WAL."""
    from crmsync.canonical import apply_columnar

    if limit:
        monkeypatch.setenv(MEMORY_LIMIT, limit)
    with open_store(unapplied_million) as con:
        got = apply_columnar.slice_rows(con)
    assert got == (apply_columnar.SLICE if rows == "SLICE" else rows)
    assert got == apply_columnar.SLICE or got % apply_columnar.ROW_GROUP == 0
