"""What a first remap of N AmoCRM contacts costs when the store does the work as set statements.

A cost model of issue 18's next design, measured on the same raw table ``crmsync remap`` reads, not a
second mapping: the figures say what the remap target (25,000 records/s at 1M) would take, and whether
the design reaches it before anyone builds it. Per slice of ``--slice`` raw rows (by id, one
transaction each, as a run commits):

1. **extract** (DuckDB): the custom field list parsed once into typed structs (``from_json``), each
   mapped field's raw value taken from it or from its column, as a column;
2. **map** (Python, crmsync's own transforms): each *distinct* raw value of a field once, through the
   field's chain (:func:`crmsync.mapping.engine.through_chain`, as the chunk mapping runs it), phones
   and e-mails one entry text at a time; a rejection is kept with its value;
3. **assemble and write** (DuckDB): the mapped values joined back by value, a contact's entries
   re-listed in their order, the canonical record made as JSON (with an md5 standing for its base
   hash) and streamed by ``INSERT … SELECT`` into the canonical table and ``sync.links``; history's one
   row of a new record copied from its link; records with a rejected value set apart (counted, with why).

``--overlap`` adds a variant that uses the second core: a thread does steps 1–2 (and re-lists the entries) for
the next slice on a DuckDB connection of its own and hands Arrow tables over, while step 3 writes the slice
before (DuckDB releases the GIL while a statement runs).

The store's memory cap is crmsync's own (:func:`crmsync.store.open_store`; ``CRMSYNC_DUCKDB_MEMORY_LIMIT``
fixes it), the WAL's checkpoint threshold a remap's. ``--check K`` maps the first K records with crmsync's
mapping (:meth:`crmsync.mapping.Mapper.pull_batch`) and counts, per field, the records whose canonical values
differ from what the set statements wrote, and those not set aside by both for the same field and reason (it
must be 0 for the figures to count); ``--bad`` gives ~0.3 % of the records a value they cannot take
(:data:`BAD`). Left out, and said so in the output: the canonical schema's checks (per column, as
:mod:`crmsync.mapping.columncheck` runs them: per distinct value here too) and a remap's reads of existing rows
(a first remap reads none). The SQL that takes each field's raw value is written for AmoCRM's contact mapping
(custom fields by id, plain columns, the embedded company list); another mapping would need its own.

Usage: ``python -m benchmarks.set_remap --records 1000000 [--keep DIR] [--unique] [--bad] [--overlap] [--slice
50000] [--check 20000]`` (:func:`build` makes the project: a pull of 10,000 contacts from a fake AmoCRM grown to N by
:func:`benchmarks.remap.multiply`), or ``python -m benchmarks.set_remap PROJECT …`` for one built before.
The project is copied, never changed; in the copy every contact is made new (no canonical
row, link or history: a first remap), and ``--unique`` gives each copy of a record names, phones, e-mails and
times of its own. Then the set statements and ``crmsync remap`` (the baseline, in the same run) each run in a
fresh process (:mod:`benchmarks.child`) on their own copy, beside the floor (``CREATE TABLE … AS SELECT`` of
the raw table).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, NamedTuple

CONNECTION = "amocrm"
ASIDE = "set_remap_aside"  # the records the set statements set aside, with why (in the copy)
TYPED = ('[{"field_id":"BIGINT","field_name":"VARCHAR","field_code":"VARCHAR",'
         '"values":[{"value":"JSON","enum_id":"BIGINT","enum_code":"VARCHAR"}]}]')


class Clock:
    """Wall and CPU seconds per step, summed over slices (from both threads with ``overlap``)."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, step: str, began: tuple[float, float]) -> None:
        wall, cpu = time.perf_counter() - began[0], time.process_time() - began[1]
        with self._lock:
            self.wall[step] = self.wall.get(step, 0.0) + wall
            self.cpu[step] = self.cpu.get(step, 0.0) + cpu


class Field(NamedTuple):
    """A pulled field: its binding, how its raw value is taken (SQL over the slice ``s``), its kind (``value``:
    one raw value; ``list``: an option list as JSON; ``points``: a list of entries, phones or e-mails) and
    whether the raw value is JSON text (parsed in Python, once a distinct value) or a value of its column's type."""

    bound: Any
    sql: str
    kind: str
    parsed: bool


