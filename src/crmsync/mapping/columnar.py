"""A mapping run over a raw table in the store: each field's raw value taken by SQL, each distinct one mapped once.

:meth:`Mapper.pull_batch` maps records that Python made from raw rows (a dict a record, its JSON parsed). For a
table of raw rows in a DuckDB store, :class:`ColumnarPull` does the same work in the other order (issue 18): the
store takes each pulled field's raw value out of every row of a slice as a column (SQL compiled here from the
field's path or the connector's custom field layout); Python maps each *distinct* value of a column once, through
the field's own transforms (:func:`crmsync.mapping.engine.through_chain`, what both record paths use) and the
canonical column check (:class:`crmsync.mapping.columncheck.ColumnCheck`); the store joins the results back and
makes each record's JSON text — the text ``orjson`` writes for the record :meth:`Mapper.pull` returns, in the
order it has its keys, and again with its keys sorted for the base hash (:func:`crmsync.canonical.digest.record_hash`).

Only what is certain to map exactly as the record path maps it goes this way. The record path keeps:

* a whole mapping it cannot compile (:func:`compile_pull` says why): a transform that is not
  :attr:`~crmsync.mapping.Transform.pure` (links mint ids, a stage reads its pipeline from the record), a layout
  of a plugin, a path this module does not read, a schema :class:`ColumnCheck` checks only record by record;
* a record of an odd shape (``odd``): a value in one of dlt's variant columns, an envelope (:mod:`.raw_values`), a
  custom field list that is not a list of objects, an entry whose id Python would compare as equal across types
  (``1.0 == 1``), a ``-0.0`` (SQL's DISTINCT takes it for ``0.0``);
* a record with a value its field cannot take, one the column check flags, or a required field missing: the
  record check then says which field and why, exactly as a record mapped alone.

A record taken here maps to what the record path gives it: ``tests/unit/mapping/test_columnar.py`` holds the two
equal on the shipped mappings' golden records, on odd shapes, and on records set aside for one bad field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from crmsync.read.columns import NATIVE_TYPES, is_engine_column

from .context import Context
from .errors import Rejection
from .layouts import FlatKeysLayout, NoLayout, ValuesArrayLayout

if TYPE_CHECKING:
    from .engine import Mapper, _Bound

_ID_TYPES = frozenset({"BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT",
                       "VARCHAR"})  # a record id whose text is str() of its Python value
_MAX_DIGIT_PARTS = 3  # list items by number in one path (each doubles the SQL that reads it)


class NotColumnar(Exception):
    """Why a mapping, or a raw table, is mapped record by record (the message says)."""


@dataclass(frozen=True)
class Input:
    """How one field's raw value is taken from a raw row: ``sql`` over the row's columns (``r."name"``).

    ``json``: the value is JSON text, parsed in Python once a distinct text, and SQL NULL means the record does
    not carry the field at all (not even null: the record path leaves such a field out); else the value is the
    column's own (NULL is None). ``absent``: no record carries it (the field is always left out)."""

    sql: str
    json: bool
    absent: bool = False
    doubles: tuple[str, ...] = ()  # DOUBLE columns read: a -0.0 makes the record odd (DISTINCT takes it for 0.0)


@dataclass(frozen=True)
class RawTable:
    """A raw table as the record path reads it (:func:`crmsync.pull._raw_values`): its columns' types (dlt's
    own columns left out), its variant columns, and the column of the record id."""

    name: str  # quoted, schema-qualified
    types: dict[str, str]
    variants: tuple[str, ...]
    key: str

    @classmethod
    def read(cls, con: Any, dataset: str, entity: str, key: str) -> RawTable:
        from crmsync.read.storable import variant_columns

        typed = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = ? "
                            "AND table_name = ? ORDER BY ordinal_position", [dataset, entity]).fetchall()
        kept = {name: kind for name, kind in typed if not is_engine_column(name)}
        variants = tuple(v for v, _ in variant_columns(list(kept)))
        if key not in kept or kept[key] not in _ID_TYPES:
            raise NotColumnar(f"the record id {key!r} is not a column of whole numbers or text")
        return cls(f'"{dataset}"."{entity}"', kept, variants, key)

    def value(self, name: str) -> Input:
        """A column's value as the record path's dict holds it under ``name``."""
        if name not in self.types or name in self.variants:  # a variant column is folded away
            return Input("NULL", json=True, absent=True)
        kind = self.types[name]
        if kind in NATIVE_TYPES:
            return Input(f'r."{name}"', json=False, doubles=(f'r."{name}"',) if kind == "DOUBLE" else ())
        return Input(f"coalesce({self.json_text(name)}, 'null')", json=True)  # NULL: None, never missing

    def json_text(self, name: str) -> str:
        """SQL: the column's value as the JSON text the record path parses (NULL when the column is)."""
        return f'CAST(r."{name}" AS VARCHAR)' if self.types[name] == "JSON" else f'CAST(to_json(r."{name}") AS VARCHAR)'


