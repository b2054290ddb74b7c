"""DDL for ``canonical.*`` (derived from the canonical JSON Schemas: one source of truth) and ``sync.*``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from crmsync.errors import UserError

TABLE = {"contact": "contacts", "deal": "deals", "task": "tasks"}  # canonical entity → table name

_SYNC_DDL = """
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.links (
    entity VARCHAR NOT NULL, connection VARCHAR NOT NULL, remote_id VARCHAR NOT NULL,
    canonical_id VARCHAR NOT NULL,
    base JSON,                      -- the canonical values last agreed with this CRM record
    base_hash VARCHAR,
    remote_updated_at TIMESTAMPTZ,  -- the CRM record's own modification time, as last read
    linked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    remote_deleted_at TIMESTAMPTZ,  -- when we learnt the CRM record is gone (deleted there, or by our push)
    PRIMARY KEY (entity, connection, remote_id)
);
ALTER TABLE sync.links ADD COLUMN IF NOT EXISTS remote_deleted_at TIMESTAMPTZ;  -- stores made before it existed
CREATE TABLE IF NOT EXISTS sync.runs (
    run_id VARCHAR PRIMARY KEY, pipeline VARCHAR, connection VARCHAR, kind VARCHAR,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR, counts JSON, error VARCHAR
);
-- a run's parts (a sync: its pull and its push), added when a sync became one run (crmsync.runs)
ALTER TABLE sync.runs ADD COLUMN IF NOT EXISTS parts JSON;
CREATE TABLE IF NOT EXISTS sync.rejected (
    run_id VARCHAR, entity VARCHAR, connection VARCHAR, remote_id VARCHAR, field VARCHAR, reason VARCHAR,
    direction VARCHAR, raw JSON, rejected_at TIMESTAMPTZ DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sync.conflicts (      -- both sides changed one field: both values and the base
    run_id VARCHAR, entity VARCHAR, canonical_id VARCHAR, connection VARCHAR, field VARCHAR,
    base JSON, "local" JSON, crm JSON, resolution VARCHAR, created_at TIMESTAMPTZ DEFAULT now()
);
-- added after the first release of the table (crmsync.canonical.conflicts explains each)
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS conflict_id VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS policy VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS status VARCHAR;       -- resolved | pending | superseded
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS take VARCHAR;         -- set by a person: crm | local | value
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS "value" JSON;         -- with take = 'value'
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMPTZ;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS resolved_by VARCHAR;
CREATE TABLE IF NOT EXISTS sync.cursors (        -- positions in feeds that are not dlt's (e.g. delete events)
    connection VARCHAR, entity VARCHAR, kind VARCHAR, value BIGINT, PRIMARY KEY (connection, entity, kind)
);
CREATE TABLE IF NOT EXISTS sync.changes (
    run_id VARCHAR, entity VARCHAR, canonical_id VARCHAR, field VARCHAR, old JSON<zstd>, new JSON<zstd>,
    side VARCHAR, changed_at TIMESTAMPTZ DEFAULT now()
);
-- when the edit that made `new` was made (changed_at: when crmsync recorded it); null: not known
ALTER TABLE sync.changes ADD COLUMN IF NOT EXISTS edited_at TIMESTAMPTZ;
-- every write crmsync means to make to a CRM (crmsync.push.outbox)
CREATE TABLE IF NOT EXISTS sync.outbox (
    op_id VARCHAR PRIMARY KEY, run_id VARCHAR, connection VARCHAR NOT NULL, entity VARCHAR NOT NULL,
    canonical_id VARCHAR NOT NULL, remote_id VARCHAR,
    kind VARCHAR NOT NULL,           -- create | update | delete
    fields JSON,                     -- canonical field names written
    "values" JSON,                   -- the canonical values written (the link's new base comes from them)
    payload JSON,                    -- the CRM write payload (mapping inverse)
    idempotency_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL,         -- pending | sending | sent | failed | rejected | superseded | gone
    attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(), sent_at TIMESTAMPTZ
);
"""

# History's values are written once per change (a record new to its link: all its values, ~0.5 KB) and
# rarely read back, so a DuckDB store compresses them with zstd (a column option since DuckDB 1.2) rather than
# what DuckDB picks (FSST, dictionaries), whose analysis at each checkpoint cost more: a 1M first remap took
# ~10 % less time and CPU and its store 14 % less disk (benchmarks/RESULTS.md, seventh session). A store made
# before keeps its columns as they are (DuckDB cannot change a column's compression in place); Postgres
# compresses as it does.
SYNC_DDL = _SYNC_DDL.replace("<zstd>", "")  # Postgres: the text its stores recorded (SYNC_LAYOUT)
DUCKDB_SYNC_DDL = _SYNC_DDL.replace("<zstd>", " USING COMPRESSION zstd")

CLOCK = "updated_at"     # when the record was last edited, by anyone: the time newest_wins compares
CREATED = "created_at"   # when the record first came to be, wherever that was
ENGINE_DDL = {  # the engine's own columns; the defaults make an INSERT of just a record's fields a new record
    "id": "VARCHAR PRIMARY KEY DEFAULT CAST(uuid() AS VARCHAR)",
    "version": "INTEGER NOT NULL DEFAULT 1",
    "deleted_at": "TIMESTAMPTZ",
}
ENGINE_COLUMNS = {"id": "VARCHAR", "version": "INTEGER", "deleted_at": "TIMESTAMPTZ"}
_SCALARS = {"integer": "BIGINT", "boolean": "BOOLEAN"}
GUARD = 4  # extra decimal places a DECIMAL column keeps beyond the schema's x-scale (see decimal_type)


def _kinds(prop: dict[str, Any]) -> list[str]:
    if "type" not in prop and "enum" in prop:  # an enum of strings (and null) is a string column
        return ["string"]
    kinds = prop.get("type", "string")
    return [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"] or ["string"]


def decimal_type(prop: dict[str, Any]) -> str:
    """``{"type": "number", "format": "decimal", "x-scale": s, "exclusiveMaximum": 10^k, "exclusiveMinimum": -10^k}``
    → ``DECIMAL(k+s, s)``: the bounds say how many whole digits the column holds, so the schema check
    that sets a value aside and the column that stores it can never disagree."""
    scale = int(prop.get("x-scale", 0))
    bound = max(abs(Decimal(str(prop.get(k, 0)))) for k in ("exclusiveMaximum", "exclusiveMinimum"))
    digits = len(str(int(bound))) - 1
    if bound <= 0 or bound != Decimal(10) ** digits:
        raise ValueError("a decimal field needs exclusiveMaximum / exclusiveMinimum of a power of ten "
                         f"(e.g. 1e16 for 16 whole digits), got {bound}")
    if scale < 0 or digits + stored_scale(prop) > 38:
        raise ValueError(f"a decimal field holds at most 38 digits, got {digits} whole and x-scale {scale}")
    kept = stored_scale(prop)
    return f"DECIMAL({digits + kept},{kept})"


def stored_scale(prop: dict[str, Any]) -> int:
    """Decimal places a ``format: decimal`` column keeps: the schema's ``x-scale`` plus :data:`GUARD`.

    The column keeps 100.125 as typed, so the CHECK of :func:`checks` refuses it at UPDATE time instead
    of the column rounding it silently to 100.13. Beyond these places SQL itself rounds a value on
    assignment, before any CHECK sees it (1e-30 is stored as 0): the README documents that boundary.
    Not wider: DuckDB turns a DOUBLE (``SET amount = 1e3``, a Python float parameter) into a DECIMAL by
    multiplying it by 10^scale in floating point, so every extra place makes plain amounts typed as
    floats come out with binary noise that the CHECK then refuses (at scale 22, 1e3 becomes
    1000.0000000000000905969664 and 2,477 of 2,500 random amounts below 1,000 are refused); at 6
    places amounts below ~4e9 typed as floats still store exactly."""
    return int(prop.get("x-scale", 0)) + GUARD


def duck_type(prop: dict[str, Any]) -> str:
    """The DuckDB type of one canonical field, from its JSON Schema."""
    kinds = _kinds(prop)
    kind = kinds[0]
    if len(kinds) > 1:
        return "JSON"  # a field that is sometimes text and sometimes a number keeps what it got
    if kind == "string":
        return {"date-time": "TIMESTAMPTZ", "date": "DATE"}.get(prop.get("format", ""), "VARCHAR")
    if kind == "number":
        return decimal_type(prop) if prop.get("format") == "decimal" else "DOUBLE"
    return _SCALARS.get(kind, "JSON")


def checks(expr: str, prop: dict[str, Any], kind: str) -> list[str]:
    """SQL conditions a value of ``expr`` (typed ``kind``) must meet: the parts of the field's schema
    DuckDB can check at ``INSERT``/``UPDATE`` time, so a bad SQL edit fails where it is typed."""
    out = []
    values = [v for v in prop.get("enum", []) if v is not None]
    if values and all(isinstance(v, str) for v in values):
        out.append(f"{expr} IN ({', '.join(_literal(v) for v in values)})")
    if kind == "VARCHAR" and "pattern" in prop:
        out.append(f"regexp_matches({expr}, {_literal(prop['pattern'])})")
    if kind == "VARCHAR" and "minLength" in prop:
        out.append(f"length({expr}) >= {int(prop['minLength'])}")
    if kind in ("BIGINT", "DOUBLE"):
        for key, op in (("minimum", ">="), ("maximum", "<="), ("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if key in prop:
                out.append(f"{expr} {op} {prop[key]!r}")
    if kind.startswith("DECIMAL"):
        scale = int(prop.get("x-scale", 0))
        out.append(f"{expr} = round({expr}, {scale})")
        for key, op in (("exclusiveMinimum", ">"), ("exclusiveMaximum", "<")):
            if key in prop:
                out.append(f"{expr} {op} {Decimal(str(prop[key])):f}")
    if kind == "JSON":
        kinds = _kinds(prop)
        allowed = [{"array": "ARRAY", "object": "OBJECT"}[k] for k in kinds if k in ("array", "object")]
        if allowed and len(allowed) == len(kinds):
            out.append(f"json_type({expr}) IN ({', '.join(_literal(a) for a in allowed)})")
    return out


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def columns(schema: dict[str, Any]) -> dict[str, str]:
    """Canonical field → DuckDB type; the engine's own columns first."""
    out = {"id": "VARCHAR", "version": "INTEGER"}
    for name, prop in (schema.get("properties") or {}).items():
        if name not in ENGINE_COLUMNS:
            try:
                out[name] = duck_type(prop)
            except ValueError as exc:
                raise UserError(f"{schema.get('$id') or 'a canonical schema'}: properties.{name}: {exc}") from None
    out["deleted_at"] = "TIMESTAMPTZ"
    return out


def column_ddl(name: str, kind: str, prop: dict[str, Any]) -> str:
    if name in ENGINE_DDL:
        return f'"{name}" {ENGINE_DDL[name]}'
    parts = [f'"{name}" {kind}']
    if name in (CLOCK, CREATED) and kind == "TIMESTAMPTZ":
        parts.append("DEFAULT now()")
    elif kind == "JSON" and _kinds(prop) == ["array"]:
        parts.append("DEFAULT '[]'")  # as a pulled record has it: "empty list when none"
    parts += [f"CHECK ({c})" for c in checks(f'"{name}"', prop, kind)]
    return " ".join(parts)


def canonical_ddl(entity: str, schema: dict[str, Any], table: str | None = None) -> str:
    """``CREATE TABLE`` of one canonical entity (``table``: another name, for a rebuild)."""
    props = schema.get("properties") or {}
    body = ",\n    ".join(column_ddl(name, kind, props.get(name) or {}) for name, kind in columns(schema).items())
    return f"CREATE TABLE IF NOT EXISTS canonical.{table or TABLE[entity]} (\n    {body}\n);"


def ensure(con: Any, canonical: dict[str, dict[str, Any]]) -> None:
    """The store's tables, created or migrated in place to what this version and ``canonical`` need
    (crmsync.canonical.migrate). ``canonical`` empty: the ``sync.*`` tables only."""
    from crmsync.store import engine

    from .migrate import migrate

    if engine(con) == "postgres":
        _ensure_shared(con, canonical)
        return
    con.execute(DUCKDB_SYNC_DDL)
    if canonical:
        migrate(con, {e: s for e, s in canonical.items() if e in TABLE})


SYNC_LAYOUT = "sync.*"  # sync.canonical_tables' row for SYNC_DDL as last applied (a Postgres store)
_DDL_LOCK = 0x63726D73796E63  # an advisory lock's key ("crmsync"): one worker changes the layout at a time


def _ensure_shared(con: Any, canonical: dict[str, dict[str, Any]]) -> None:
    """:func:`ensure` on a store several workers use at once. Postgres' ``ALTER TABLE … IF NOT EXISTS`` takes
    the table's exclusive lock even when there is nothing to do, and two workers creating one table at
    once collide: so the DDL runs only when its text differs from what the store recorded, and under an
    advisory lock, rechecked once it is held."""
    from .migrate import migrate

    wanted = {e: s for e, s in canonical.items() if e in TABLE}
    if _layout_current(con, wanted):
        return
    con.execute(f"SELECT pg_advisory_lock({_DDL_LOCK})")
    try:
        if _layout_current(con, wanted):
            return
        con.execute(SYNC_DDL)
        if wanted:
            migrate(con, wanted)
        con.execute("CREATE TABLE IF NOT EXISTS sync.canonical_tables (table_name VARCHAR PRIMARY KEY, "
                    "ddl VARCHAR NOT NULL, built_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        con.execute("INSERT INTO sync.canonical_tables (table_name, ddl) VALUES (?, ?) ON CONFLICT (table_name) "
                    "DO UPDATE SET ddl = excluded.ddl, built_at = now()", [SYNC_LAYOUT, SYNC_DDL])
    finally:
        con.execute(f"SELECT pg_advisory_unlock({_DDL_LOCK})")


def _layout_current(con: Any, canonical: dict[str, dict[str, Any]]) -> bool:
    if con.execute("SELECT to_regclass('sync.canonical_tables') IS NULL").fetchone()[0]:
        return False
    built = dict(con.execute("SELECT table_name, ddl FROM sync.canonical_tables").fetchall())
    return built.get(SYNC_LAYOUT) == SYNC_DDL and all(
        built.get(TABLE[e]) == canonical_ddl(e, s) for e, s in canonical.items())