def now() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _mapper(con: Any, root: Path) -> Any:
    from crmsync.map_process import _NoResolver
    from crmsync.mapping import Mapper, build_catalog, catalog_needs, load_canonical, parse_mapping
    from crmsync.read.stored_metadata import stored_metadata
    from crmsync.specs.yamlload import load_yaml

    spec = parse_mapping(load_yaml(root / "mappings" / "amocrm" / "contact.yaml"), "mappings/amocrm/contact.yaml")
    connector = load_yaml(root / "connectors" / "amocrm.yaml")
    catalog = build_catalog(connector, stored_metadata(con, CONNECTION), spec.source, catalog_needs(spec))
    schema = load_canonical(root)["contact"]
    return Mapper(spec, catalog, _NoResolver(), schema)


def _fields(mapper: Any) -> list[Field]:
    """Each pulled field of ``mapper``, as the set statements take it."""
    out = []
    for bound in mapper.fields:
        if not bound.spec.pulls:
            continue
        kinds = [type(t).__name__ for t in bound.chain]
        if bound.custom is not None:
            # list comprehensions, not lambdas: DuckDB 2.0 refuses `x -> …` and 1.2 does not know `lambda x: …`
            values = f"[x FOR x IN s.cf IF x.field_id = {int(bound.custom.id)}][1]['values']"
            if kinds[0] == "ContactPoints":
                out.append(Field(bound, values, "points", False))
            elif kinds[0] == "CfValue":
                out.append(Field(bound, f"{values}[1].value", "value", True))
            else:  # cf_enum(s): the option's id and value, as the transform reads them
                out.append(Field(bound, f"to_json([{{'enum_id': v.enum_id, 'value': v.value}} FOR v IN {values}])",
                                 "list", True))
        elif bound.spec.source == "_embedded.companies":
            out.append(Field(bound, "json_extract(s._embedded, '$.companies')", "value", True))
        else:
            out.append(Field(bound, f's."{bound.spec.source}"', "value", False))
    return out


def measure(project: str, slice_rows: int = 50_000, check: int = 0, overlap: bool = False) -> dict[str, Any]:
    """The set statements' first remap of ``project``'s store (prepared by :func:`prepare`), step by step.
    ``overlap``: a thread prepares (extracts and maps) the next slice on a connection of its own while this
    one writes the slice before (DuckDB releases the GIL while it runs a statement)."""
    from concurrent.futures import ThreadPoolExecutor

    from crmsync.canonical.tables import ensure
    from crmsync.jsontext import loads
    from crmsync.mapping import load_canonical
    from crmsync.remap import REMAP_WAL
    from crmsync.store import checkpoint_every, open_store

    root = Path(project)
    clock = Clock()
    out: dict[str, Any] = {"left_out": ["the canonical schema's checks",
                                        "reads of existing rows (none in a first remap)"], "overlap": overlap}
    with open_store(root / "crmsync.duckdb") as con:
        ensure(con, load_canonical(root))
        checkpoint_every(con, REMAP_WAL)  # as a remap does
        con.execute(f"CREATE OR REPLACE TABLE {ASIDE} (remote_id VARCHAR, reason VARCHAR)")
        mapper = _mapper(con, root)
        fields = _fields(mapper)
        out["memory_limit"] = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        ids = [r[0] for r in con.execute(
            "SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM raw_amocrm.contact) "
            f"WHERE n % {int(slice_rows)} = 0 ORDER BY id").fetchall()]
        bounds = list(zip([None, *ids], [*ids, None], strict=True))
        distinct = {f.bound.name: 0 for f in fields}
        statements = _write_statements(con, fields)  # the same for every slice
        total = set_apart = 0
        reasons_seen: dict[str, int] = {}
        held: list[dict[str, float]] = []  # DuckDB's memory by tag (MB) after each slice's commit
        reader = con.cursor()  # the preparing connection: temporary tables of its own
        began_all = now()
        with ThreadPoolExecutor(1) as pool:
            def ready(k: int) -> Any:
                return pool.submit(_prepare_slice, reader, fields, mapper, bounds[k], clock, distinct)

            coming = ready(0) if overlap else None
            for k in range(len(bounds)):
                prepared = coming.result() if coming is not None else \
                    _prepare_slice(reader, fields, mapper, bounds[k], clock, distinct)
                coming = ready(k + 1) if overlap and k + 1 < len(bounds) else None
                read, inserted, reasons = _write_slice(con, statements, prepared, clock)
                for reason, n in reasons:
                    reasons_seen[reason] = reasons_seen.get(reason, 0) + n
                total, set_apart = total + read, set_apart + read - inserted
                held.append(dict(con.execute("SELECT tag, round(memory_usage_bytes / 2 ** 20) FROM duckdb_memory() "
                                             "WHERE memory_usage_bytes > 2 ** 20").fetchall()))
        wall = time.perf_counter() - began_all[0]
        reader.close()
        # the process's peak so far: the set statements' own (the check below maps with crmsync's mapping)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        if check:
            out["check"] = _check(con, mapper, check, loads)
        out.update(records=total, set_apart=set_apart, slices=len(bounds), slice_rows=slice_rows,
                   seconds=round(wall, 2), records_per_s=round(total / wall), distinct_values=distinct,
                   reasons=dict(sorted(reasons_seen.items(), key=lambda kv: -kv[1])[:10]),
                   # with overlap, a step's CPU seconds are the process's while it ran (both threads)
                   steps={k: {"wall_s": round(clock.wall[k], 2), "cpu_s": round(clock.cpu[k], 2)} for k in clock.wall},
                   cpu_s=round(time.process_time() - began_all[1], 2), duckdb_mb_after_commits=held)
    return out