def _json_path_part(part: str) -> str:
    if '"' in part or "\\" in part:
        raise NotColumnar(f"the path part {part!r} holds a quote or a backslash")
    return f'."{part}"'


def path_input(table: RawTable, path: str) -> Input:
    """SQL reading ``path`` (:func:`crmsync.mapping.paths.get_path`: dict keys, a list's item by its number)."""
    head, *rest = path.split(".")
    whole = table.value(head)
    if not rest or whole.absent:
        return whole
    if not whole.json:  # a number, text or flag has no keys: the record path finds nothing there
        return Input("NULL", json=True, absent=True)
    expr = table.json_text(head)  # NULL (a null column) holds nothing: missing
    keys = ""
    digits = 0
    for part in rest:
        if part.isdigit():
            if not part.isascii():
                raise NotColumnar(f"the path part {part!r} is not a plain number")
            digits += 1
            if digits > _MAX_DIGIT_PARTS:
                raise NotColumnar(f"the path {path!r} has more than {_MAX_DIGIT_PARTS} parts that are numbers")
            if keys:
                expr, keys = f"json_extract({expr}, '${keys}')", ""
            # a number is a key of an object, or the item of a list (when there is one at that place)
            expr = (f"(CASE json_type({expr}) WHEN 'OBJECT' THEN json_extract({expr}, '$.\"{part}\"') "
                    f"WHEN 'ARRAY' THEN json_extract({expr}, '$[{int(part)}]') END)")
        else:
            keys += _json_path_part(part)
    if keys:
        expr = f"json_extract({expr}, '${keys}')"
    return Input(f"CAST({expr} AS VARCHAR)", json=True)


def _to_json(inp: Input) -> str:
    """SQL: an input's value as JSON text (NULL stays NULL: missing)."""
    return inp.sql if inp.json else f"CAST(to_json({inp.sql}) AS VARCHAR)"


def source_input(table: RawTable, source: Any) -> Input:
    """A field's raw value from its source: one path, or several (a list of their values, None for each the
    record lacks; missing when it has none of them)."""
    if not isinstance(source, tuple):
        return path_input(table, str(source))
    parts = [path_input(table, p) for p in source]
    if all(p.absent for p in parts):
        return Input("NULL", json=True, absent=True)
    items = [f"coalesce({_to_json(p)}, 'null')" for p in parts if not p.absent]
    # a column's own value is never missing (NULL is None); a path's is when the record lacks it
    present = "true" if any(not p.json for p in parts) else \
        " OR ".join(f"{p.sql} IS NOT NULL" for p in parts if not p.absent)
    texts = iter(items)
    listed = " || ',' || ".join("'null'" if p.absent else next(texts) for p in parts)
    return Input(f"CASE WHEN {present} THEN '[' || {listed} || ']' END", json=True,
                 doubles=tuple(d for p in parts for d in p.doubles))


ENTRIES = "crmsync_entries"  # a record's custom field list parsed once (values_array), a column of the slice's rows


