"""Stores made by an earlier release, moved in place to what this one needs, on first use.

``sync.schema_version`` records each layout change applied (one row per version). The canonical
tables are generated from the JSON Schemas (:mod:`.tables`); ``sync.canonical_tables`` keeps the DDL
each table was last built with, so a table whose generated DDL changed — a new release typing a
column, a project adding a field to its schema — is rebuilt: a new table is filled from the old one
with every value cast to its new type, then takes the old one's name, in one transaction.

A value that would not survive (text that is no timestamp, an amount with more decimals than the
column keeps, a status the CHECK refuses) stops the migration before anything changes, with the rows
and values to fix: nothing is silently made null or rounded.

Versions: 1 — the first release (no ``sync.schema_version``; timestamps as text, amounts as DOUBLE);
2 — typed canonical tables with defaults and CHECKs.
"""

from __future__ import annotations

from typing import Any

import duckdb

from crmsync.errors import UserError

from .tables import TABLE, canonical_ddl, checks, columns, duck_type

VERSION = 2
_DDL = """
CREATE TABLE IF NOT EXISTS sync.schema_version (
    version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), note VARCHAR
);
CREATE TABLE IF NOT EXISTS sync.canonical_tables (   -- the DDL each canonical table was last built with
    table_name VARCHAR PRIMARY KEY, ddl VARCHAR NOT NULL, built_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
"""
NOTES = {1: "first release: canonical timestamps as text, amounts as DOUBLE",
         2: "typed canonical tables (TIMESTAMPTZ, DECIMAL, defaults, CHECKs) generated from the JSON Schemas"}
SHOWN = 5  # bad values listed per column when a migration stops


def migrate(con: Any, canonical: dict[str, dict[str, Any]]) -> None:
    """Create or rebuild the canonical tables of ``canonical`` ({entity: schema}) as needed."""
    wanted = {TABLE[e]: (e, s, canonical_ddl(e, s)) for e, s in canonical.items()}
    built = dict(con.execute("SELECT table_name, ddl FROM sync.canonical_tables").fetchall()) \
        if _exists(con, "sync", "canonical_tables") else {}
    if all(built.get(t) == ddl for t, (_, _, ddl) in wanted.items()):
        return  # the common case: one query, nothing to do
    con.execute(_DDL)
    con.execute("CREATE SCHEMA IF NOT EXISTS canonical")
    versions = {v for (v,) in con.execute("SELECT version FROM sync.schema_version").fetchall()}
    if not versions:  # a fresh store starts at this version; one with canonical tables is the first release
        old = any(_exists(con, "canonical", t) for t in TABLE.values())
        versions = {1} if old else set()
        for v in sorted(versions or {VERSION}):
            con.execute("INSERT INTO sync.schema_version (version, note) VALUES (?, ?)", [v, NOTES[v]])
        versions = versions or {VERSION}
    for table, (entity, schema, ddl) in wanted.items():
        if built.get(table) == ddl:
            continue
        if _exists(con, "canonical", table):
            _rebuild(con, entity, schema, ddl)
        else:
            con.execute(ddl)
            _record(con, table, ddl)
    if VERSION not in versions and max(versions) < VERSION:
        con.execute("INSERT INTO sync.schema_version (version, note) VALUES (?, ?)", [VERSION, NOTES[VERSION]])


def _exists(con: Any, schema: str, table: str) -> bool:
    return con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                       [schema, table]).fetchone()[0] > 0


def _record(con: Any, table: str, ddl: str) -> None:
    con.execute("INSERT INTO sync.canonical_tables (table_name, ddl) VALUES (?, ?) ON CONFLICT (table_name) "
                "DO UPDATE SET ddl = excluded.ddl, built_at = now()", [table, ddl])


def _old_columns(con: Any, table: str) -> dict[str, str]:
    rows = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
                       "'canonical' AND table_name = ? ORDER BY ordinal_position", [table]).fetchall()
    return dict(rows)


