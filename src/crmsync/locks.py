"""Per-connection mutual exclusion across processes: one run of a connection at a time, one token refresh.

Two implementations of one small interface, chosen by where the pipeline's store lives:

* a DuckDB store is a file on one machine, so a lock file next to it (``.crmsync/locks/<name>.lock``) is
  enough, and the operating system drops it when its process dies;
* a Postgres store is shared by workers on several machines, which share the database but not a folder:
  the lock is a session-level Postgres advisory lock on that database, held by a connection of its own for
  as long as the lock is held. The server drops it when that connection ends, so a killed worker leaves
  none behind either.

The run lock is on the pipeline's store; the token-refresh lock on the store that keeps the connection's
tokens (crmsync.store.home_store), which is the Postgres store whenever the project's pipelines use one.

An advisory lock can be lost while its run goes on: the server restarts, the network drops the session,
an administrator ends it (``pg_terminate_backend``, ``idle_session_timeout``). Another worker may then start
the same connection. A run checks, with :func:`check_held`, that the locks its thread holds are still held
before each write it sends to a CRM (crmsync.push.outbox.claim), and stops with :class:`LockLost` if not.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from crmsync.errors import BusyError
from crmsync.project import Project

POLL_SECONDS = 0.2  # how often a waiting advisory lock asks again (Postgres has no timed try-lock)
# The lock's session is idle for the whole run: TCP keepalives make a silently dropped network path an error
# within ~30 s instead of a check that waits for the operating system's two-hour default.
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
             "tcp_user_timeout": 30000}


class LockLost(BusyError):
    """A run's advisory lock went away with its session: another worker may run the connection now."""

    hint = ("run again (a scheduler retries it: the error is transient); if it keeps happening, check the network "
            "to the Postgres server and its idle_session_timeout, which ends idle sessions such as a lock's")


_HELD = threading.local()  # the advisory locks this thread holds (a run's writes happen in the run's thread)


def check_held() -> None:
    """Raise :class:`LockLost` if an advisory lock this thread holds was lost (one round trip per lock)."""
    for lock in list(getattr(_HELD, "locks", ())):
        lock.check()

class Mutex(Protocol):
    where: str  # what holds the lock, for messages ("it holds …")

    def acquire(self, timeout: float) -> bool:
        """Take the lock within ``timeout`` seconds (0: one try); False when another process holds it."""

    def release(self) -> None: ...

    def held_elsewhere(self) -> bool:
        """Whether another process holds the lock now (asks without keeping it)."""


class FileMutex:
    """A lock file (filelock): one machine, the DuckDB store's case."""

    def __init__(self, path: Path) -> None:
        from filelock import FileLock

        self.path = path
        self.where = str(path)
        self._lock = FileLock(str(path))

    def acquire(self, timeout: float) -> bool:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=max(timeout, 0))
        except Timeout:
            return False
        return True

    def release(self) -> None:
        self._lock.release()

    def held_elsewhere(self) -> bool:
        from filelock import FileLock, Timeout

        if not self.path.exists():
            return False
        probe = FileLock(str(self.path))
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        probe.release()
        return False


class AdvisoryMutex:
    """A Postgres session-level advisory lock, keyed by a 64-bit hash of the lock's name that the server
    computes (the same on every machine)."""

    def __init__(self, dsn: str, name: str) -> None:
        self.dsn = dsn
        self.name = f"crmsync:{name}"
        self.where = f"the Postgres advisory lock {self.name!r} on {_describe(dsn)}"
        self._con: Any = None

    def _connect(self) -> Any:
        import psycopg

        from crmsync.errors import UserError
        from crmsync.secrets.masking import mask

        try:
            return psycopg.connect(self.dsn, autocommit=True, application_name=f"crmsync lock {self.name}"[:63],
                                   **KEEPALIVE)
        except psycopg.Error as exc:
            raise UserError(f"cannot reach the Postgres store at {_describe(self.dsn)} to take {self.name!r}: "
                            f"{mask(str(exc)).strip()}",
                            hint="check that the server is up and that the pipeline's dsn_env variable holds "
                                 "the right connection string") from None

    def _try(self, con: Any) -> bool:
        return bool(con.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [self.name]).fetchone()[0])

    def acquire(self, timeout: float) -> bool:
        con = self._connect()
        deadline = time.monotonic() + max(timeout, 0)
        try:
            while not self._try(con):
                if time.monotonic() >= deadline:
                    con.close()
                    return False
                time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))
        except BaseException:
            con.close()
            raise
        self._con = con
        _HELD.locks = [*getattr(_HELD, "locks", ()), self]
        return True

    def check(self) -> None:
        """Raise :class:`LockLost` if this lock's session ended. A session-level advisory lock is held until
        it is unlocked or its session ends, so a session that still answers still holds it."""
        import psycopg

        if self._con is None:
            return
        try:
            self._con.execute("SELECT 1")
        except psycopg.Error as exc:
            from crmsync.secrets.masking import mask

            self.release()
            reason = mask((str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise LockLost(f"the run lost {self.where}: its session to the Postgres server ended ({reason}). "
                           "Another worker may hold it now, so this run stopped before sending anything more to the "
                           "CRM; what it did not send waits in sync.outbox for the next run.") from None

    def release(self) -> None:
        _HELD.locks = [lock for lock in getattr(_HELD, "locks", ()) if lock is not self]
        con, self._con = self._con, None
        if con is None:
            return
        # Closing the session releases its advisory locks; an explicit unlock first keeps a pooled or
        # slow-to-close connection from holding it a moment longer.
        with contextlib.suppress(Exception):
            con.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [self.name])
        with contextlib.suppress(Exception):  # a lost session's connection is broken already
            con.close()

    def held_elsewhere(self) -> bool:
        con = self._connect()
        try:
            if self._try(con):
                con.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [self.name])
                return False
            return True
        finally:
            con.close()


def _describe(dsn: str) -> str:
    """host:port/database of a DSN, without its user or password."""
    try:
        from psycopg.conninfo import conninfo_to_dict

        parts = conninfo_to_dict(dsn)
    except Exception:  # an unparsable DSN fails on connecting, with psycopg's words
        return "the Postgres store"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def mutex(project: Project, name: str, dsn: str | None) -> Mutex:
    """The lock ``name`` (``run-<connection>``, ``connection-<connection>``): an advisory lock on the Postgres
    store at ``dsn``, or a lock file in the project's locks folder when the store is a DuckDB file."""
    if dsn:
        return AdvisoryMutex(dsn, name)
    return FileMutex(project.locks_dir / f"{name}.lock")


def store_dsn(project: Project, store: str | Path) -> str | None:
    """The DSN of a Postgres store (its name within the project, crmsync.store.store_name), or None for a
    DuckDB file."""
    from crmsync.store import postgres_env

    env = postgres_env(store)
    if env is None:
        return None
    from crmsync.store_postgres import dsn

    return dsn(project.root, env)
