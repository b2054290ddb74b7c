"""What changed in a tenant's canonical tables, in order: a monotonic change sequence, and the pull answer.

Anyone may change a canonical row — a CRM pull, an SQL client, an app push — and ``updated_at`` is an
edit time those writers set, not the order things reached the store. So the order is crmsync's own:
:func:`observe` compares every row with what it saw last (``sync.app_state``: the row's DuckDB hash,
its app record, the sequence number at which it last changed) and gives every row that changed since
one new sequence number. The number is a hybrid clock: milliseconds since 1970 when the wall clock is
ahead, the last number plus one otherwise — so it reads like WatermelonDB's ``timestamp`` and never
goes back or repeats.

Observing and answering happen in one transaction under the tenant's lock: a change committed while
a pull is answered is not in that snapshot and gets a later number, so it is in the next pull — every
change reaches a client exactly once per pull chain. Every version seen is kept in ``sync.app_history``
so a push can be merged against the record as that client last pulled it (:mod:`.outgoing`).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from crmsync.canonical.apply import insert_rows
from crmsync.canonical.tables import TABLE
from crmsync.jsontext import loads

from .schema import AppSchema, sql_record

DDL = """
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.app_clock (one INTEGER PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS sync.app_state (      -- each canonical row as the app sync API last saw it
    entity VARCHAR NOT NULL, id VARCHAR NOT NULL,
    hash UBIGINT,                   -- DuckDB's hash of the whole canonical row
    seq BIGINT NOT NULL,            -- the change sequence number at which it last changed
    first_seq BIGINT NOT NULL,      -- when it was first seen (a pull after it: "created")
    deleted BOOLEAN NOT NULL,       -- deleted_at set, or the row removed
    record JSON,                    -- the app record (app schema), as sent to clients
    PRIMARY KEY (entity, id)
);
CREATE TABLE IF NOT EXISTS sync.app_history (    -- every version seen: the bases app pushes merge against
    entity VARCHAR NOT NULL, id VARCHAR NOT NULL, seq BIGINT NOT NULL, deleted BOOLEAN, record JSON
);
"""
HISTORY_COLUMNS = {"entity": "VARCHAR", "id": "VARCHAR", "seq": "BIGINT", "deleted": "BOOLEAN", "record": "JSON"}
BATCH = 5000


def ensure(con: Any) -> None:
    con.execute(DDL)


def now_ms() -> int:
    return int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)


def current_seq(con: Any) -> int:
    got = con.execute("SELECT seq FROM sync.app_clock WHERE one = 1").fetchone()
    return int(got[0]) if got else 0


def _advance(con: Any) -> int:
    seq = max(current_seq(con) + 1, now_ms())
    con.execute("INSERT INTO sync.app_clock VALUES (1, ?) ON CONFLICT (one) DO UPDATE SET seq = excluded.seq", [seq])
    return seq


def observe(con: Any, app: AppSchema, canonical: dict[str, dict[str, Any]],
            only: dict[str, set[str]] | None = None) -> int:
    """Give every canonical row changed since the last look a new sequence number; the latest number.
    ``only``: entity → the ids that can have changed (what a push wrote while no one else could write the
    store), instead of every row. The caller holds the tenant's lock and commits."""
    seq: int | None = None
    for table, entity in app.tables.items():
        if entity not in canonical or (only is not None and not only.get(entity)):
            continue
        among, args = ("", [entity]) if only is None else \
            (" AND c.id IN (SELECT unnest(?))", [entity, sorted(only[entity])])
        # one statement per step, all in the store: encoding 100k rows in Python would be the first sync's cost
        con.execute(f"CREATE OR REPLACE TEMP TABLE app_seen AS SELECT c.id, hash(c) AS h, s.first_seq, "
                    f"c.deleted_at IS NOT NULL AS deleted, {sql_record(app.columns[table])} AS record "
                    f"FROM canonical.{TABLE[entity]} c LEFT JOIN sync.app_state s ON s.entity = ? AND s.id = c.id "
                    f"WHERE (s.id IS NULL OR s.hash IS DISTINCT FROM hash(c)){among}", args)
        if con.execute("SELECT count(*) FROM app_seen").fetchone()[0]:
            if seq is None:
                seq = _advance(con)
            con.execute("INSERT INTO sync.app_state (entity, id, hash, seq, first_seq, deleted, record) "
                        "SELECT ?, id, h, ?, coalesce(first_seq, ?), deleted, CAST(record AS JSON) FROM app_seen "
                        "ON CONFLICT (entity, id) DO UPDATE SET hash = excluded.hash, seq = excluded.seq, "
                        "deleted = excluded.deleted, record = excluded.record", [entity, seq, seq])
            con.execute("INSERT INTO sync.app_history (entity, id, seq, deleted, record) "
                        "SELECT ?, id, ?, deleted, CAST(record AS JSON) FROM app_seen", [entity, seq])
        con.execute("DROP TABLE IF EXISTS app_seen")
        if only is not None:
            continue  # a push marks deletions, it never removes rows
        gone = con.execute(f"SELECT id FROM sync.app_state s WHERE entity = ? AND NOT deleted AND NOT EXISTS "
                           f"(SELECT 1 FROM canonical.{TABLE[entity]} c WHERE c.id = s.id)", [entity]).fetchall()
        if gone:  # removed with an SQL DELETE rather than marked: the app must still hear of it
            if seq is None:
                seq = _advance(con)
            con.execute("UPDATE sync.app_state SET deleted = true, seq = ?, hash = NULL WHERE entity = ? "
                        "AND id IN (SELECT unnest(?))", [seq, entity, [g[0] for g in gone]])
            insert_rows(con, "sync.app_history", HISTORY_COLUMNS,
                        [{"entity": entity, "id": g[0], "seq": seq, "deleted": True, "record": None} for g in gone])
    if seq is None:
        # WatermelonDB refuses a pull whose timestamp is 0 (a tenant with no records yet): start the clock
        seq = current_seq(con) or _advance(con)
    return seq


def bases(con: Any, entity: str, ids: list[str], pulled: int | None) -> dict[str, dict[str, Any] | None]:
    """id → the app record as a client that pulled up to ``pulled`` had it (None: deleted then); ids the
    client cannot have seen are absent."""
    if pulled is None or not ids:
        return {}
    rows = con.execute("SELECT id, deleted, record FROM sync.app_history WHERE entity = ? AND seq <= ? "
                       "AND id IN (SELECT unnest(?)) QUALIFY row_number() OVER (PARTITION BY id ORDER BY seq DESC) = 1",
                       [entity, pulled, ids]).fetchall()
    return {i: (None if deleted or record is None else loads(record)) for i, deleted, record in rows}


def write_changes(con: Any, app: AppSchema, out: IO[bytes], *, since: int | None, upto: int,
                  full_tables: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The pull answer ``{"changes": {table: {created, updated, deleted}}, "timestamp": upto}`` into ``out``,
    a record at a time (a first sync of 100k records never sits in memory as one document)."""
    quiet = since is not None and not full_tables and con.execute(
        "SELECT count(*) = 0 FROM sync.app_state WHERE seq > ? AND seq <= ?", [since, upto]).fetchone()[0]
    out.write(b'{"changes":{')
    for t_index, (table, entity) in enumerate(app.tables.items()):
        full = since is None or table in full_tables
        out.write((',' if t_index else '') .encode() + json.dumps(table).encode() + b":{")
        for k_index, kind in enumerate(("created", "updated", "deleted")):
            out.write((b"," if k_index else b"") + f'"{kind}":['.encode())
            for i, chunk in enumerate(() if quiet else _records(con, entity, kind, since, upto, full)):
                out.write((b"," if i else b"") + chunk)
            out.write(b"]")
        out.write(b"}")
    out.write(b'},"timestamp":' + str(upto).encode() + b"}")


def _records(con: Any, entity: str, kind: str, since: int | None, upto: int, full: bool) -> Iterator[bytes]:
    if kind == "deleted":
        if since is None:
            return
        sql = "SELECT to_json(id) FROM sync.app_state WHERE entity = ? AND deleted AND seq > ? AND seq <= ?"
        params: list[Any] = [entity, since, upto]
    elif full:
        if kind == "updated" and since is None:
            return
        # a first sync (everything is new to the client) or a migration's new table or columns: every
        # live record, as `created` on a first sync and as `updated` on a migration
        sql = "SELECT record FROM sync.app_state WHERE entity = ? AND NOT deleted AND seq <= ?"
        params = [entity, upto]
        if kind == "created" and since is not None:
            return
    else:
        op = ">" if kind == "created" else "<="
        sql = (f"SELECT record FROM sync.app_state WHERE entity = ? AND NOT deleted AND seq > ? AND seq <= ? "
               f"AND first_seq {op} ?")
        params = [entity, since, upto, since]
    cur = con.execute(sql + " ORDER BY seq, id", params)
    while True:
        rows = cur.fetchmany(BATCH)
        if not rows:
            return
        for (text,) in rows:
            yield text.encode() if isinstance(text, str) else bytes(text)


def spool() -> IO[bytes]:
    """Where a pull answer is written: memory up to 4 MB, a temporary file beyond."""
    return tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)
