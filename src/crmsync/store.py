"""The staging store (DuckDB by default, or PostgreSQL): one place that opens it, so every caller gets the
same rules.

A store is named within its project by :func:`store_name`: a DuckDB file's path, or ``postgres:<VAR>`` for
a Postgres database whose DSN is in the environment variable VAR (:mod:`crmsync.store_postgres`).
``Project.store_path(name)`` turns either into a path under the project, and :func:`open_store` opens
what it names. Callers write DuckDB SQL; a Postgres store translates it (:mod:`crmsync.store_sql`).

DuckDB allows one read-write process per file. Callers keep connections short (open, work,
commit, close) so a second crmsync process — a scheduled run next to `crmsync status`, two token
refreshes — waits briefly instead of failing; :func:`open_store` retries while the file is locked.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import duckdb

from crmsync.errors import BusyError, UserError
from crmsync.project import DEFAULT_STORE, Project

POSTGRES = "postgres:"  # + the name of the environment variable holding the DSN

LOCK_WAIT_SECONDS = 30.0
LOCK_WAIT = "CRMSYNC_STORE_LOCK_WAIT_SECONDS"  # how long to wait for a store another process holds
MEMORY_LIMIT = "CRMSYNC_DUCKDB_MEMORY_LIMIT"  # e.g. 1GB: a fixed cap instead of one sized to the store

# DuckDB's cap when the user sets none: working room plus what the store's primary keys pin. Without a cap
# DuckDB's buffer pool grows with the store (its default is 80 % of the machine's RAM); a read round's
# rows wait in it for the round's checkpoint, so a fixed 256MB cap was filled at 100k records and was
# most of a pull's peak. Below the cap DuckDB spills to its temp folder. But it cannot spill an ART
# index: an insert loads a primary key's index whole and keeps it pinned (~45 bytes a row; 86.5 MB for
# canonical.contacts and sync.links at 1M, ``python -m benchmarks.memory_where art``), so a fixed 128MB
# cap ran out at 1M. Hence a cap sized to the keys: WORKING_ROOM plus KEY_BYTES per row of the keyed
# tables, or per key the stored raw records will have once applied (each becomes a canonical row and a
# link: a remap of raw rows not applied yet), whichever is more, and at least FLOOR, the fixed cap crmsync had
# before, except on a read round's connections (:func:`keeping`: dlt's load and the round's apply), where it was
# measured: a 100k pull kept its CPU at 128 MB of room (64 MB cost ~10 % more). A remap of 100k first records
# ran out of memory at 106 MB and at 138 MB (a commit's new rows and their keys stay in memory until it ends),
# so every other connection keeps FLOOR until that is understood.
WORKING_ROOM = 128 * 2**20
KEY_BYTES = 50
FLOOR = 256 * 2**20


# The keys the cap is sized to, from the catalog alone (row counts DuckDB keeps per table; no scan): the rows of
# the tables with a primary key, or two a stored raw record (the ``raw_<connection>`` schemas dlt loads,
# crmsync.read.run.dataset_name, without dlt's own ``_dlt_*`` tables), whichever is more. Over duckdb_tables().
_KEYS = ("greatest(coalesce(sum(estimated_size) FILTER (WHERE has_primary_key), 0), "
         "2 * coalesce(sum(estimated_size) FILTER (WHERE schema_name LIKE 'raw\\_%' ESCAPE '\\' "
         "AND table_name NOT LIKE '\\_dlt\\_%' ESCAPE '\\'), 0))")


def _sized_cap(floor: int) -> tuple[str, str]:
    # A variable because ``SET memory_limit`` takes no subquery.
    return (
        f"SET VARIABLE crmsync_memory_limit = (SELECT greatest({floor}, {WORKING_ROOM} + {KEY_BYTES} * {_KEYS})"
        "::VARCHAR || 'B' FROM duckdb_tables())",
        "SET GLOBAL memory_limit = getvariable('crmsync_memory_limit')",
    )


def working_room(con: Any) -> float:
    """Bytes DuckDB's cap on ``con`` leaves beside what the store's primary keys pin (:data:`KEY_BYTES` a key,
    counted as the sized cap counts them): the room a run's batch of work has (0 for a Postgres store)."""
    if engine(con) != "duckdb":
        return 0.0
    keys = con.execute(f"SELECT {_KEYS} FROM duckdb_tables()").fetchall()[0][0]
    return max(0.0, _memory_cap(con) - KEY_BYTES * float(keys or 0))


