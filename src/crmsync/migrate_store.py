"""``crmsync migrate-store``: a project's DuckDB store copied into a Postgres store, history and vault included.

What is copied: every table of ``canonical``, ``sync`` (runs, history, links, outbox, conflicts, rejected,
the vault's sealed connections, schema versions …) and every ``raw_<connection>`` dataset (dlt's raw tables
and its own ``_dlt_*`` tables, so reads resume from the stored cursors). The canonical and sync tables are
created on the target by crmsync's own DDL for Postgres (crmsync.canonical.tables, the same migrations a
run applies); any other table (dlt's) with its DuckDB column types translated by sqlglot.

Two things are not carried over as they are, because they are DuckDB's own numbers: the values of DuckDB's
``hash()`` (unsigned 64-bit columns: the app sync API's row hashes) become NULL, and the push planner's
cache of them (``sync.push_checked``, "safe to drop") is left empty. Postgres computes its own on the next
run: the planner compares those rows once more, the app sync API sends them once more as updated.

All of it happens in one transaction on the target: a failure, or a table whose row count on the target
differs from the source's, leaves the target as it was. A target that already holds rows is refused unless
``replace`` (then the copied schemas are dropped there first, in the same transaction). The source is only
read — after being brought to this release's layout, as any run would.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from crmsync.errors import CrmsyncError, UserError
from crmsync.project import Project

ENGINE_SCHEMAS = ("canonical", "sync")
RAW_PREFIX = "raw_"
BATCH = 5000  # rows per INSERT batch: bounded memory whatever the table's size
CACHES = {"sync.push_checked"}  # caches of DuckDB hash() values (crmsync.push.candidates): created, left empty
HASH_TYPES = {"UBIGINT"}  # DuckDB's hash() values: meaningless to Postgres, copied as NULL


class CountMismatch(CrmsyncError):
    """The target's row count of a table differs from the source's: nothing was committed."""


@dataclass
class TableCopy:
    table: str
    source: int
    target: int
    cleared: list[str] = field(default_factory=list)  # hash columns copied as NULL

    def as_dict(self) -> dict[str, Any]:
        return {"table": self.table, "source_rows": self.source, "target_rows": self.target,
                "match": self.source == self.target, "cleared_columns": self.cleared}


@dataclass
class MigrateResult:
    source: str
    dsn_env: str
    replaced: bool
    tables: list[TableCopy] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # caches created empty (CACHES)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": "postgres", "dsn_env": self.dsn_env, "replaced": self.replaced,
                "tables": [t.as_dict() for t in self.tables], "rows": sum(t.target for t in self.tables),
                "left_empty": self.skipped,
                "seconds": round(self.seconds, 3)}


def target_env(project: Project, dsn_env: str | None) -> str:
    """The variable naming the target's DSN: ``dsn_env`` as given, else that of the Postgres store the
    project's pipelines use (crmsync.store.home_store), else the default."""
    from crmsync.store import home_store, postgres_env
    from crmsync.store_postgres import DEFAULT_DSN_ENV

    if dsn_env:
        return dsn_env
    return postgres_env(home_store(project)) or DEFAULT_DSN_ENV


def _tables(con: Any, schemas: list[str] | None = None) -> list[tuple[str, str]]:
    rows = con.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
                       "ORDER BY table_schema, table_name").fetchall()
    return [(s, t) for s, t in rows if (s in ENGINE_SCHEMAS or s.startswith(RAW_PREFIX))
            and (schemas is None or s in schemas)]


def _columns(con: Any, schema: str, table: str) -> list[tuple[str, str]]:
    return [(c, t) for c, t in con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
        "ORDER BY ordinal_position", [schema, table]).fetchall()]


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _name(schema: str, table: str) -> str:
    return f"{_quoted(schema)}.{_quoted(table)}"