def _prepare_slice(cur: Any, fields: list[Field], mapper: Any, bound: tuple[Any, Any], clock: Clock,
                   distinct: dict[str, int]) -> dict[str, Any]:
    """A slice's raw values extracted, each distinct one mapped, a contact's entries re-listed: the Arrow
    tables the writing connection joins (``v``: the slice's ids and values; ``m<i>``: a field's mapped
    values; ``p<i>``: a contact's mapped entries)."""
    import pyarrow as pa

    from crmsync.jsontext import dumps, loads
    from crmsync.mapping import Rejection
    from crmsync.mapping.context import Context
    from crmsync.mapping.engine import through_chain

    low, high = bound
    where = " AND ".join([*(["id > ?"] if low is not None else []), *(["id <= ?"] if high is not None else [])])
    params = [v for v in (low, high) if v is not None]
    t = now()
    columns = ", ".join(f"{f.sql} AS f{i}" for i, f in enumerate(fields))
    cur.execute(f"CREATE OR REPLACE TEMP TABLE v AS SELECT s.id, CAST(uuid() AS VARCHAR) AS cid, {columns} "
                f"FROM (SELECT *, from_json(custom_fields_values, '{TYPED}') AS cf FROM raw_amocrm.contact "
                f"WHERE {where or 'true'}) s", params)
    clock.add("extract", t)
    tables: dict[str, Any] = {}
    for i, (bound_field, _, kind, parsed) in enumerate(fields):
        t = now()
        if kind == "points":
            _points_map(cur, i, bound_field, through_chain, Context, mapper, dumps)
            distinct[bound_field.name] += cur.execute(f"SELECT count(*) FROM m{i}").fetchall()[0][0]
            clock.add("map", t)
            t = now()
            tables[f"p{i}"] = cur.sql(f"""
                SELECT x.id, CAST(list(json_object('value', m.out, 'type', k.kind) ORDER BY x.n)
                                  FILTER (WHERE m.out IS NOT NULL) AS JSON) AS out,
                       min(m.reason) AS reason
                FROM (SELECT v.id, unnest(v.f{i}) AS e, generate_subscripts(v.f{i}, 1) AS n FROM v) x(id, e, n)
                JOIN m{i} m ON m.raw IS NOT DISTINCT FROM x.e.value ->> '$'
                LEFT JOIN k{i} k ON k.code IS NOT DISTINCT FROM x.e.enum_code
                GROUP BY x.id""").to_arrow_table()
            clock.add("assemble", t)
            continue
        # JSON values (a custom field's, a list's) are parsed here, once a distinct value; typed columns
        # come as Python values of their type, as the mapping reads them
        keys = [k for (k,) in cur.execute(f"SELECT DISTINCT {_key(i, parsed)} FROM v").fetchall()]
        distinct[bound_field.name] += len(keys)
        chain = bound_field.chain[1:] if kind == "value" and bound_field.custom is not None else bound_field.chain
        outs: list[Any] = []
        why: list[Any] = []
        for raw in keys:
            ctx = Context(mapper.catalog, mapper.resolver, {}, "pull")
            ctx.field, ctx.custom = bound_field.name, bound_field.custom
            try:
                outs.append(dumps(through_chain(loads(raw) if parsed and raw is not None else raw, chain, ctx)))
                why.append(None)
            except Rejection as exc:
                outs.append(None)
                why.append(f"{bound_field.name}: {exc.reason}")
        tables[f"m{i}"] = pa.table({"raw": pa.array(keys), "out": pa.array(outs, pa.string()),
                                    "reason": pa.array(why, pa.string())})
        clock.add("map", t)
    t = now()
    kept = ", ".join(f"f{i}" for i, f in enumerate(fields) if f.kind != "points")
    tables["v"] = cur.sql(f"SELECT id, cid, {kept} FROM v").to_arrow_table()
    clock.add("extract", t)
    return tables


