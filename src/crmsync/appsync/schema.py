"""The app schema: the columns a WatermelonDB client keeps per table, and how canonical values travel.

One source of truth: ``app_schema.json`` next to this module, served at ``GET /api/sync/schema`` (the
JavaScript client builds its ``appSchema`` from it). :func:`derive` computes it from the canonical JSON
Schemas, and a test keeps the shipped file equal to what :func:`derive` says for the built-in project.

WatermelonDB columns hold primitives only, so each canonical field has an *encoding*:

- ``text``: a string as is (enums too); ``number`` / ``boolean``: as is;
- ``ms``: a ``date-time`` as milliseconds since the epoch (WatermelonDB's own date convention; the
  store keeps whole seconds, so a pushed value is cut to its second);
- ``date``: ``YYYY-MM-DD`` text;
- ``decimal``: an exact decimal (a deal's amount) as text, so no digit is lost to a JS double;
- ``json``: lists and objects (phones, emails, custom fields, a deal's contacts) as JSON text.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from typing import Any

from crmsync.canonical.tables import TABLE
from crmsync.canonical.values import plain
from crmsync.mapping.errors import Rejection

ENCODINGS = {"text": "string", "number": "number", "boolean": "boolean", "ms": "number", "date": "string",
             "decimal": "string", "json": "string"}  # encoding → WatermelonDB column type
SKIPPED = ("id", "version", "deleted_at")  # the record's id is WatermelonDB's own; deletions travel as ids
VERSION = 1


def encoding(prop: dict[str, Any]) -> str:
    """The encoding of one canonical property (its JSON Schema)."""
    kinds = prop.get("type", "string" if "enum" in prop else "json")
    kinds = [k for k in (kinds if isinstance(kinds, list) else [kinds]) if k != "null"] or ["string"]
    if len(kinds) > 1:
        return "json"
    kind = kinds[0]
    if kind == "string":
        return {"date-time": "ms", "date": "date"}.get(prop.get("format", ""), "text")
    if kind == "number":
        return "decimal" if prop.get("format") == "decimal" else "number"
    return {"integer": "number", "boolean": "boolean"}.get(kind, "json")


def derive(canonical: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The app schema for canonical schemas ``{entity: JSON Schema}``."""
    tables = {}
    for entity, table in TABLE.items():
        if entity not in canonical:
            continue
        cols = []
        for name, prop in (canonical[entity].get("properties") or {}).items():
            if name in SKIPPED:
                continue
            enc = encoding(prop)
            cols.append({"name": name, "type": ENCODINGS[enc], "isOptional": True, "encoding": enc})
        tables[table] = {"entity": entity, "columns": cols}
    return {"version": VERSION,
            "description": "crmsync's app schema: WatermelonDB tables and columns, one per canonical field "
                           "(docs/app-sync.md says how each encoding carries its values)",
            "tables": tables}


@cache
def shipped() -> dict[str, Any]:
    return json.loads(resources.files(__package__).joinpath("app_schema.json").read_text(encoding="utf-8"))


class AppSchema:
    """The shipped schema, checked against a project's canonical schemas at start."""

    def __init__(self, canonical: dict[str, dict[str, Any]], spec: dict[str, Any] | None = None) -> None:
        self.spec = spec or shipped()
        self.version = int(self.spec["version"])
        self.tables: dict[str, str] = {}                 # app table → canonical entity
        self.columns: dict[str, dict[str, str]] = {}     # app table → column → encoding
        problems = []
        for table, body in self.spec["tables"].items():
            entity = body["entity"]
            props = (canonical.get(entity) or {}).get("properties") or {}
            cols = {c["name"]: c["encoding"] for c in body["columns"]}
            for name, enc in cols.items():
                if name not in props:
                    problems.append(f"{table}.{name}: no such field in the canonical {entity} schema")
                elif encoding(props[name]) != enc:
                    problems.append(f"{table}.{name}: the canonical schema makes it {encoding(props[name])}, "
                                    f"the app schema says {enc}")
            self.tables[table], self.columns[table] = entity, cols
        if problems:
            from crmsync.errors import UserError

            raise UserError("the app schema (crmsync/appsync/app_schema.json) does not fit this project's canonical "
                            "schemas:\n  " + "\n  ".join(problems),
                            hint="keep the canonical fields the app schema names, or ship a matching app schema")

    def table_of(self, entity: str) -> str:
        return TABLE[entity]


