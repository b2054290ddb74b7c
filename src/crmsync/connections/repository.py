"""``sync.connections`` in the staging store: one row per connection, credentials sealed by the vault.

Every function opens the store, does one short transaction and closes it (DuckDB allows one
writing process per file; :func:`crmsync.store.open_store` waits while another holds it). Listing
and showing never decrypt, so they work without the key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import duckdb

from crmsync.errors import UserError
from crmsync.project import Project
from crmsync.secrets.vault import Vault
from crmsync.store import home_store, open_store, store_exists

from .model import Connection

TABLE = "sync.connections"
DDL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    name               VARCHAR PRIMARY KEY,
    crm                VARCHAR NOT NULL,
    auth_type          VARCHAR NOT NULL,   -- oauth2 | long_lived_token | webhook_url
    base_url           VARCHAR NOT NULL,   -- API base; a webhook connection stores it with the code masked
    settings           JSON NOT NULL,      -- not secret: client_id, token_url, redirect_uri, account, ...
    secret             BLOB NOT NULL,      -- AES-256-GCM: 0x01 || nonce(12) || ciphertext+tag of the credentials
    key_id             VARCHAR NOT NULL,   -- fingerprint of the vault key that sealed `secret`
    token_expires_at   TIMESTAMP,          -- UTC; access-token expiry (NULL: does not expire)
    generation         BIGINT NOT NULL,    -- +1 per saved refresh
    refresh_started_at TIMESTAMP,          -- a refresh in flight (left set by a crash mid-refresh)
    status             VARCHAR NOT NULL,   -- ok | needs_reauth | failing
    status_detail      VARCHAR,
    last_ok_at         TIMESTAMP,
    last_error_at      TIMESTAMP,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
)"""
_COLUMNS = ("name", "crm", "auth_type", "base_url", "settings", "secret", "key_id", "token_expires_at",
            "generation", "refresh_started_at", "status", "status_detail", "last_ok_at", "last_error_at",
            "created_at", "updated_at")
_TIMES = {"token_expires_at", "refresh_started_at", "last_ok_at", "last_error_at", "created_at", "updated_at"}


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, timezone.utc).replace(tzinfo=None)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=timezone.utc).timestamp()


@contextmanager
def _store(project: Project, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
    path = home_store(project)
    if not write and not store_exists(path):
        yield None
        return
    if not write:  # reading a connection never needs (or waits for) write access to the store
        with open_store(path, read_only=True) as con:
            there = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sync' "
                                "AND table_name = 'connections'").fetchone()[0]
            yield con if there else None
        return
    with open_store(path) as con:
        con.execute(DDL)
        yield con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _row_to_connection(row: tuple, vault: Vault | None) -> tuple[Connection, bytes]:
    data: dict[str, Any] = dict(zip(_COLUMNS, row, strict=False))
    secret = data.pop("secret")
    for key in _TIMES:
        data[key] = _epoch(data[key])
    data["settings"] = json.loads(data["settings"]) if data["settings"] else {}
    conn = Connection(**data)
    if vault is not None:
        conn.credentials = vault.open(conn.name, "credentials", secret, conn.key_id or "")
    return conn, secret


def get(project: Project, name: str, vault: Vault | None = None) -> Connection:
    """The connection ``name``; its credentials are opened when a ``vault`` is given."""
    with _store(project, write=False) as con:
        row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} WHERE name = ?", [name]).fetchone() \
            if con else None
    if row is None:
        names = [c.name for c in list_all(project)]
        known = f"; known: {', '.join(names)}" if names else "; create one with `crmsync connect`"
        raise UserError(f"no connection named {name!r}{known}")
    return _row_to_connection(row, vault)[0]


def exists(project: Project, name: str) -> bool:
    with _store(project, write=False) as con:
        return bool(con and con.execute(f"SELECT 1 FROM {TABLE} WHERE name = ?", [name]).fetchone())


def list_all(project: Project) -> list[Connection]:
    with _store(project, write=False) as con:
        rows = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM {TABLE} ORDER BY name").fetchall() if con else []
    return [_row_to_connection(r, None)[0] for r in rows]