def _key(i: int, parsed: bool) -> str:
    """How field ``i``'s raw value is compared: as JSON text when it is parsed, else as its own type."""
    return f"CAST(f{i} AS VARCHAR)" if parsed else f"f{i}"


class Statements(NamedTuple):
    """What writes a prepared slice (:func:`_write_statements`): ``assembled``, its records joined back from
    the Arrow tables, as a subquery; the inserts of canonical rows and of links from it."""

    assembled: str
    canonical: str
    links: str


def _write_statements(con: Any, fields: list[Field]) -> Statements:
    joins, selects, reasons = [], [], []
    for i, f in enumerate(fields):
        if f.kind == "points":
            joins.append(f"LEFT JOIN p{i} ON p{i}.id = v.id")
            selects.append(f"coalesce(p{i}.out, CAST('[]' AS JSON))")
            reasons.append(f"p{i}.reason")
        else:
            joins.append(f"LEFT JOIN m{i} ON m{i}.raw IS NOT DISTINCT FROM {_key(i, f.parsed).replace('f', 'v.f', 1)}")
            selects.append(f"CAST(m{i}.out AS JSON)")
            reasons.append(f"m{i}.reason")
    names = [f.bound.name for f in fields]
    top = [n for n in names if "." not in n]
    custom = [n for n in names if n.startswith("custom.")]
    value = {n: selects[names.index(n)] for n in top}
    if custom:
        value["custom"] = "json_object(" + ", ".join(f"'{n.split('.', 1)[1]}', {selects[names.index(n)]}"
                                                     for n in custom) + ")"
    # Each field's value a column, and the record as JSON, streamed into each table (a table of them for the
    # slice would hold every record's JSON twice in memory): the maps are small, v is the slice.
    pairs = ", ".join(f"'{n}', \"c_{n}\"" for n in value)
    assembled = f"""(SELECT *, CASE WHEN reason IS NULL THEN json_object({pairs}) END AS record
        FROM (SELECT CAST(v.id AS VARCHAR) AS remote_id, v.cid,
                     {', '.join(f'{sql} AS "c_{n}"' for n, sql in value.items())},
                     coalesce({', '.join(reasons)}) AS reason
              FROM v {' '.join(joins)}))"""
    types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_schema = 'canonical' AND table_name = 'contacts'").fetchall())
    typed = [f'"c_{n}"' if types[n] == "JSON" else f"""CAST("c_{n}" ->> '$' AS {types[n]})""" for n in value]
    return Statements(
        assembled,
        f"""INSERT INTO canonical.contacts (id, {', '.join(f'"{n}"' for n in value)})
            SELECT cid, {', '.join(typed)} FROM {assembled} WHERE reason IS NULL""",
        f"""INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base, base_hash,
                                   remote_updated_at, remote_deleted_at)
            SELECT 'contact', '{CONNECTION}', remote_id, cid, record, md5(CAST(record AS VARCHAR)),
                   CAST("c_updated_at" ->> '$' AS TIMESTAMPTZ), NULL FROM {assembled} WHERE reason IS NULL""")


