"""Mapping by column in the store (:mod:`crmsync.mapping.columnar`, ``apply_columnar.ColumnarApply``) against
the record path reading the same raw table (``crmsync.pull._raw_values``, :meth:`Mapper.pull_batch`).

A record the columnar path takes must be exactly the record path's: the same canonical values, as the same JSON
text, and the same text with sorted keys (what its base hash is made of). A record it leaves (``ok`` false) goes
to the record path, so leaving one is always safe; taking one the record path sets aside never is. Golden records,
golden records made bad at every place, randomized raw records, and raw tables of odd column types (dlt's variant
columns, envelopes, fractions and flags as custom field ids, paths through lists) for every pure shipped mapping."""

from __future__ import annotations

import copy
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.canonical.apply_columnar import ASSEMBLED, ColumnarApply
from crmsync.canonical.tables import columns
from crmsync.jsontext import dump_bytes, dumps, loads
from crmsync.mapping import Mapper, Rejection
from crmsync.mapping.columnar import NotColumnar, RawTable, compile_pull
from crmsync.mapping.raw_values import ENVELOPED
from crmsync.pull import _raw_values
from crmsync.read.storable import VARIANT

from .helpers import canonical, connector, load_mapping, mapping_path
from .test_batch import BAD, _bases, _mapper, _paths, _put, _randomized, raw_records

PURE = [("amocrm", "contact"), ("bitrix24", "contact"), ("hubspot", "contact")]
STORABLE = [b for b in BAD if b != "\ud800"]  # not valid Unicode: the reader keeps it in an envelope (below)
INT64 = (-(2**63), 2**63 - 1)


def _key(crm: str) -> str:
    listing = connector(crm)["entities"][load_mapping(mapping_path(crm, "contact"), canonical=canonical(),
                                                         connector=connector(crm)).source]["list"]
    return listing.get("record_id_field") or listing.get("id_field") or "id"


def _kind(values: list[Any]) -> str:
    kinds = {type(v) for v in values if v is not None}
    if kinds <= {bool} and kinds:
        return "BOOLEAN"
    if kinds <= {int} and all(INT64[0] <= v <= INT64[1] for v in values if v is not None):
        return "BIGINT"
    if kinds <= {float} and kinds:
        return "DOUBLE"
    if kinds <= {str}:
        return "VARCHAR"
    return "JSON"


def _table(raws: list[dict[str, Any]], key: str, kinds: dict[str, str] | None = None) -> Any:
    """A DuckDB raw table of ``raws`` as dlt would have typed its columns (a column of one kind of value takes
    that type; any other is JSON); ``kinds`` names a column's type outright (a variant column, a flag)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw_t; CREATE SCHEMA sync")
    con.execute("CREATE TABLE sync.links (entity VARCHAR, connection VARCHAR, remote_id VARCHAR, canonical_id VARCHAR)")
    names = list(dict.fromkeys(k for r in raws for k in r))
    typed = {n: (kinds or {}).get(n) or _kind([r.get(n) for r in raws]) for n in names}
    data = {}
    for n in names:
        values = [r.get(n) for r in raws]
        data[n] = pa.array([None if v is None else dumps(v) for v in values], pa.string()) if typed[n] == "JSON" \
            else pa.array(values, {"BOOLEAN": pa.bool_(), "BIGINT": pa.int64(), "DOUBLE": pa.float64(),
                                   "VARCHAR": pa.string()}[typed[n]])
    con.register("incoming", pa.table(data))
    con.execute("CREATE TABLE raw_t.contact (" + ", ".join(f'"{n}" {k}' for n, k in typed.items()) + ", "
                "_dlt_load_id VARCHAR, _dlt_id VARCHAR)")
    con.execute("INSERT INTO raw_t.contact SELECT " + ", ".join(f'CAST("{n}" AS {typed[n]})' for n in names)
                + ", '1700000000.0', CAST(uuid() AS VARCHAR) FROM incoming")
    return con


def _unique_ids(raws: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Copies of ``raws`` numbered 1, 2, …: whole numbers, or their texts when the first record's id is text
    (a raw table's id column has one type)."""
    kind = str if isinstance(raws[0].get(key), str) else int
    return [{**copy.deepcopy(raw), key: kind(n)} for n, raw in enumerate(raws, 1)]


def compare(m: Mapper, con: Any, key: str) -> tuple[int, int]:
    """Both paths over the table ``raw_t.contact``: (records the columnar path took, records it left)."""
    took, left = compared(m, con, key)
    return len(took), len(left)