def _rebuild(con: Any, entity: str, schema: dict[str, Any], ddl: str) -> None:
    table = TABLE[entity]
    old = _old_columns(con, table)
    new = columns(schema)
    dropped = [c for c in old if c not in new]
    if dropped:
        raise UserError(f"canonical.{table} has column(s) {', '.join(dropped)} that mappings/canonical/"
                        f"{entity}.schema.json no longer has: moving the store to the new schema would lose their "
                        "values. Put the field(s) back in the schema, or drop the column(s) yourself with "
                        f"ALTER TABLE canonical.{table} DROP COLUMN … if their values can go")
    _check_values(con, entity, schema, old, new)
    shared = [c for c in new if c in old]
    picked = ", ".join(_cast(f'"{c}"', old[c], new[c]) for c in shared)
    names = ", ".join(f'"{c}"' for c in shared)
    staging = f"{table}__migrating"
    own = _begin(con)
    try:
        con.execute(f"DROP TABLE IF EXISTS canonical.{staging}")
        con.execute(canonical_ddl(entity, schema, staging))
        con.execute(f"INSERT INTO canonical.{staging} ({names}) SELECT {picked} FROM canonical.{table}")
        con.execute(f"DROP TABLE canonical.{table}")
        con.execute(f"ALTER TABLE canonical.{staging} RENAME TO {table}")
        _record(con, table, ddl)
        if own:
            con.execute("COMMIT")
    except BaseException:
        if own:
            con.execute("ROLLBACK")
        raise


def _begin(con: Any) -> bool:
    """Start a transaction unless the caller is already in one (then theirs holds the rebuild)."""
    try:
        con.execute("BEGIN")
    except duckdb.TransactionException:
        return False
    return True


def _cast(expr: str, old: str, new: str) -> str:
    if old.upper() == new.upper():
        return expr
    if new == "JSON":
        return f"CAST({expr} AS JSON)"
    return f"CAST({expr} AS {new})"


def _check_values(con: Any, entity: str, schema: dict[str, Any], old: dict[str, str], new: dict[str, str]) -> None:
    """Every value must survive its new type and the table's CHECKs, or nothing is changed."""
    table = TABLE[entity]
    props = schema.get("properties") or {}
    problems = []
    for name, kind in new.items():
        if name not in old or name not in props:
            continue
        column = f'"{name}"'
        typed = f"TRY_CAST({column} AS {kind})" if old[name].upper() != kind.upper() else column
        ok = [f"{typed} IS NOT NULL"] + checks(typed, props[name], duck_type(props[name]))
        if kind.startswith("DECIMAL") and old[name].upper() != kind.upper():
            ok.append(f"CAST({typed} AS DOUBLE) = CAST({column} AS DOUBLE)")  # no cent rounded away
        rows = con.execute(f"SELECT id, CAST({column} AS VARCHAR) FROM canonical.{table} WHERE {column} IS NOT NULL "
                           f"AND NOT coalesce({' AND '.join(ok)}, false) ORDER BY id LIMIT {SHOWN + 1}").fetchall()
        if rows:
            listed = "; ".join(f"id {cid}: {value!r}" for cid, value in rows[:SHOWN])
            more = " and more" if len(rows) > SHOWN else ""
            problems.append(f"canonical.{table}.{name} must become {kind}"
                            f"{' (' + _rules(props[name]) + ')' if _rules(props[name]) else ''}, "
                            f"but these values would not survive: {listed}{more}")
    if problems:
        raise UserError("the store cannot be moved to this release's typed canonical tables; nothing was changed.\n"
                        + "\n".join(problems) + "\nFix or clear those values with SQL (UPDATE canonical.… SET …) "
                        "and run again")


def _rules(prop: dict[str, Any]) -> str:
    parts = []
    if prop.get("enum"):
        parts.append("one of " + ", ".join(str(v) for v in prop["enum"] if v is not None))
    if prop.get("pattern") and prop.get("format") not in ("date-time", "date"):
        parts.append(f"matching {prop['pattern']}")
    if prop.get("format") == "decimal":
        parts.append(f"at most {prop.get('x-scale', 0)} decimal places, below {prop.get('exclusiveMaximum')}")
    return "; ".join(parts)