# DuckDB's allocator (its own jemalloc) kept the pages a query had freed: after a read round's load and
# checkpoint it held 3-6x what it had allocated (85 MB for 14 MB at 10k records). Its background threads
# give freed pages back after a second. Process-wide, like the allocator itself.
_ALLOCATOR = "SET GLOBAL allocator_background_threads = true"


def memory_limit() -> str | None:
    """The cap the user set for DuckDB (:data:`MEMORY_LIMIT`); None: sized to the store (:func:`memory_settings`)."""
    return os.environ.get(MEMORY_LIMIT) or None


def memory_settings(read_round: bool = False) -> list[str]:
    """The statements that set a DuckDB connection's memory rules: the user's cap, or one sized to the store
    the connection is open on (:data:`WORKING_ROOM` + :data:`KEY_BYTES` a key, at least :data:`FLOOR` unless
    ``read_round``), and the allocator's. Run on each connection crmsync opens and each dlt opens
    (crmsync.read.duckdb_dest): the cap belongs to the database instance, so the last connection opened
    sets it for all."""
    fixed = memory_limit()
    cap = [f"SET GLOBAL memory_limit = '{fixed}'"] if fixed else list(_sized_cap(0 if read_round else FLOOR))
    return [*cap, _ALLOCATOR]


def limit_memory(con: duckdb.DuckDBPyConnection, *, read_round: bool = False) -> None:
    from crmsync.malloc import tune_malloc

    tune_malloc()
    try:
        for statement in memory_settings(read_round):
            con.execute(statement)
    except duckdb.Error as exc:
        if memory_limit() is None:
            raise
        raise UserError(f"{MEMORY_LIMIT}={memory_limit()!r} is not a size DuckDB understands "
                        f"(use e.g. 512MB or 2GB): {exc}") from None