def _write_slice(con: Any, statements: Statements, tables: dict[str, Any], clock: Clock
                 ) -> tuple[int, int, list[tuple[str, int]]]:
    """A prepared slice joined back and written in one transaction: (records read, inserted, why set aside)."""
    from crmsync.store import register_arrow, unregister_arrow

    t = now()
    for name, table in tables.items():
        register_arrow(con, name, table)
    con.execute("BEGIN")
    inserted = con.execute(statements.canonical).fetchone()[0]
    clock.add("write canonical (with the joins)", t)
    t = now()
    con.execute(statements.links)
    clock.add("write links (with the joins)", t)
    t = now()
    # history's one row of a new record: its values as its link holds them (written just before)
    con.execute("""INSERT INTO sync.changes (run_id, entity, canonical_id, field, old, new, side, edited_at)
        SELECT 'set-remap', 'contact', l.canonical_id, '*', NULL, l.base, ?, l.remote_updated_at
        FROM sync.links l WHERE l.entity = 'contact' AND l.connection = ?
        AND l.remote_id IN (SELECT CAST(id AS VARCHAR) FROM v)""", [f"remap:{CONNECTION}", CONNECTION])
    clock.add("write history", t)
    read = tables["v"].num_rows
    why: list[tuple[str, int]] = []
    if read > inserted:  # set aside, with why (the same joins again, only then)
        con.execute(f"INSERT INTO {ASIDE} SELECT remote_id, reason FROM {statements.assembled} WHERE reason NOT NULL")
        why = con.execute(f"SELECT reason, count(*) FROM {ASIDE} WHERE remote_id IN (SELECT CAST(id AS VARCHAR) "
                          "FROM v) GROUP BY 1").fetchall()
    t = now()
    con.execute("COMMIT")
    clock.add("commit", t)
    for name in tables:
        unregister_arrow(con, name)
    return read, inserted, why


def _points_map(con: Any, i: int, bound: Any, through_chain: Any, context: Any, mapper: Any, dumps: Any) -> None:
    """A list of entries (contact_points, then phone or email): each distinct entry text through the
    second transform, the kinds by the first's table (``m{i}``: text → value; ``k{i}``: code → kind)."""
    import pyarrow as pa

    from crmsync.mapping import Rejection

    points, last = bound.chain
    keys = con.execute(f"SELECT DISTINCT e.value ->> '$' FROM (SELECT unnest(f{i}) AS e FROM v)").fetchall()
    rows: dict[str, list[Any]] = {"raw": [], "out": [], "reason": []}
    for (raw,) in keys:
        ctx = context(mapper.catalog, mapper.resolver, {}, "pull")
        ctx.field, ctx.custom = bound.name, bound.custom
        try:
            mapped = None if raw is None or raw == "" else through_chain(" ".join(raw.split()) if type(last).__name__
                                                                         == "Phone" else raw, [last], ctx)
            reason = None
        except Rejection as exc:
            mapped, reason = None, f"{bound.name}: {exc.reason}"
        rows["raw"].append(raw)
        rows["out"].append(mapped)
        rows["reason"].append(reason)
    con.register(f"m{i}", pa.table(rows, schema=pa.schema([("raw", pa.string()), ("out", pa.string()),
                                                          ("reason", pa.string())])))
    kinds = points.spec["kinds"]
    con.register(f"k{i}", pa.table({"code": list(kinds), "kind": list(kinds.values())}))


def _check(con: Any, mapper: Any, k: int, loads: Any) -> dict[str, Any]:
    """The first ``k`` records mapped by crmsync's own mapping against the rows the set statements wrote."""
    from crmsync.mapping import Rejection
    from crmsync.pull import _raw_values

    shape, pages = _raw_values(con, "raw_amocrm", "contact", 0, key="id")
    raws: list[dict[str, Any]] = []
    for page in pages:
        raws += list(shape.records(page))
        if len(raws) >= k:
            break
    raws = raws[:k]
    written = dict(con.execute("SELECT remote_id, CAST(base AS VARCHAR) FROM sync.links WHERE remote_id IN "
                               "(SELECT unnest(?))", [[str(r["id"]) for r in raws]]).fetchall())
    aside = dict(con.execute(f"SELECT remote_id, reason FROM {ASIDE}").fetchall())
    differ: dict[str, int] = {}
    example: dict[str, Any] = {}

    def differs(name: str, a: Any, b: Any) -> None:
        if a != b or type(a) is not type(b):
            differ[name] = differ.get(name, 0) + 1
            example.setdefault(name, {"set_statements": a, "crmsync": b})

    rejected = 0
    for raw, result in zip(raws, mapper.pull_batch(raws), strict=True):
        rid = str(raw["id"])
        ours = loads(written[rid]) if rid in written else None
        theirs = None if isinstance(result, Rejection) else result.canonical
        rejected += theirs is None
        # set aside by both, for the same field and reason (a record's first bad field in the mapping's order)
        differs("(set aside, and why)", aside.get(rid), f"{result.field}: {result.reason}" if theirs is None else None)
        for name in sorted(set(ours or {}) | set(theirs or {})):
            differs(name, (ours or {}).get(name), (theirs or {}).get(name))
    return {"records": len(raws), "set_aside_by_crmsync": rejected, "fields_differing": differ, "examples": example}