def _values(conn: Connection, vault: Vault) -> list[Any]:
    sealed = vault.seal(conn.name, "credentials", conn.credentials)
    conn.key_id = vault.key_id
    data = {**conn.__dict__, "secret": sealed, "settings": json.dumps(conn.settings, sort_keys=True)}
    return [(_ts(data[c]) if c in _TIMES else data[c]) for c in _COLUMNS]


def insert(project: Project, vault: Vault, conn: Connection, *, replace: bool,
           detach_account: dict[str, str] | None = None) -> dict[str, int] | None:
    """Save ``conn``; with ``detach_account`` (``connect --new-account``) the links of that old account
    are detached in the same transaction: a crash leaves either the old binding or the new one."""
    values = _values(conn, vault)
    detached = None
    with _store(project, write=True) as con, transaction(con):
        if con.execute(f"SELECT 1 FROM {TABLE} WHERE name = ?", [conn.name]).fetchone():
            if not replace:
                raise UserError(f"a connection named {conn.name!r} already exists; pass --replace to "
                                f"re-authorise it, or pick another --name")
            con.execute(f"DELETE FROM {TABLE} WHERE name = ?", [conn.name])
        if detach_account is not None:
            from .binding import detach
            detached = detach(con, conn.name, detach_account)
        con.execute(f"INSERT INTO {TABLE} ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                    values)
    return detached


def update_settings(project: Project, name: str, changes: dict[str, Any]) -> None:
    """Merge ``changes`` into a connection's (public) settings."""
    with _store(project, write=True) as con, transaction(con):
        row = con.execute(f"SELECT settings FROM {TABLE} WHERE name = ?", [name]).fetchone()
        if row is None:
            return
        settings = {**(json.loads(row[0]) if row[0] else {}), **changes}
        con.execute(f"UPDATE {TABLE} SET settings = ? WHERE name = ?", [json.dumps(settings, sort_keys=True), name])


def save_tokens(project: Project, vault: Vault, conn: Connection) -> None:
    """Persist a refreshed pair: committed (and so durable) before the caller may use it."""
    conn.generation += 1
    conn.refresh_started_at = None
    conn.updated_at = time.time()
    sealed = vault.seal(conn.name, "credentials", conn.credentials)
    with _store(project, write=True) as con, transaction(con):
        con.execute(f"UPDATE {TABLE} SET secret = ?, key_id = ?, token_expires_at = ?, generation = ?, "
                    f"refresh_started_at = NULL, status = 'ok', status_detail = NULL, last_ok_at = ?, "
                    f"updated_at = ? WHERE name = ?",
                    [sealed, vault.key_id, _ts(conn.token_expires_at), conn.generation, _ts(conn.updated_at),
                     _ts(conn.updated_at), conn.name])
        conn.key_id = vault.key_id


def mark_refresh_started(project: Project, name: str, when: float) -> None:
    with _store(project, write=True) as con:
        con.execute(f"UPDATE {TABLE} SET refresh_started_at = ? WHERE name = ?", [_ts(when), name])


def set_status(project: Project, name: str, status: str, detail: str | None = None) -> None:
    """Record the outcome of using a connection: ``ok`` moves last_ok_at, anything else last_error_at."""
    now = _ts(time.time())
    column = "last_ok_at" if status == "ok" else "last_error_at"
    with _store(project, write=True) as con:
        con.execute(f"UPDATE {TABLE} SET status = ?, status_detail = ?, {column} = ?, updated_at = ? "
                    f"WHERE name = ?", [status, detail, now, now, name])


def delete(project: Project, name: str) -> bool:
    with _store(project, write=True) as con:
        found = con.execute(f"SELECT 1 FROM {TABLE} WHERE name = ?", [name]).fetchone()
        con.execute(f"DELETE FROM {TABLE} WHERE name = ?", [name])
    return bool(found)


def reseal_all(project: Project, old: Vault, new: Vault) -> int:
    """Re-encrypt every row with ``new``'s key in one transaction: all rows or none."""
    with _store(project, write=True) as con, transaction(con):
        rows = con.execute(f"SELECT name, secret, key_id FROM {TABLE}").fetchall()
        for name, secret, key_id in rows:
            credentials = old.open(name, "credentials", secret, key_id)
            con.execute(f"UPDATE {TABLE} SET secret = ?, key_id = ? WHERE name = ?",
                        [new.seal(name, "credentials", credentials), new.key_id, name])
    return len(rows)
