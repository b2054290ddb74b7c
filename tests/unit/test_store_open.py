import duckdb
import pytest

from crmsync.store import open_store


def test_a_read_only_open_beside_this_process_writer_shares_it(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as writer:
        writer.execute("CREATE TABLE sync.t AS SELECT 1 AS x")
        with open_store(path, read_only=True) as reader:  # e.g. a run reading its connection mid-way
            assert reader.execute("SELECT x FROM sync.t").fetchall() == [(1,)]


def test_a_read_only_open_is_read_only_otherwise(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path):
        pass
    with open_store(path, read_only=True) as reader:
        try:
            reader.execute("CREATE TABLE sync.u (x INTEGER)")
        except duckdb.Error as exc:
            assert "read-only" in str(exc).lower()
        else:
            raise AssertionError("a read-only store accepted a write")


def test_a_held_store_is_one_connection_for_the_run_and_refuses_other_processes(tmp_path):
    import subprocess
    import sys

    from crmsync.store import hold

    path = tmp_path / "s.duckdb"
    with open_store(path):
        pass
    with hold(path) as held:
        with open_store(path) as con:
            con.execute("CREATE TABLE sync.t AS SELECT 1 AS x")
        with open_store(path, read_only=True) as con:  # a cursor of the same connection
            assert con.execute("SELECT x FROM sync.t").fetchall() == [(1,)]
        other = subprocess.run([sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1])", str(path)],
                               capture_output=True, text=True)
        assert other.returncode != 0 and "lock" in other.stderr.lower()  # nobody else writes meanwhile
        assert held.whole
        held.release()
        assert not held.whole
        with open_store(path) as con:  # opened as before once let go
            assert con.execute("SELECT x FROM sync.t").fetchall() == [(1,)]


def test_another_thread_opening_a_held_store_breaks_the_hold(tmp_path):
    import threading

    from crmsync.store import hold

    path = tmp_path / "s.duckdb"
    with open_store(path):
        pass
    seen = []

    def beside() -> None:
        with open_store(path) as con:
            con.execute("CREATE TABLE IF NOT EXISTS sync.beside (x INTEGER)")
        with hold(path) as second:  # a second run's hold in this process: none
            seen.append(second)

    with hold(path) as held:
        thread = threading.Thread(target=beside)
        thread.start()
        thread.join()
        assert seen == [None] and not held.whole


def test_a_read_during_a_run_never_locks_out_the_runs_own_read_write_connect(tmp_path):
    """A token refresh in a run's fetch thread read the store read-only just as dlt connected read-write
    for a load: DuckDB refused dlt's connect ("different configuration than existing connections") and
    the run failed. While a run of this process writes the store, a read is a read-write connection."""
    import duckdb

    from crmsync.store import open_store, writing

    path = tmp_path / "crmsync.duckdb"
    with open_store(path) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    with open_store(path, read_only=True), pytest.raises(duckdb.ConnectionException, match="different configuration"):
        duckdb.connect(str(path)).close()  # what happened before: the read holds the file read-only
    with writing(path), open_store(path, read_only=True) as reader:
        loader = duckdb.connect(str(path))  # dlt's own connect while the read is still open
        loader.execute("INSERT INTO t VALUES (2)")
        loader.close()
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (2,)
    with open_store(path, read_only=True) as con, pytest.raises(duckdb.Error):  # the run is over: read-only again
        con.execute("INSERT INTO t VALUES (3)")