def compared(m: Mapper, con: Any, key: str) -> tuple[set[str], set[str]]:
    """Both paths over the table ``raw_t.contact``: the ids of the records the columnar path took, and left."""
    shape, pages = _raw_values(con, "raw_t", "contact", 0, key=key)
    raws = [r for page in pages for r in shape.records(page)]
    wanted = {str(raw.get(key)): result for raw, result in zip(raws, m.pull_batch(raws), strict=True)}
    table = RawTable.read(con, "raw_t", "contact", key)
    app = ColumnarApply(m, table, entity="contact", connection="t", run_id="r", side="s",
                        cols=columns(canonical()["contact"]), forget=False)
    took, left = set(), set()
    for bound in app.slices(con):
        app.assemble(con, bound)
        rows = con.execute(f"SELECT remote_id, ok, record, sorted FROM {ASSEMBLED}").fetchall()
        for rid, ok, record, ordered in rows:
            result = wanted[rid]
            if not ok:
                left.add(rid)
                continue
            took.add(rid)
            assert not isinstance(result, Rejection), (rid, result, record)
            assert record == dumps(result.canonical), rid
            assert ordered == dump_bytes(result.canonical, sort_keys=True).decode(), rid
    app.done(con)
    return took, left


def _storable(raw: dict[str, Any]) -> bool:
    """Text that is not valid Unicode, or a number JSON cannot hold (NaN beside an integer beyond 64 bits, which
    the standard library then writes), is never in a raw table: crmsync's reader keeps it in an envelope."""
    try:
        loads(dumps(raw).encode())
        return True
    except (UnicodeEncodeError, ValueError):
        return False


def _mapping(crm: str, url: str | None) -> Mapper:
    return _mapper(crm, "contact", url)


@pytest.mark.parametrize(("crm", "entity"), PURE)
def test_golden_records_are_taken_and_equal(crm: str, entity: str, hubspot: Any) -> None:
    url = hubspot.url if crm == "hubspot" else None
    key = _key(crm)
    raws = _unique_ids(_bases(crm, entity, url) * 3, key)
    took, left = compare(_mapping(crm, url), _table(raws, key), key)
    assert took == len(raws) and left == 0  # clean records: every one by set statements


@pytest.mark.parametrize(("crm", "entity"), PURE)
def test_records_made_bad_at_every_place_are_never_taken_when_set_aside(crm: str, entity: str, hubspot: Any) -> None:
    url = hubspot.url if crm == "hubspot" else None
    key = _key(crm)
    raws, turn = [], 0
    for base in _bases(crm, entity, url):
        for path in _paths(base)[1:]:
            if path[0] == key:
                continue
            raw = copy.deepcopy(base)
            _put(raw, path, STORABLE[turn % len(STORABLE)])
            raws.append(raw)
            turn += 1
    took, left = compare(_mapping(crm, url), _table(_unique_ids(raws, key), key), key)
    assert took and left  # some taken, some left to the record path (which sets them aside)


@pytest.mark.parametrize(("crm", "entity"), PURE)
@_randomized(25)
@given(data=st.data())
def test_randomized_raw_records(crm: str, entity: str, hubspot: Any, data: Any) -> None:
    url = hubspot.url if crm == "hubspot" else None
    key = _key(crm)
    m = _mapping(crm, url)
    raws = [data.draw(raw_records(m, _bases(crm, entity, url), False)) for _ in range(12)]
    raws = [r for r in raws if not isinstance(r.get(key), dict | list) and _storable(r)]
    if not raws:
        return
    compare(m, _table(_unique_ids(raws, key), key), key)


def test_odd_shapes_go_to_the_record_path() -> None:
    """Values the store would read otherwise than Python: each record holding one is left, the rest taken."""
    m = _mapping("amocrm", None)
    base = _bases("amocrm", "contact", None)[0]
    field_id = base["custom_fields_values"][0]["field_id"]
    odd = [
        {"custom_fields_values": [{**base["custom_fields_values"][0], "field_id": float(field_id)}]},  # 1.0 == 1
        {"custom_fields_values": [{**base["custom_fields_values"][0], "field_id": True}]},
        {"custom_fields_values": ["junk", *base["custom_fields_values"]]},  # the layout raises on it
        {"custom_fields_values": [None]},
        {"custom_fields_values": {"field_id": field_id}},  # not a list
        {"custom_fields_values": "text"},
        {ENVELOPED: True},
    ]
    fine = [
        {"custom_fields_values": []},
        {"custom_fields_values": None},
        {"custom_fields_values": [{"field_id": 1}, *base["custom_fields_values"]]},  # another field's entry
        {"custom_fields_values": [*base["custom_fields_values"], *base["custom_fields_values"]]},  # twice: first
        {"custom_fields_values": [{**e, "field_id": str(e["field_id"])} for e in base["custom_fields_values"]]},
        {"_embedded": None}, {"_embedded": {"companies": None}}, {"_embedded": []},
        {"name": None}, {ENVELOPED: False},
    ]
    raws = _unique_ids([{**copy.deepcopy(base), **change} for change in odd + fine], "id")
    for raw in raws:
        raw.setdefault(ENVELOPED, False)
    took, left = compare(m, _table(raws, "id", {ENVELOPED: "BOOLEAN"}), "id")
    assert left == len(odd) and took == len(fine)