def _count(con: Any, schema: str, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {_name(schema, table)}").fetchone()[0])


def _postgres_type(duckdb_type: str) -> str:
    """A DuckDB column type as Postgres writes it (sqlglot), JSON as jsonb like crmsync's own tables."""
    from sqlglot import exp

    kind = exp.DataType.build(duckdb_type, dialect="duckdb")
    if kind.this == exp.DataType.Type.JSON:
        return "JSONB"
    return kind.sql(dialect="postgres")


def migrate_store(project: Project, source: str, *, dsn_env: str | None = None, replace: bool = False
                  ) -> MigrateResult:
    from crmsync.canonical.tables import ensure
    from crmsync.connections.repository import DDL as CONNECTIONS_DDL
    from crmsync.mapping import load_canonical
    from crmsync.store import POSTGRES, open_store, postgres_env

    started = time.monotonic()
    path = project.store_path(source)
    if postgres_env(path) is not None or not path.is_file():
        raise UserError(f"--from {source}: no DuckDB store at {path}",
                        hint="name the project's DuckDB file (its pipelines' staging.path, default crmsync.duckdb)")
    env = target_env(project, dsn_env)
    result = MigrateResult(str(source), env, replace)
    canonical = load_canonical(project.root)
    with open_store(path) as src:
        ensure(src, canonical)  # an older release's store is brought to this layout first, as a run would
        plan = [(s, t, _columns(src, s, t)) for s, t in _tables(src)]
        with open_store(project.store_path(POSTGRES + env)) as dst:
            dst.execute("BEGIN")
            try:
                _make_room(dst, replace)
                ensure(dst, canonical)
                dst.execute(CONNECTIONS_DDL)
                for schema, table, columns in plan:
                    if f"{schema}.{table}" in CACHES:
                        _create(dst, schema, table, columns)
                        result.skipped.append(f"{schema}.{table}")
                        continue
                    result.tables.append(_copy(src, dst, schema, table, columns))
                wrong = [t for t in result.tables if t.source != t.target]
                if wrong:
                    shown = ", ".join(f"{t.table} ({t.source} → {t.target})" for t in wrong)
                    raise CountMismatch(f"row counts differ after the copy: {shown}; nothing was committed")
                dst.execute("COMMIT")
            except BaseException:
                dst.execute("ROLLBACK")
                raise
    result.seconds = time.monotonic() - started
    return result


def _make_room(dst: Any, replace: bool) -> None:
    """Refuse a target with rows in what would be copied, or (``replace``) drop those schemas first."""
    held = [(s, t, n) for s, t in _tables(dst) if (n := _count(dst, s, t))]
    if held and not replace:
        shown = ", ".join(f"{s}.{t} ({n})" for s, t, n in held[:8]) + (" …" if len(held) > 8 else "")
        raise UserError(f"the Postgres store already holds data: {shown}; nothing was copied (migrate into an empty "
                        "database, or pass --replace)",
                        hint="migrate into an empty database, or pass --replace to drop its canonical, sync and "
                             "raw_* schemas and copy this store in their place")
    if replace:
        schemas = {s for s, in dst.execute("SELECT schema_name FROM information_schema.schemata").fetchall()}
        for schema in sorted(s for s in schemas if s in ENGINE_SCHEMAS or s.startswith(RAW_PREFIX)):
            dst.execute(f"DROP SCHEMA {_quoted(schema)} CASCADE")


def _create(dst: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> None:
    """The table on the target, empty: crmsync's own DDL made it already (a column only the source has is
    added, not dropped), or it is made from the source's columns, translated."""
    name = _name(schema, table)
    dst.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    there = dict(_columns(dst, schema, table))
    if not there:
        defs = ", ".join(f"{_quoted(c)} {_postgres_type(t)}" for c, t in columns)
        dst.execute(f"CREATE TABLE {name} ({defs})")
        there = dict(columns)
    for column, kind in columns:
        if column not in there:
            dst.execute(f"ALTER TABLE {name} ADD COLUMN {_quoted(column)} {_postgres_type(kind)}")
    dst.execute(f"DELETE FROM {name}")  # rows the target's own DDL seeded (schema versions) come from the source


def _copy(src: Any, dst: Any, schema: str, table: str, columns: list[tuple[str, str]]) -> TableCopy:
    name = _name(schema, table)
    _create(dst, schema, table, columns)
    names = [c for c, _ in columns]
    cleared = [c for c, t in columns if t.upper() in HASH_TYPES]
    listed = ", ".join(_quoted(c) for c in names)
    insert = f"INSERT INTO {name} ({listed}) VALUES ({', '.join('?' for _ in names)})"
    cursor = src.cursor()
    try:
        cursor.execute(f"SELECT {', '.join('NULL' if c in cleared else _quoted(c) for c in names)} FROM {name}")
        while True:
            rows = cursor.fetchmany(BATCH)
            if not rows:
                break
            dst.executemany(insert, [list(r) for r in rows])
    finally:
        cursor.close()
    return TableCopy(f"{schema}.{table}", _count(src, schema, table), _count(dst, schema, table), cleared)