class CustomInputs:
    """SQL reading custom field values through the connector's layout, and what makes a record odd for it.

    ``values_array``: the record's list is parsed once into entries of three JSON members (id, code, value;
    :attr:`parsed` is the SQL that makes the column :data:`ENTRIES`), and each field takes the value of the
    first entry whose id (or code) is its own, compared as JSON text. A list the layout would read otherwise is
    odd: not a list (the layout raises), an entry that is not an object (an object with none of the three keys
    is taken for one), an id that is a fraction or a flag (Python finds ``1.0`` and ``True`` equal to ``1``)."""

    def __init__(self, table: RawTable, layout: Any) -> None:
        self.table, self.layout = table, layout
        self.parsed = ""  # SQL: the ENTRIES column (values_array)
        self.odd: list[str] = []
        kind = type(layout)
        if kind is ValuesArrayLayout:
            key = layout.key
            if key not in table.types or key in table.variants:
                return  # no list at all: every custom value is None
            if table.types[key] in NATIVE_TYPES:
                raise NotColumnar(f"the custom field list {key!r} is a column of {table.types[key]}, not JSON")
            # the members read: the id, the value, and the code when the layout names one
            self.keys = [layout.id_key, layout.values_key, *([layout.code_key] if layout.code_key else [])]
            for name in self.keys:
                _json_path_part(name)
            if len(set(self.keys)) < len(self.keys):
                raise NotColumnar("the custom field layout names one key twice")
            text = table.json_text(key)
            shape = "[{" + ", ".join(f'"{n}": "JSON"' for n in self.keys) + "}]"
            self.parsed = f"from_json({text}, '{shape}')"
            # JSON text, trimmed: an array starts with [, null with n; NULL (no value) reads as no list too
            self.odd.append(f"coalesce(ltrim({text}, ' \t\n\r')[1] NOT IN ('[', 'n'), false)")
            none = " AND ".join(f'e."{n}" IS NULL' for n in self.keys)
            self.odd.append(f'coalesce(len([1 FOR e IN r."{ENTRIES}" IF e IS NULL OR ({none})]) > 0, false)')
            self.odd.append(f"coalesce(len([1 FOR e IN r.\"{ENTRIES}\" IF json_type(e.\"{layout.id_key}\") IN "
                            "('DOUBLE', 'BOOLEAN')]) > 0, false)")
        elif kind not in (FlatKeysLayout, NoLayout):
            raise NotColumnar(f"the custom field layout {kind.__name__} is a plugin's: read record by record")

    def input(self, field: Any) -> Input:
        layout = self.layout
        if type(layout) is FlatKeysLayout:
            if not isinstance(field.id, str):
                raise NotColumnar(f"custom field {field.name!r} has an id that is not text")
            if layout.under is None:
                inp = self.table.value(field.id)
                return Input("'null'", json=True) if inp.absent else inp
            holder = self.table.value(layout.under)
            if holder.absent or not holder.json:
                return Input("'null'", json=True)
            return Input(f"coalesce(CAST(json_extract({holder.sql}, '${_json_path_part(field.id)}') AS VARCHAR), "
                         "'null')", json=True)
        if type(layout) is NoLayout:
            raise NotColumnar("the connector declares no custom field layout")
        if not self.parsed:
            return Input("'null'", json=True)
        # list comprehensions, not lambdas: DuckDB 2.0 refuses `x -> …` and 1.2 does not know `lambda x: …`
        value = f'e."{self.keys[1]}"'
        return Input(f'coalesce(CAST([{value} FOR e IN r."{ENTRIES}" IF {self._match(field)}][1] AS VARCHAR), '
                     "'null')", json=True)

    def _match(self, field: Any) -> str:
        """SQL: entry ``e`` is the field's (``entry.get(id_key) == field.id``, or its code), by JSON text."""
        layout = self.layout
        i = f'CAST(e."{layout.id_key}" AS VARCHAR)'
        if type(field.id) is int:
            same = f"{i} = '{field.id}'"
        elif type(field.id) is str:
            same = f"{i} = CAST(to_json({_text(field.id)}) AS VARCHAR)"
        else:
            raise NotColumnar(f"custom field {field.name!r} has an id of type {type(field.id).__name__}")
        if layout.code_key and field.code:
            if not isinstance(field.code, str):
                raise NotColumnar(f"custom field {field.name!r} has a code that is not text")
            same += f" OR CAST(e.\"{layout.code_key}\" AS VARCHAR) = CAST(to_json({_text(field.code)}) AS VARCHAR)"
        return f"({same})"


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class Compiled:
    """A mapping compiled for a raw table: one :class:`Input` a pulled field, the SQL of a record's oddness, the
    column check."""

    bounds: list[_Bound]
    inputs: list[Input]
    odd: str
    parsed: str  # SQL of the ENTRIES column the inputs read ("": none)
    columns: Any  # the canonical check by column (crmsync.mapping.columncheck.ColumnCheck), None without a schema