def test_a_variant_value_and_a_negative_zero_go_to_the_record_path() -> None:
    m = _mapping("amocrm", None)
    raws = _unique_ids(_bases("amocrm", "contact", None) * 2, "id")
    con = _table(raws, "id")
    con.execute(f'ALTER TABLE raw_t.contact ADD COLUMN "name{VARIANT}double" DOUBLE')
    con.execute(f'UPDATE raw_t.contact SET "name{VARIANT}double" = 1.5 WHERE id = 1')  # dlt's column beside "name"
    # a column of doubles the mapping reads as text: "0.0" and "-0.0" are two names, which DISTINCT takes for one
    con.execute("ALTER TABLE raw_t.contact ALTER first_name TYPE DOUBLE USING CAST(id AS DOUBLE) / 2")
    con.execute("UPDATE raw_t.contact SET first_name = CAST('-0.0' AS DOUBLE) WHERE id = 2")
    con.execute("UPDATE raw_t.contact SET first_name = 0.0 WHERE id IN (3, 4)")
    took, left = compared(m, con, "id")
    assert left == {"1", "2"} and len(took) == len(raws) - 2


def test_paths_through_lists_and_objects_read_as_get_path_reads_them() -> None:
    """A field read through a list's item by number, a key that is a number, several paths at once."""
    from crmsync.mapping.columnar import path_input, source_input

    con = duckdb.connect()
    con.execute("CREATE SCHEMA raw_t; CREATE TABLE raw_t.contact (id BIGINT, doc JSON, n BIGINT)")
    docs = ['{"a": [{"b": 1}, {"b": 2}]}', '{"a": {"0": {"b": "key"}, "1": 5}}', '{"a": [{"c": 1}]}', '{"a": null}',
            '[1, 2]', '{"a": [[{"b": "deep"}]]}', None, '{"a": {"b": {"c": [null]}}}']
    for i, doc in enumerate(docs):
        con.execute("INSERT INTO raw_t.contact VALUES (?, ?, ?)", [i, doc, i * 10 if i % 2 else None])
    table = RawTable.read(con, "raw_t", "contact", "id")
    from crmsync.mapping.engine import _get
    from crmsync.mapping.paths import MISSING

    shape, pages = _raw_values(con, "raw_t", "contact", 0, key="id")
    raws = [r for page in pages for r in shape.records(page)]
    for source in ["doc.a.0.b", "doc.a.1", "doc.a.0.0.b", "doc.a.b.c.0", "doc.0", "doc", "n", "n.x", "gone", "doc.a",
                   ("doc.a.0.b", "n"), ("gone", "doc.x"), ("doc.a.1", "gone")]:
        inp = source_input(table, source) if isinstance(source, tuple) else path_input(table, source)
        got = [v for (v,) in con.execute(f"SELECT {inp.sql} FROM raw_t.contact r ORDER BY id").fetchall()] \
            if not inp.absent else [None] * len(raws)
        for raw, value in zip(raws, got, strict=True):
            want = _get(raw, source)
            if inp.absent or inp.json and value is None:
                assert want is MISSING, (source, raw, value)
            else:
                assert (loads(value) if inp.json else value) == want and want is not MISSING, (source, raw, value)


def test_a_mapping_with_links_is_not_compiled() -> None:
    m = _mapping("amocrm", None)
    table = RawTable.read(_table(_unique_ids(_bases("amocrm", "contact", None), "id"), "id"), "raw_t", "contact", "id")
    compile_pull(m, table)  # contacts: pure
    deal = _mapper("amocrm", "deal", None)
    with pytest.raises(NotColumnar, match="reads more than the value"):
        compile_pull(deal, table)
