"""A read round's store is written out (checkpointed) in the background while the next round begins
(crmsync.store.Kept.close); every later open in this process waits for it, and then the file is closed."""

import logging
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crmsync.errors import UserError
from crmsync.store import _memory_cap, keeping, open_store, settled


def _wal(path: Path) -> int:
    wal = Path(f"{path}.wal")
    return wal.stat().st_size if wal.exists() else 0


def test_a_rounds_checkpoint_runs_behind_and_the_next_open_waits_for_it(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path):
        pass
    with keeping(path) as kept:
        con = kept.join()
        con.execute("CREATE TABLE sync.t AS SELECT range AS x, repeat('y', 200) AS y FROM range(200000)")
        assert _wal(path) > 0  # the round's writes wait in the WAL (checkpoint_threshold raised)
    with open_store(path) as con:  # waits for the round's checkpoint, then opens the file
        assert con.execute("SELECT count(*), sum(x) FROM sync.t").fetchone() == (200000, sum(range(200000)))
    settled(path)
    assert _wal(path) == 0  # written into the file: nothing left for the next open to replay
    other = subprocess.run([sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1], "
                            "read_only=True); print(con.execute('SELECT count(*) FROM sync.t').fetchone()[0])",
                            str(path)], capture_output=True, text=True, timeout=60)
    assert other.returncode == 0, other.stderr  # another process gets the file between rounds
    assert other.stdout.strip() == "200000"


def test_the_next_round_joins_only_after_the_last_is_written_out(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path):
        pass
    for round_ in range(3):
        with keeping(path) as kept:
            con = kept.join()
            if round_ == 0:
                con.execute("CREATE TABLE sync.t (x BIGINT)")
            con.execute(f"INSERT INTO sync.t SELECT range FROM range({round_ * 100000}, {(round_ + 1) * 100000})")
    settled(path)
    assert _wal(path) == 0
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT x), min(x), max(x) FROM sync.t").fetchone() == (300000, 0, 299999)


def test_the_memory_cap_is_read_back_in_bytes():
    con = duckdb.connect()
    con.execute("SET memory_limit = '256MB'")
    assert abs(_memory_cap(con) - 256e6) < 1e5  # DuckDB shows it as 244.1 MiB
    con.execute("SET memory_limit = '2GB'")
    assert abs(_memory_cap(con) - 2e9) < 0.1 * 2**30  # 1.8 GiB: one decimal


class _FailingDisk:
    """A store connection on a disk that fails when the round is written out (``fail``: which step)."""

    def __init__(self, con, fail):
        self._con, self._fail = con, fail

    def execute(self, sql, *args):
        if sql.strip().upper() == "CHECKPOINT" and self._fail == "checkpoint":
            raise duckdb.IOException("IO Error: Could not write file \"s.duckdb\": No space left on device")
        if sql.strip().upper() == "CHECKPOINT" and self._fail == "busy":
            raise duckdb.TransactionException("Cannot CHECKPOINT: there are other write transactions active")
        return self._con.execute(sql, *args)

    def close(self):
        self._con.close()
        if self._fail == "close":
            raise duckdb.IOException("IO Error: Could not fsync file \"s.duckdb\": Input/output error")

    def __getattr__(self, name):
        return getattr(self._con, name)


def _round_on_a_failing_disk(path, monkeypatch, fail):
    import crmsync.store as store

    with open_store(path):
        pass
    real = store._connect
    monkeypatch.setattr(store, "_connect", lambda p, read_only, *wait: _FailingDisk(real(p, read_only, *wait), fail))
    with keeping(path) as kept:
        kept.join().execute("CREATE TABLE sync.t AS SELECT range AS x FROM range(1000)")
    monkeypatch.setattr(store, "_connect", real)


@pytest.mark.parametrize("fail, words", [("checkpoint", "No space left on device"),
                                          ("close", "Input/output error")])
def test_a_round_that_cannot_be_written_out_is_reported_by_the_next_open(tmp_path, monkeypatch, caplog, fail, words):
    path = tmp_path / "s.duckdb"
    with caplog.at_level(logging.WARNING, logger="crmsync"):
        _round_on_a_failing_disk(path, monkeypatch, fail)
        with pytest.raises(UserError, match=words) as told, open_store(path):
            pass
    assert str(path) in str(told.value) and "read round" in str(told.value)
    assert "nothing committed is lost" in told.value.hint
    assert any(str(path) in r.getMessage() and words in r.getMessage() for r in caplog.records)  # in the log too
    with open_store(path) as con:  # said once; the round's rows were kept
        assert con.execute("SELECT count(*) FROM sync.t").fetchone()[0] == 1000


def test_settled_without_report_leaves_the_failure_for_the_next_open(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    _round_on_a_failing_disk(path, monkeypatch, "checkpoint")
    settled(path, report=False)  # a caller already failing for another reason: its error is the one told
    with pytest.raises(UserError, match="No space left on device"):
        settled(path)


def test_a_checkpoint_another_transaction_defers_is_no_failure(tmp_path, monkeypatch):
    path = tmp_path / "s.duckdb"
    _round_on_a_failing_disk(path, monkeypatch, "busy")
    with open_store(path) as con:  # the last close checkpoints instead, as before
        assert con.execute("SELECT count(*) FROM sync.t").fetchone()[0] == 1000