def prepare(project: str, unique: bool = False, bad: bool = False) -> dict[str, Any]:
    """Make every contact of ``project``'s store new to it (no canonical row, link or history: a first remap),
    with ``unique`` give each copy of a raw record names, phones, e-mails and times of its own, and with
    ``bad`` one value a record cannot take in a few of them (:data:`BAD`)."""
    import duckdb

    con = duckdb.connect(str(Path(project) / "crmsync.duckdb"))
    try:
        con.execute("DELETE FROM canonical.contacts")
        con.execute("DELETE FROM sync.links WHERE entity = 'contact'")
        con.execute("DELETE FROM sync.changes WHERE entity = 'contact'")
        if unique:
            con.execute(UNIQUE)
        if bad:
            con.execute(BAD)
        con.execute("CHECKPOINT")
        return {"records": con.execute("SELECT count(*) FROM raw_amocrm.contact").fetchone()[0],
                "distinct_names": con.execute("SELECT count(DISTINCT name) FROM raw_amocrm.contact").fetchone()[0]}
    finally:
        con.close()


# Copies of a record (benchmarks.remap.multiply) differ only by id: real records rarely share names, phones,
# e-mails and times, and a mapping by distinct value would map each once. This gives each copy its own: the
# id's last digits in the names, its phones' last three digits and its e-mail's user, seconds added to its times.
UNIQUE = r"""
UPDATE raw_amocrm.contact SET
    name = name || ' ' || CAST(id % 100003 AS VARCHAR),
    first_name = first_name || CAST(id % 97 AS VARCHAR),
    last_name = last_name || CAST(id % 1009 AS VARCHAR),
    created_at = created_at + id % 86400,
    updated_at = updated_at + id % 86400,
    custom_fields_values = CAST(regexp_replace(regexp_replace(CAST(custom_fields_values AS VARCHAR),
        '([0-9])[0-9]{3}( *","enum_id)', '\1' || lpad(CAST(id % 100003 % 1000 AS VARCHAR), 3, '0') || '\2', 'g'),
        '"value":"( *)([^"@]+)@', '"value":"\1\2.' || CAST(id % 100003 AS VARCHAR) || '@', 'g') AS JSON)
"""


# Values a record cannot take, so that some are set aside: an owner who is not among the account's users (every
# 997th record), a control character in the first name (every 1,009th), a budget that is not a number (1,013th).
BAD = r"""
UPDATE raw_amocrm.contact SET responsible_user_id = 999 WHERE id % 997 = 0;
UPDATE raw_amocrm.contact SET first_name = first_name || chr(1) WHERE id % 1009 = 0;
UPDATE raw_amocrm.contact SET custom_fields_values = CAST(regexp_replace(CAST(custom_fields_values AS VARCHAR),
    '("field_name":"Бюджет"[^]]*"value":)"[0-9]+"', '\1"forty"') AS JSON) WHERE id % 1013 = 0;
"""