def compile_pull(mapper: Mapper, table: RawTable) -> Compiled:
    """The SQL that takes each pulled field's raw value; :class:`NotColumnar` says why a mapping cannot."""
    from .columncheck import ColumnCheck

    pulls = [b for b in mapper.fields if b.spec.pulls]
    names = [b.name for b in pulls]
    if len(set(names)) < len(names):
        raise NotColumnar("two fields pull into the same canonical field")
    for b in pulls:
        impure = [t for t in b.chain if not getattr(t, "pure", False)]
        if impure:
            raise NotColumnar(f"field {b.name!r}: transform {impure[0].spec.get('name') or type(impure[0]).__name__} "
                              "reads more than the value (the record, links or earlier calls)")
        if not b.name.isascii() or not b.name.replace(".", "_").replace("-", "_").isidentifier():
            raise NotColumnar(f"field name {b.name!r} is not a plain name")
    if "custom" in names and any(n.startswith("custom.") for n in names):
        raise NotColumnar("a field named custom beside custom fields")
    check = mapper.check
    columns = None
    if check is not None:
        columns = ColumnCheck(check.schema, names, check._doubles, check._bounded)
        if columns.everything:
            raise NotColumnar("the canonical schema has a rule checked record by record")
        top = {n for n in names if not n.startswith("custom.")} | ({"custom"} if any(
            n.startswith("custom.") for n in names) else set())
        if not columns.required <= top:
            raise NotColumnar("a required canonical field is not pulled: every record is checked alone")
    custom = CustomInputs(table, mapper.layout)
    inputs = [custom.input(b.custom) if b.custom is not None else source_input(table, b.spec.source) for b in pulls]
    odd = [f'coalesce(r."{v}" IS NOT NULL, false)' for v in table.variants]
    from .raw_values import ENVELOPED

    if ENVELOPED in table.types:
        if table.types[ENVELOPED] != "BOOLEAN":
            raise NotColumnar(f"the column {ENVELOPED} is not a flag")
        odd.append(f'coalesce(r."{ENVELOPED}", false)')
    odd += custom.odd
    odd += [f"coalesce({d} = 0 AND signbit({d}), false)" for d in dict.fromkeys(d for i in inputs for d in i.doubles)]
    return Compiled(pulls, inputs, " OR ".join(odd) if odd else "false", custom.parsed, columns)


@dataclass
class Mapped:
    """One field's distinct raw values of a slice, mapped: ``keys`` (as the slice holds them), the value's JSON
    text (None: the record cannot take it, or the column check flags it), the text with keys sorted where it
    differs, the value as text where it is a time (``clock``: as :func:`crmsync.canonical.apply_batch._clock`), and
    as itself where it is text (``plain``)."""

    keys: list[Any]
    texts: list[str | None]
    sorted_texts: list[str | None]
    clocks: list[str | None] | None
    plain: list[str | None]  # a text value as itself (what a canonical column of text is cast from), else None
    others: bool  # a value that is neither text nor null was mapped (its column is cast from the record's JSON)


def map_values(mapper: Mapper, bound: _Bound, inp: Input, keys: Sequence[Any], columns: Any, *,
               clock: bool = False) -> Mapped:
    """Each distinct raw value ``keys`` of one field mapped once, as the record path maps it."""
    from crmsync.jsontext import dump_bytes, dumps, loads

    from .engine import through_chain

    values: list[Any] = []
    texts: list[str | None] = []
    ctx = Context(mapper.catalog, mapper.resolver, {}, "pull")
    ctx.field, ctx.custom = bound.name, bound.custom
    for key in keys:
        raw = loads(key) if inp.json else key
        try:
            value = through_chain(raw, bound.chain, ctx)
        except Rejection:
            values.append(None)
            texts.append(None)
            continue
        values.append(value)
        texts.append(dumps(value))
    if columns is not None:
        ok = [i for i, t in enumerate(texts) if t is not None]
        for j in columns.flags(bound.name, [values[i] for i in ok]):
            texts[ok[j]] = None
    sorted_texts: list[str | None] = []
    for value, text in zip(values, texts, strict=True):
        if text is not None and type(value) in (dict, list) and "{" in text:
            ordered = dump_bytes(value, sort_keys=True).decode()
            sorted_texts.append(None if ordered == text else ordered)
        else:
            sorted_texts.append(None)
    clocks = None
    if clock:
        clocks = [None if t is None or v is None else v if type(v) is str else t
                  for v, t in zip(values, texts, strict=True)]
    plain = [v if t is not None and type(v) is str else None for v, t in zip(values, texts, strict=True)]
    others = any(t is not None and v is not None and type(v) is not str for v, t in zip(values, texts, strict=True))
    return Mapped(list(keys), texts, sorted_texts, clocks, plain, others)