def to_app(value: Any, enc: str) -> Any:
    """A canonical value (as DuckDB or JSON hands it over) in the app's encoding."""
    if value is None:
        return None
    if enc == "ms":
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return int(value.timestamp()) * 1000
    if enc == "decimal":
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        text = format(number.normalize(), "f")
        return text
    if enc == "json":
        if isinstance(value, str):
            value = json.loads(value)
        return json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))
    if enc == "date":
        return value.isoformat() if isinstance(value, dt.date) else str(value)
    return plain(value)


def to_app_record(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """A canonical row (as DuckDB returns it) as an app record: the reference :func:`sql_record` follows."""
    return {"id": row["id"], **{name: to_app(row.get(name), enc) for name, enc in columns.items()}}


def sql_value(column: str, enc: str) -> str:
    """The DuckDB expression that encodes canonical column ``column`` as :func:`to_app` does: the change scan
    encodes every changed row in one statement (a first sync of 100k rows never goes through Python row by row).
    A unit test holds the two to the same answers."""
    col = f'c."{column}"'
    if enc == "ms":
        return f"epoch_ms(date_trunc('second', {col}))"
    if enc == "date":
        return f"CAST({col} AS VARCHAR)"
    if enc == "json":
        return f"CAST(json({col}) AS VARCHAR)"
    if enc == "decimal":  # the shortest exact text: 12500.500000 -> 12500.5, 100.0000 -> 100
        text = f"CAST({col} AS VARCHAR)"
        return (f"CASE WHEN {col} IS NULL THEN NULL WHEN {col} = 0 THEN '0' WHEN strpos({text}, '.') = 0 THEN {text} "
                f"ELSE rtrim(rtrim({text}, '0'), '.') END")
    return col


def sql_record(columns: dict[str, str]) -> str:
    """The DuckDB expression of a whole app record (JSON text) of canonical row ``c``."""
    fields = ", ".join(f'"{name}" := {sql_value(name, enc)}' for name, enc in columns.items())
    return f'CAST(to_json(struct_pack("id" := c."id", {fields})) AS VARCHAR)'


def from_app(value: Any, enc: str, field: str) -> Any:
    """An app value in canonical form (what a pulled record would hold); a :class:`Rejection` if it cannot be."""
    if value is None:
        return None

    def refuse(what: str) -> Rejection:
        return Rejection(f"{what} (got {json.dumps(value, default=str)[:80]})", field, "app")

    if enc == "text" or enc == "date":
        if not isinstance(value, str):
            raise refuse("expected text")
        return value
    if enc == "boolean":
        if not isinstance(value, bool):
            raise refuse("expected true or false")
        return value
    if enc in ("number", "ms"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise refuse("expected a number" + (" of milliseconds since 1970" if enc == "ms" else ""))
        if enc == "number":
            return value
        try:
            moment = dt.datetime.fromtimestamp(math.floor(value / 1000), tz=dt.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise refuse("a time out of range") from None
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if enc == "decimal":
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise refuse("expected a decimal number as text")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise refuse("expected a decimal number as text") from None
        if not number.is_finite():
            raise refuse("expected a finite number")
        return number
    if enc == "json":
        if isinstance(value, list | dict):
            return value
        if not isinstance(value, str):
            raise refuse("expected JSON text")
        try:
            return json.loads(value)
        except ValueError:
            raise refuse("expected JSON text") from None
    raise refuse(f"unknown encoding {enc!r}")


if __name__ == "__main__":  # regenerate app_schema.json after a change of the canonical schemas
    from pathlib import Path

    from crmsync.mapping.canonical import load_canonical
    from crmsync.project import builtin_project_dir

    target = Path(__file__).with_name("app_schema.json")
    target.write_text(json.dumps(derive(load_canonical(builtin_project_dir())), indent=2, ensure_ascii=False) + "\n",
                      encoding="utf-8")
    print(f"wrote {target}")