def run(project: Path, *, unique: bool, slice_rows: int, check: int, crmsync: bool = True, overlap: bool = False,
        bad: bool = False, record_path: bool = False, model: bool = True) -> dict[str, Any]:
    """The set statements and ``crmsync remap`` (the baseline), each in a fresh process on its own copy of the
    same prepared store, beside the store's floor (``CREATE TABLE … AS SELECT`` of the raw table)."""
    from benchmarks.child import run_child

    out: dict[str, Any] = {"scenario": "a first remap of AmoCRM contacts as set statements (a cost model)",
                           "unique": unique, "bad": bad, "slice_rows": slice_rows, "rows": []}
    with tempfile.TemporaryDirectory(prefix="crmsync-setremap-") as tmp:
        base = Path(tmp) / "base"
        shutil.copytree(project, base, ignore=shutil.ignore_patterns("*.wal", "*.duckdb.tmp"))
        out["prepared"] = run_child("benchmarks.set_remap:prepare", project=str(base), unique=unique, bad=bad)["result"]
        floor = run_child("benchmarks.remap:floor_seconds", store=str(base / "crmsync.duckdb"))["result"]
        out["floor_s"] = round(floor, 2)
        variants = {"set statements": ("benchmarks.set_remap:measure", {"slice_rows": slice_rows, "check": check})} \
            if model else {}
        if overlap:
            variants["set statements, next slice prepared beside"] = (
                "benchmarks.set_remap:measure", {"slice_rows": slice_rows, "check": check, "overlap": True})
        if crmsync:
            variants["crmsync remap"] = ("benchmarks.steps:crmsync_remap", {"pipeline": "amocrm"})
        if record_path:
            variants["crmsync remap, CRMSYNC_COLUMNAR=off"] = ("benchmarks.steps:crmsync_remap",
                                                               {"pipeline": "amocrm", "columnar": "off"})
        for name, (target, kwargs) in variants.items():
            copy = Path(tmp) / name.replace(" ", "_")
            shutil.copytree(base, copy)
            report = run_child(target, project=str(copy), **kwargs)
            seconds = report["result"]["seconds"]
            records = out["prepared"]["records"]
            out["rows"].append({
                "variant": name, "records": records, "seconds": round(seconds, 2),
                "records_per_s": round(records / seconds), "cpu_s": round(report["cpu_seconds"], 1),
                "map_cpu_s": round(report["children_cpu_seconds"], 1),
                "peak_rss_mb": report["result"].get("peak_rss_mb", report["peak_rss_mb"]),
                "vs_floor": round(seconds / out["floor_s"], 1), "detail": report["result"]})
            shutil.rmtree(copy)
    return out


def build(folder: Path, records: int) -> Path:
    """A project at ``folder`` whose store holds ``records`` raw contacts (:func:`benchmarks.remap_trees.build`:
    10,000 pulled from a fake AmoCRM, then copied under new ids). A folder that holds one of that size is reused."""
    import contextlib
    import sys

    import duckdb

    from benchmarks.remap_trees import build as build_store

    store = folder / "crmsync.duckdb"
    if store.exists():
        con = duckdb.connect(str(store), read_only=True)
        try:
            if con.execute("SELECT count(*) FROM raw_amocrm.contact").fetchone()[0] == records:
                return folder
        finally:
            con.close()
    with contextlib.redirect_stdout(sys.stderr):  # stdout is the JSON
        build_store(records, folder)
    return folder


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.set_remap", description=__doc__.split("\n")[0])
    p.add_argument("project", type=Path, nargs="?", help="a project whose store a pull filled and "
                   "benchmarks.remap.multiply grew (copied, never changed); or give --records")
    p.add_argument("--records", type=int, help="build such a project of this many contacts first (in --keep)")
    p.add_argument("--keep", type=Path, help="where --records builds its project, reused by later runs "
                   "(default: a temporary folder)")
    p.add_argument("--unique", action="store_true", help="give every copy of a record values of its own")
    p.add_argument("--bad", action="store_true", help="give ~0.3%% of records a value they cannot take (set aside)")
    p.add_argument("--slice", type=int, default=50_000, help="raw rows a transaction (default 50000)")
    p.add_argument("--check", type=int, default=20_000, help="records compared with crmsync's mapping (0: none)")
    p.add_argument("--no-crmsync", action="store_true", help="leave out crmsync's own remap (the baseline)")
    p.add_argument("--record-path", action="store_true", help="also crmsync's remap with CRMSYNC_COLUMNAR=off (every "
                   "record by the record path, as before the ninth session)")
    p.add_argument("--no-model", action="store_true", help="leave out this cost model's own variant")
    p.add_argument("--overlap", action="store_true", help="also with the next slice prepared on a second thread "
                   "while one is written")
    p.add_argument("--out", type=Path, help="write the JSON here too")
    args = p.parse_args(argv)
    if (args.project is None) == (args.records is None):
        p.error("give a PROJECT or --records N")
    with tempfile.TemporaryDirectory(prefix="crmsync-setremap-build-") as tmp:
        project = args.project or build(args.keep or Path(tmp), args.records)
        result = run(project, unique=args.unique, slice_rows=args.slice, check=args.check,
                     crmsync=not args.no_crmsync, overlap=args.overlap, bad=args.bad, record_path=args.record_path,
                     model=not args.no_model)
    text = json.dumps(result, indent=1, ensure_ascii=False, default=str)
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