def _connect(path: Path, read_only: bool, wait: bool = True) -> duckdb.DuckDBPyConnection:
    settled(path)  # a read round's store still being written out (Kept.close) is opened after it
    try:
        patience = float(os.environ.get(LOCK_WAIT, LOCK_WAIT_SECONDS)) if wait else 0.0
    except ValueError:
        raise UserError(f"{LOCK_WAIT} must be a number of seconds, not {os.environ[LOCK_WAIT]!r}") from None
    deadline = time.monotonic() + patience
    delay = 0.05
    told = False
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.ConnectionException as exc:
            # This process already has the file open for writing (a run reading a connection mid-way,
            # a server thread): DuckDB refuses a second, read-only configuration, and a read-write one
            # shares the open database instead of taking another lock.
            if not read_only or "different configuration" not in str(exc):
                raise
            return duckdb.connect(str(path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                damaged = "not a valid duckdb database" in str(exc).lower()
                raise UserError(f"cannot open the store {path}: {exc}", hint=(
                    "the file is damaged or is not a DuckDB store: restore it from a backup, or move it aside "
                    "and run `crmsync pull PIPELINE --full-refresh`" if damaged else
                    "check the staging path in the pipeline and the folder's permissions")) from None
            holder = _holder(str(exc))
            if time.monotonic() >= deadline:
                raise BusyError(f"the store {path} is held by {holder}; nothing was done",
                                hint=f"close that DuckDB client (or end that process) and run again; {LOCK_WAIT} "
                                     "sets how long to wait (default 30)") from None
            if not told and delay >= 0.4:  # a moment's wait (another run's short transaction) is not news
                told = True
                from crmsync.waiting import notify

                notify(f"waiting up to {patience:.0f} s for the store {path.name}: it is held by {holder}"
                       " (close it, e.g. a DuckDB client, to go on)")
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


def _holder(message: str) -> str:
    """Who holds the store, in DuckDB's words ("Conflicting lock is held in /usr/bin/duckdb (PID 4242)")."""
    import re

    found = re.search(r"held in (.+?) \(PID (\d+)\)", message)
    return f"{found.group(1)} (PID {found.group(2)})" if found else "another process"


def store_name(pipeline: object) -> str:
    """Which store a pipeline's runs use (its ``staging:`` block), as a name within the project."""
    staging = getattr(pipeline, "staging", None)
    if staging is not None and staging.type == "postgres":
        from crmsync.store_postgres import DEFAULT_DSN_ENV

        return POSTGRES + str(staging.options.get("dsn_env") or DEFAULT_DSN_ENV)
    return str((staging.options.get("path") if staging is not None else None) or DEFAULT_STORE)


def home_store(project: Project) -> Path:
    """The store that keeps the project's connections (``sync.connections``, the sealed credentials): the
    Postgres store when the project's pipelines use one, so every worker on every machine finds them;
    otherwise the default DuckDB file. Read from the pipelines' ``staging:`` blocks alone (a token refresh
    or a no-op run must not pay for a full spec check)."""
    import yaml

    from crmsync.specs.models import TypedBlock

    found = set()
    folder = project.root / "pipelines"
    for spec in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            staging = (yaml.safe_load(spec.read_text(encoding="utf-8")) or {}).get("staging")
        except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
            continue  # `crmsync validate` reports a broken file; the connections stay where they are
        if isinstance(staging, dict) and staging.get("type") == "postgres":
            found.add(store_name(_Staged(TypedBlock.from_data(staging))))
    if len(found) > 1:
        raise UserError(f"the project's pipelines use {len(found)} Postgres stores ({', '.join(sorted(found))}); "
                        "its connections live in one", hint="point every pipeline's staging.dsn_env at one database")
    return project.store_path(found.pop() if found else DEFAULT_STORE)


class _Staged:
    def __init__(self, staging: object) -> None:
        self.staging = staging


def postgres_env(path: Path | str) -> str | None:
    """For a Postgres store, the variable naming its DSN; None for a DuckDB file."""
    name = Path(path).name
    return name[len(POSTGRES):] if name.startswith(POSTGRES) else None


def store_exists(path: Path) -> bool:
    """Whether there is a store to read at ``path`` (a Postgres store is made by the server's owner)."""
    return postgres_env(path) is not None or path.exists()


def engine(con: object) -> str:
    """``duckdb`` or ``postgres``: for the few places whose SQL or Python API differs by engine."""
    return getattr(con, "engine", "duckdb")


def register_arrow(con: Any, name: str, table: Any) -> None:
    """Register the Arrow ``table`` as ``name`` on the DuckDB connection ``con`` for the statements that
    follow. A query whose rows were not all fetched (a ``fetchone()``) is dropped first: the next
    ``execute`` on the connection drops it anyway, but since DuckDB 2.0 ``register`` refuses to run
    beside it (``ResourceInUseException``), and callers staged rows right after such a query."""
    _drop_unfetched(con)
    con.register(name, table)


def unregister_arrow(con: Any, name: str) -> None:
    """Undo :func:`register_arrow` once the statements that read ``name`` are done (``unregister`` refuses
    beside an unfetched result too)."""
    _drop_unfetched(con)
    # A transaction that failed already refuses this: its statement's own error (e.g. out of memory) is on
    # its way up and must not be replaced by this one; the rollback drops what it staged.
    with suppress(duckdb.TransactionException):
        con.unregister(name)


def _drop_unfetched(con: Any) -> None:
    abort = getattr(con, "abort", None)  # DuckDB 2.0; older releases had no such rule
    if abort is not None:
        abort()


@contextmanager
def open_store(path: Path, *, read_only: bool = False, wait: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the store at ``path`` (created on first use), closed on exit. For a Postgres
    store a connection with DuckDB's surface (:class:`crmsync.store_postgres.PgConnection`); while this
    process holds a DuckDB store (:class:`Held`), a cursor of that one connection. ``wait=False``: a
    DuckDB store another process holds is a :class:`BusyError` at once (this process's own round and
    checkpoint are still waited for)."""
    env = postgres_env(path)
    if env is not None:
        from crmsync.store_postgres import connect

        pg = connect(path.parent, env, read_only=read_only)
        try:
            if not read_only:
                pg.execute("CREATE SCHEMA IF NOT EXISTS sync")
            yield pg  # type: ignore[misc]
        finally:
            pg.close()
        return
    if read_only and not path.exists():
        raise UserError(f"no store at {path} yet: run a pull first")
    if read_only and _WRITING.get(str(path.resolve())):
        read_only = False  # see writing(): a read-only configuration would lock dlt's writes out
    kept = _KEPT.get(str(path.resolve()))
    if kept is not None and kept.thread == threading.get_ident() and _HELD.get(str(path.resolve())) is None:
        cursor = kept.join().cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    held = _HELD.get(str(path.resolve()))
    if held is not None:
        if held.thread == threading.get_ident():
            cursor = held.con.cursor()
            try:
                yield cursor
            finally:
                cursor.close()
            return
        held.whole = False  # another thread of this process writes beside the run: it is no quiet run
    path.parent.mkdir(parents=True, exist_ok=True)
    con = _connect(path, read_only, wait)
    try:
        limit_memory(con)
        if not read_only:
            con.execute("CREATE SCHEMA IF NOT EXISTS sync")
        yield con
    finally:
        con.close()


_HELD: dict[str, Held] = {}
_KEPT: dict[str, Kept] = {}
_HOLDING = threading.Lock()
_WRITING: Counter[str] = Counter()


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Mark the DuckDB store at ``path`` as written by a run of this process, for the run's length.

    DuckDB keeps one configuration per file in a process: while any connection opened read-only is
    open, a read-write connect fails ("different configuration than existing connections"). A run's
    other threads read the store beside the run (a token refresh in the fetch thread reads the
    connection), and dlt connects read-write on its own for each load; a read-only read that happened to
    be open at that moment failed the load. So, while a run writes, this process opens the store
    read-write even for reads (read-write connections share one open database)."""
    key = str(path.resolve())
    with _HOLDING:
        _WRITING[key] += 1
    try:
        yield
    finally:
        with _HOLDING:
            _WRITING[key] -= 1
            if _WRITING[key] <= 0:
                del _WRITING[key]


class Held:
    """One connection to the store for a whole short run (:func:`hold`): every :func:`open_store` of that
    path in the holding thread is a cursor of it, so the store is opened once instead of once per step,
    and no other process can write between the run's steps (DuckDB lets one process write a file at a
    time). A step that must open the file its own way (dlt's loads) calls :meth:`release` first; the
    rest of the run then opens and closes as before. :attr:`whole` is False once the hold was let go
    or another thread of this process opened the store meanwhile: then others may have written."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con: Any = None
        self.whole = True
        self.thread = threading.get_ident()  # other threads open the store as before (and break the hold)

    def release(self) -> None:
        with _HOLDING:
            if _HELD.get(str(self.path.resolve())) is self:
                del _HELD[str(self.path.resolve())]
        if self.con is not None:
            self.con.close()
            self.con = None
        self.whole = False


@contextmanager
def hold(path: Path) -> Iterator[Held | None]:
    """Hold the store at ``path`` (which must exist) for a run; released on exit. None when this process
    holds it already (another thread's run): then this run opens the store as before, and the other
    run's hold is no longer whole."""
    key = str(path.resolve())
    with _HOLDING:
        if key in _HELD:
            _HELD[key].whole = False
            held = None
        else:
            held = _HELD[key] = Held(path)
    if held is None:
        yield None
        return
    try:
        held.con = _connect(path, read_only=False)
        limit_memory(held.con)
        held.con.execute("CREATE SCHEMA IF NOT EXISTS sync")
        yield held
    finally:
        with _HOLDING:
            if _HELD.get(key) is held:
                del _HELD[key]
        if held.con is not None:
            held.con.close()
            held.con = None


ROUND_WAL = "1GB"  # checkpoint_threshold while a read round keeps the store: no checkpoint inside a round


def checkpoint_every(con: Any, size: str) -> None:
    """Let the WAL of the DuckDB store ``con`` is open on grow to ``size`` before DuckDB checkpoints on
    its own (its default, 16 MB, checkpointed a remap of 100k records every few chunks; each checkpoint
    rewrites the changed tables' indexes, which grow with the store). For as long as the file stays
    open in this process; what a crash leaves in the WAL is replayed by the next open."""
    if engine(con) == "duckdb":
        con.execute(f"SET GLOBAL checkpoint_threshold = '{size}'")


class Kept:
    """The store kept open for one read round, from dlt's load to the end of the round's apply (:func:`keeping`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.con: Any = None
        self.thread = threading.get_ident()
        self._lock = threading.Lock()

    def join(self) -> Any:
        """The round's connection, opened by the first caller (a client of dlt's, or the apply)."""
        with self._lock:
            if self.con is None:
                con = _connect(self.path, read_only=False)
                try:
                    limit_memory(con, read_round=True)
                    checkpoint_every(con, ROUND_WAL)
                    con.execute("CREATE SCHEMA IF NOT EXISTS sync")
                except BaseException:
                    con.close()
                    raise
                self.con = con
            return self.con

    def close(self) -> None:
        """Write the round out (a checkpoint, once for the round) in a thread of its own, and close.

        A round's checkpoint took 0.3–1.8 s (a 100k pull: ~3 s over five rounds, 10 % of its time),
        mostly compressing the round's new row groups in DuckDB's own threads, with the GIL released;
        the next round meanwhile takes its pages, parses them and builds its Arrow tables, none of which
        needs the store. Every later open of the file in this process (:func:`_connect`: the next round's
        load, the run's last transaction, a token refresh) waits for it first (:func:`settled`), so the
        store is opened as before: after the checkpoint, by one database at a time."""
        with self._lock:
            con, self.con = self.con, None
        if con is None:
            return
        key = str(self.path.resolve())
        settler = threading.Thread(target=_write_out, args=(con, self.path), name="crmsync-checkpoint")
        with _HOLDING:
            _SETTLING[key] = settler
        settler.start()


_SETTLING: dict[str, threading.Thread] = {}  # store path -> the thread writing out its last read round
_FAILED: dict[str, str] = {}  # store path -> why writing out its last read round failed, until an open reports it
# DuckDB's memory cap while a round is written out behind the next one. The round's pages are then parsed
# beside it: under the store's own cap (sized to the store; on a read round's connections without FLOOR)
# the two together peaked a 100k pull at 600-620 MB, where the checkpoint alone (in the foreground) had
# been the peak at 560-575; with this cap, DuckDB drops the blocks the apply had cached first and the pull
# peaked at 487-490 MB.
CHECKPOINT_MEMORY = 128 * 2**20
_UNITS = {"bytes": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40, "PiB": 2**50}


def _write_out(con: Any, path: Path) -> None:
    failure = None
    try:
        # An explicit checkpoint (with the GIL released) rather than the one of the last close: the close
        # then finds nothing to write, and DuckDB's database instance goes away at once.
        if _memory_cap(con) > CHECKPOINT_MEMORY:
            con.execute(f"SET memory_limit = '{CHECKPOINT_MEMORY}B'")
        con.execute("CHECKPOINT")
    except duckdb.TransactionException:
        pass  # another connection of this process is mid-transaction: the last close checkpoints, as before
    except Exception as exc:  # a disk that is full or failing: nothing committed is lost, but it must be said
        failure = f"its checkpoint failed: {exc}"
    finally:
        try:
            con.close()
        except Exception as exc:
            failure = failure or f"closing it failed: {exc}"
    if failure is not None:
        from crmsync.logs import log

        log.warning("the store %s was not written out after a read round: %s", path, failure)
        with _HOLDING:
            _FAILED[str(path.resolve())] = failure


# What DuckDB holds for committed writes until a checkpoint folds them into the file: updated values (its
# ALLOCATOR tag), appended rows (IN_MEMORY_TABLE) and their undo records (TRANSACTION). Updates and undo cannot
# be spilled: a remap changing every record of 100k grew them from 27 to 198 MB under a 256MB cap; at 1M it ran
# out of memory at any cap up to 256MB. With a checkpoint after each commit it ran under 64MB (at ~45 % more
# time), so a run checkpoints only when they pass this share of the cap (:func:`relieve`). That costs a 100k
# remap of new records ~25 % more time (12.3 -> 15.5 s) for ~50 MB less peak RSS; at 60 % of the cap, with the
# indexes counted, the 100k remap ran out of memory under a 64MB cap again. Appended rows *can* be spilled
# (DuckDB 1.2 and 2.0: 1M new rows went in under a 256MB cap with no checkpoint): they are counted for memory,
# not to avoid running out of it. Not counting them saved a 1M first remap ~10 % of its time (its 14 checkpoints
# rewrite partly filled row groups) but DuckDB then held new rows up to its whole cap: peak RSS 484-605 MB
# against a steady ~490 (benchmarks/RESULTS.md, seventh session).
UNSPILLABLE = ("ALLOCATOR", "IN_MEMORY_TABLE", "TRANSACTION")
RELIEVE_AT = 0.4


def relieve(con: Any) -> bool:
    """Between two of a run's transactions: checkpoint a DuckDB store if what its committed writes hold in
    memory (:data:`UNSPILLABLE`) has passed :data:`RELIEVE_AT` of its cap; whether it did."""
    if engine(con) != "duckdb":
        return False
    tags = ", ".join(f"'{t}'" for t in UNSPILLABLE)
    held = con.execute(f"SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() WHERE tag IN ({tags})"
                       ).fetchone()[0]
    cap = _memory_cap(con)
    if not cap or held <= RELIEVE_AT * cap:
        return False
    try:
        con.execute("CHECKPOINT")
    except duckdb.TransactionException:
        return False  # another connection of this process is mid-transaction: a later commit tries again
    return True


def _memory_cap(con: Any) -> float:
    """DuckDB's memory cap on ``con``, in bytes (it shows it as e.g. ``244.1 MiB``)."""
    number, _, unit = str(con.execute("SELECT current_setting('memory_limit')").fetchone()[0]).partition(" ")
    try:
        return float(number) * _UNITS[unit]
    except (KeyError, ValueError):
        return 0.0  # a form not known here: the cap stays as it is


def settled(path: Path | str, *, report: bool = True) -> None:
    """Wait until the last read round's checkpoint of the store at ``path`` (:meth:`Kept.close`) is done.

    If writing it out failed (a full or failing disk), say so, once: a :class:`UserError` naming the store
    and DuckDB's words, raised here (so by the next open of the store in this process, which fails the
    run that opens it: its outcome says why). ``report=False`` only waits, leaving the failure to the next
    open: for a caller already failing for another reason, whose own error must not be masked."""
    key = str(Path(path).resolve())
    settler = _SETTLING.get(key)
    if settler is not None and settler is not threading.current_thread():
        settler.join()
        with _HOLDING:
            if _SETTLING.get(key) is settler:
                del _SETTLING[key]
    if not report or key not in _FAILED:
        return
    with _HOLDING:
        failure = _FAILED.pop(key, None)
    if failure is not None:
        raise UserError(f"the store {path} was not written out after a read round: {failure}", hint=(
            f"nothing committed is lost (DuckDB keeps it in {Path(path).name}.wal and writes it in at the next "
            f"open), but check the disk that holds {Path(path).parent}: free space, permissions, I/O errors"))


@contextmanager
def keeping(path: Path) -> Iterator[Kept | None]:
    """Keep the DuckDB store at ``path`` open for one read round, from when dlt first makes a client for
    it (:func:`join_round`: the load step, and on a pipeline's first run its state check) until the
    round's apply has committed.

    DuckDB checkpoints when the last connection to a file closes, and dlt opened and closed the store
    several times in one load, then the apply opened it once more: about six checkpoints a round, each
    rewriting what changed (and the indexes, which grow with the store). While a round keeps the store,
    dlt's connections and the apply's are connections to one open database, the WAL grows until the
    round ends (``checkpoint_threshold`` is raised to :data:`ROUND_WAL`; a round's writes are what a
    crash replays) and one checkpoint writes the round when it closes. The kept connection is opened
    by :func:`_connect`, which waits while another process holds the file; dlt's own connect did not
    wait, so a `crmsync status` at the wrong moment failed a load.

    Other processes still get the store between rounds, as before: after a round's apply the file is
    closed until the next round's load starts (its pages are fetched, extracted and normalized with the
    store closed). None for a Postgres store, or when this process keeps the store already."""
    key = str(path.resolve()) if postgres_env(path) is None else None
    kept = None
    with _HOLDING:
        if key is not None and key not in _KEPT:
            kept = _KEPT[key] = Kept(path)
    try:
        yield kept
    finally:
        if kept is not None:
            with _HOLDING:
                del _KEPT[key]  # type: ignore[arg-type]
            kept.close()


def join_round(path: Path | str) -> None:
    """dlt is about to connect to the store at ``path``: a round that keeps it (:func:`keeping`) opens it
    now, so that dlt's connections do not close the file (and checkpoint) one after the other."""
    if postgres_env(path) is not None:
        return
    kept = _KEPT.get(str(Path(path).resolve()))
    if kept is not None:
        kept.join()


def out_of_memory(exc: BaseException) -> UserError | None:
    """``exc`` (or what it wraps: dlt wraps its steps' errors) as what the user can do about it, if it is
    DuckDB running out of its memory cap; None for anything else."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, duckdb.OutOfMemoryException):
            cap = memory_limit()
            where = f"the cap {MEMORY_LIMIT}={cap}" if cap else "its cap, sized to the store"
            said = str(cause).splitlines()[0]  # DuckDB's advice after it names its own SQL settings
            return UserError(f"the store ran out of memory under {where}: {said}",
                             hint=f"set {MEMORY_LIMIT} to a larger size (e.g. 1GB or 2GB) and run the command "
                                  "again: what the run committed is kept, and the next run goes on from there")
        cause = cause.__cause__ or cause.__context__
    return None

