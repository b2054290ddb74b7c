"""A throwaway PostgreSQL server for the tests: one cluster per test process, a database per test.

``pg_server`` (session) runs ``initdb`` in a temporary folder and starts ``postgres`` on 127.0.0.1 on a free
port, the first time a test asks for it; ``pg_dsn`` gives each test an empty database of its own (CREATE
DATABASE copies the template: milliseconds) and drops it afterwards. Under pytest-xdist every worker starts its
own cluster: no coordination between workers, nothing shared that one worker's crash could leave half-done, and
a worker that runs no Postgres test pays nothing. The server stops at session end, and dies with the test
process if that process is killed (the postmaster's parent-death signal), so no test run leaves one behind.

The binaries come from Debian's ``postgresql`` package (``make postgres`` installs it); Postgres refuses to run
as root, so as root the server runs as the ``postgres`` system user the package creates.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

BIN_ENV = "CRMSYNC_PG_BIN"  # a folder with initdb and postgres, when they are not where Debian puts them
PREFIX = "crmsync-pg-"
START_SECONDS = 60.0
HOW_TO_GET = "run `make postgres` (as root it installs Debian's postgresql) or set CRMSYNC_PG_BIN to its bin folder"


def find_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres``: $CRMSYNC_PG_BIN, PATH, then Debian's newest version."""
    candidates = [os.environ.get(BIN_ENV, "")]
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                    if Path(p).parent.name.isdigit() else 0, reverse=True)
    for folder in [c for c in candidates if c] + debian:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    raise RuntimeError(f"no PostgreSQL server binaries (initdb, postgres) on this machine: {HOW_TO_GET}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(parent: Path) -> None:
    """Remove clusters whose test process is gone (a killed run cannot clean up after itself)."""
    for folder in parent.glob(f"{PREFIX}*"):
        owner = folder / "owner.pid"
        with contextlib.suppress(OSError, ValueError):
            if not _alive(int(owner.read_text())):
                shutil.rmtree(folder, ignore_errors=True)


class PostgresServer:
    """One throwaway cluster: ``start()``, ``create_database()``, ``stop()``."""

    user = "postgres"

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bin()
        self.password = secrets.token_urlsafe(16)
        self.port = 0
        self.folder: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)

    def _as_server_user(self) -> list[str]:
        """Postgres will not run as root: drop to the ``postgres`` system user. ``--pdeathsig`` ties the
        postmaster's life to this process (set after the user change, which would clear it)."""
        if os.geteuid() != 0:
            return ["setpriv", "--pdeathsig", "QUIT", "--"] if shutil.which("setpriv") else []
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError(f"running as root and there is no `postgres` system user to run the server as: "
                               f"{HOW_TO_GET}") from None
        return ["setpriv", "--reuid", "postgres", "--regid", "postgres", "--init-groups", "--pdeathsig", "QUIT",
                "--"]

    def start(self) -> PostgresServer:
        parent = Path(tempfile.gettempdir())
        sweep_stale(parent)
        self.folder = Path(tempfile.mkdtemp(prefix=PREFIX, dir=parent))
        (self.folder / "owner.pid").write_text(str(os.getpid()))
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            for path in (self.folder, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        as_user = self._as_server_user()
        subprocess.run([*as_user, str(self.bindir / "initdb"), "-D", str(data), "-U", self.user, "--pwfile",
                        str(pwfile), "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, capture_output=True, cwd=self.folder)
        for _attempt in range(5):  # another process may take the free port before the server binds it
            self.port = _free_port()
            log = open(self.folder / "server.log", "ab")  # noqa: SIM115 - the server writes it until it stops
            self.process = subprocess.Popen(
                [*as_user, str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
                 # a throwaway cluster: durability costs time and buys nothing here
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=200", "-c", "timezone=UTC"],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.folder, start_new_session=True)
            log.close()
            if self._wait_ready():
                return self
        raise RuntimeError(f"PostgreSQL did not start; its log:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        import psycopg

        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
                return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        self.process.kill()
        return False

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            assert self.folder is not None
            return (self.folder / "server.log").read_text(errors="replace")[-3000:]
        return ""

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}:{quote(self.password)}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its name."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown: ends sessions, no checkpoint wait
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """This test process's PostgreSQL server (started on first use, stopped at the end of the session)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_dsn(pg_server: PostgresServer) -> Iterator[str]:
    """A DSN for an empty database of this test's own, dropped afterwards."""
    name = pg_server.create_database()
    yield pg_server.dsn(name)
    pg_server.drop_database(name)
