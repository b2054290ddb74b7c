"""crmsync's SQL, written once in DuckDB's dialect, translated for PostgreSQL by sqlglot.

The engine's ~170 statements stay as they are; a Postgres store (:mod:`crmsync.store_postgres`) runs
each through :func:`to_postgres` (cached per statement text). What sqlglot does not translate by itself
is translated here, in one place, as rewrites of the parsed statement:

* ``?`` parameters become psycopg's ``%s`` (and a literal ``%`` is doubled, as psycopg requires);
* ``JSON`` columns and casts become ``JSONB`` (Postgres' ``json`` has no ``=``, and crmsync compares
  bases and values), JSON paths read ``jsonb``; unsigned integers become the next wider signed type;
* functions DuckDB has and Postgres has not, or not by that name: ``json_type``, ``list``, ``arg_max``,
  ``hash`` (``hashtextextended`` of the values' text); ``range(n)`` stops before ``n`` as in DuckDB;
* ``json_object(k, v, …)`` is ``jsonb_build_object``; a JSON path function reads its argument as ``jsonb``
  (DuckDB's read JSON held in text as well);
* ``from_json(text, '{"a": "VARCHAR", "b": "JSON"}') AS r`` in a subquery — a record parsed once, its fields
  read as ``r."a"`` by the query around it — is the record as ``jsonb``, and each ``r."a"`` its field (text,
  or ``jsonb`` for a JSON field, a JSON null as SQL null);
* a subquery in ``FROM`` without a name gets one (Postgres 15 requires it); ``GROUP BY ALL`` names its
  columns;
* ``INSERT OR REPLACE INTO t`` becomes ``INSERT … ON CONFLICT (t's primary key) DO UPDATE`` (the store
  reads the key from the catalog, once per table);
* ``read_json('file.jsonl', columns={…})`` — rows staged in a local file — becomes
  ``jsonb_to_recordset(%s)`` with the file's rows sent as a parameter (the server may be on another
  machine and cannot read the file).

``SET`` of a DuckDB-only setting (``memory_limit`` …) does nothing. A construct this module does not
know raises ``ValueError`` here or fails on the server with Postgres' own message: the place to add its
rewrite is here, not in the caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import json_extract_segments
from sqlglot.dialects.postgres import Postgres


class _StorePostgres(Postgres):
    """Postgres, where every JSON column of the store is ``jsonb`` (so are the JSON path functions)."""

    class Generator(Postgres.Generator):
        TRANSFORMS = {**Postgres.Generator.TRANSFORMS,  # noqa: RUF012 (sqlglot's own pattern)
                      exp.JSONExtract: json_extract_segments("JSONB_EXTRACT_PATH"),
                      exp.JSONExtractScalar: json_extract_segments("JSONB_EXTRACT_PATH_TEXT")}


_PARAM = "crmsync_param__"  # a parameter's place while the statement is generated (then %-escaping is safe)
_FILE = "crmsync_file__"    # + the hex of a staged file's path: its rows go in a parameter here


T = exp.DataType.Type
# Postgres has no unsigned integers: the next wider signed type (hash() values here fit 63 bits, see below)
_TYPES = {T.JSON: "JSONB", T.UBIGINT: "BIGINT", T.UINT: "BIGINT", T.USMALLINT: "INTEGER", T.UTINYINT: "SMALLINT"}


@dataclass(frozen=True)
class Statement:
    """One DuckDB statement as Postgres runs it."""

    sql: str
    slots: tuple[str | None, ...] = ()  # per %s in ``sql``: None (the caller's next parameter) or a staged file
    upsert_into: str | None = None      # INSERT OR REPLACE: the table (ON CONFLICT of its key is appended)
    upsert_columns: tuple[str, ...] = ()  # the columns it names (none: all of the table's)
    creates_if_missing: bool = False      # CREATE … IF NOT EXISTS: two workers at once may collide on it


@lru_cache(maxsize=4096)
def to_postgres(sql: str) -> tuple[Statement, ...]:
    """The Postgres form of each statement in ``sql`` (DuckDB dialect; a DDL script holds several)."""
    sql = re.sub(r"\?::(\w+)", r"CAST(? AS \1)", sql)  # sqlglot does not parse DuckDB's ?::TYPE
    return tuple(_statement(tree) for tree in sqlglot.parse(sql, read="duckdb")
                 if tree is not None and not isinstance(tree, exp.Semicolon))


# DuckDB's own settings (its buffer pool, threads, spill folder): nothing to a Postgres server, whose memory its
# administrator configures. Setting one on a Postgres store does nothing.
DUCKDB_ONLY_SETTINGS = {"memory_limit", "max_memory", "threads", "temp_directory", "preserve_insertion_order"}


def _statement(tree: exp.Expression) -> Statement:
    if isinstance(tree, exp.Set) and all(
            isinstance(item.this, exp.EQ) and item.this.this.name.lower() in DUCKDB_ONLY_SETTINGS
            for item in tree.expressions):
        return Statement("")
    for node in list(tree.find_all(exp.Placeholder)):  # first: the rewrites below re-parse their pieces
        name = node.this if isinstance(node.this, str) and node.this != "?" else ""
        node.replace(exp.column(_PARAM + name))
    for node in list(tree.find_all(exp.JSONObject)):
        pairs = [part.sql("postgres") for kv in node.expressions for part in (kv.this, kv.expression)]
        node.replace(_pg(f"jsonb_build_object({', '.join(pairs)})"))
    for node in list(tree.find_all(exp.JSONExtract, exp.JSONExtractScalar)):
        if not (isinstance(node.this, exp.Cast) and node.this.to.this in (T.JSON, T.JSONB)):
            node.set("this", exp.Cast(this=node.this, to=exp.DataType.build("JSON")))
    for node in list(tree.find_all(exp.Anonymous)):
        if str(node.this).lower() == "from_json":
            _struct_from_json(node)
    for node in list(tree.find_all(exp.DataType)):
        if node.this in _TYPES:
            node.replace(exp.DataType.build(_TYPES[node.this]))
    for node in list(tree.find_all(exp.JSONType)):
        node.replace(_pg(f"upper(jsonb_typeof({node.this.sql('postgres')}))"))
    for node in list(tree.find_all(exp.List)):
        node.replace(exp.Anonymous(this="array_agg", expressions=node.expressions))
    for node in list(tree.find_all(exp.ArgMax)):
        value, by = node.this.sql("postgres"), node.expression.sql("postgres")
        node.replace(_pg(f"(array_agg({value} ORDER BY {by} DESC) FILTER (WHERE {by} IS NOT NULL))[1]"))
    for node in list(tree.find_all(exp.Anonymous)):
        name = str(node.this).lower()
        if name == "hash":  # DuckDB's hash is an unsigned 64-bit number: kept non-negative here too
            args = [f"CAST({a.sql('postgres')} AS TEXT)" for a in node.expressions]  # a parameter needs a type
            row = args[0] if len(args) == 1 else f"CAST(ROW({', '.join(args)}) AS TEXT)"
            node.replace(_pg(f"(hashtextextended({row}, 0) & 9223372036854775807)"))
        elif name == "read_json":
            _read_json(node)
    for node in list(tree.find_all(exp.GenerateSeries)):
        if node.args.get("is_end_exclusive"):  # DuckDB's range(a, b): b not included; generate_series includes it
            step = node.args.get("step")
            if step is not None and not (isinstance(step, exp.Literal) and not str(step.this).startswith("-")):
                raise ValueError("range() with a step that is not a positive number is not translated for Postgres")
            node.set("end", exp.Sub(this=exp.Paren(this=node.args["end"]), expression=exp.Literal.number(1)))
            node.set("is_end_exclusive", None)
    for node in list(tree.find_all(exp.Group)):
        if node.args.get("all"):
            _group_by_all(node)
    for n, node in enumerate(tree.find_all(exp.Subquery)):  # Postgres before 16 wants a name for each
        if isinstance(node.parent, (exp.From, exp.Join)) and not node.alias:
            node.set("alias", exp.TableAlias(this=exp.to_identifier(f"crmsync_sub{n}")))
    table, cols = _upsert(tree) if isinstance(tree, exp.Insert) and tree.args.get("alternative") == "REPLACE" \
        else (None, ())
    text = tree.sql(dialect=_StorePostgres).replace("%", "%%")
    slots: list[str | None] = []

    def slot(found: re.Match[str]) -> str:
        if found.group(1) is not None:
            slots.append(bytes.fromhex(found.group(1)).decode())
            return "%s"
        slots.append(None)
        return f"%({found.group(2)})s" if found.group(2) else "%s"

    text = re.sub(rf"{_FILE}([0-9a-f]+)|{_PARAM}(\w*)", slot, text)
    creates = isinstance(tree, exp.Create) and bool(tree.args.get("exists"))
    return Statement(text, tuple(slots), table, cols, creates)


def _group_by_all(group: exp.Group) -> None:
    """``GROUP BY ALL``: by every selected expression that is not an aggregate (by position)."""
    select = group.parent
    plain = [i for i, e in enumerate(select.expressions, 1)
             if not any(isinstance(n, exp.AggFunc) or (isinstance(n, exp.Anonymous) and str(n.this).lower() in
                                                        ("array_agg", "bit_xor", "bit_or", "bit_and"))
                        for n in e.walk())]
    group.set("all", None)
    group.set("expressions", [exp.Literal.number(i) for i in plain])


def _struct_from_json(node: exp.Anonymous) -> None:
    """``(SELECT …, from_json(text, 'shape') AS r FROM …)`` read as ``r."field"`` by the select around it:
    Postgres has no structs, so ``r`` is the record as ``jsonb`` and each ``r."field"`` reads its field."""
    import json

    alias, shape = node.parent, node.expressions[1] if len(node.expressions) > 1 else None
    select = alias.parent if isinstance(alias, exp.Alias) else None
    outer = select.parent.parent if select is not None and isinstance(select.parent, exp.Subquery) else None
    outer = outer.parent if isinstance(outer, (exp.From, exp.Join)) else outer
    if not isinstance(shape, exp.Literal) or not shape.is_string or not isinstance(outer, exp.Select):
        raise ValueError("from_json() is translated for Postgres only as a subquery's column read by field")
    kinds = {name: str(kind).upper() for name, kind in json.loads(shape.this).items()}
    name = alias.alias
    node.replace(exp.Cast(this=node.expressions[0], to=exp.DataType.build("JSON")))
    for column in list(outer.find_all(exp.Column)):
        if column.table == name and column.name in kinds:
            field = f'"{name}" -> \'{column.name}\''  # a JSON null is no value, as DuckDB's from_json has it
            column.replace(_pg(f"nullif({field}, 'null'::jsonb)" if kinds[column.name] == "JSON" else
                               f'("{name}" ->> \'{column.name}\')'))


def _pg(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="postgres")


def _read_json(node: exp.Anonymous) -> None:
    """``read_json('f', format='newline_delimited', columns={'a': 'VARCHAR', …})`` → a record set built from
    the file's rows, which the connection sends as one JSON array."""
    path = node.expressions[0].this
    columns = next(a.expression for a in node.expressions[1:] if isinstance(a, exp.EQ) and a.this.name == "columns")
    defs = []
    for prop in columns.expressions:
        kind = exp.DataType.build(prop.expression.this, dialect="duckdb")
        if kind.this == exp.DataType.Type.JSON:
            kind = exp.DataType.build("JSONB")
        defs.append(exp.ColumnDef(this=exp.to_identifier(prop.this.name, quoted=True), kind=kind))
    rows = exp.Cast(this=exp.column(_FILE + path.encode().hex()), to=exp.DataType.build("JSONB"))
    call = exp.Anonymous(this="jsonb_to_recordset", expressions=[rows])
    node.parent.replace(exp.Table(this=call, alias=exp.TableAlias(this=exp.to_identifier("staged"), columns=defs)))


def _upsert(tree: exp.Insert) -> tuple[str, tuple[str, ...]]:
    """``INSERT OR REPLACE INTO t …``: plain INSERT here; the connection appends ``ON CONFLICT (key) DO
    UPDATE`` (the table's key and, if the statement names none, its columns come from the catalog)."""
    if tree.args.get("returning"):
        raise ValueError("INSERT OR REPLACE … RETURNING is not translated for Postgres")
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    tree.set("alternative", None)
    cols = tuple(c.name for c in target.expressions) if isinstance(target, exp.Schema) else ()
    return ".".join(p for p in (table.db, table.name) if p), cols
