import duckdb

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
