"""A page of records as an Arrow table, so dlt loads it without its per-row normaliser.

dlt's per-record extract, normalise and load cost ~0.15–0.22 ms a record (benchmarks/RESULTS.md), more
than fetching the page. An Arrow table is written to Parquet by dlt and copied into the raw table by
DuckDB in bulk; dlt still keeps the cursors (resource state), the table's schema and its evolution (a
new key is a new column).

The raw tables must hold exactly what dlt's own normaliser would have put there, as the mapping,
``crmsync remap`` and the probe read them back: a scalar column typed by its values (text, bigint,
double, bool), every list or object as JSON (``max_table_nesting=0``), a key that is null everywhere
not yet a column. Where dlt's normaliser would do something a column cannot (a value of another type
than the column's: dlt puts it in a variant column beside it; an envelope of a value the raw table
cannot keep, :mod:`.storable`), :func:`arrow_page` declines and the page goes to dlt as records, the
way it always did. So a table only ever holds what the record path would have written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from operator import itemgetter
from types import NoneType
from typing import Any

from crmsync.jsontext import dump_bytes
from crmsync.mapping.raw_values import ENVELOPED

# Python type of a value -> dlt's data type for it (dlt's own inference for these types).
_DATA_TYPE = {str: "text", int: "bigint", float: "double", bool: "bool", dict: "json", list: "json"}


def arrow_page(rows: list[dict[str, Any]], known: Mapping[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """``rows`` as (a pyarrow table, dlt column hints for its JSON columns), or None when one column's
    values would not all land in one typed column of the raw table (``known``: the table's columns in
    dlt's schema so far) — those rows go to dlt as records instead."""
    import pyarrow as pa

    arrow_types = {"text": pa.string(), "bigint": pa.int64(), "double": pa.float64(), "bool": pa.bool_()}
    arrays, fields, hints = [], [], {}
    for name, values in _columns(rows):
        kinds = set(map(type, values))
        kinds.discard(NoneType)
        if not kinds:
            continue  # dlt makes no column of a key that is null everywhere (it has no type)
        types = {_DATA_TYPE.get(kind) for kind in kinds}
        if len(types) != 1 or None in types:
            return None  # mixed (dlt: a variant column) or a type dlt would coerce its own way
        data_type = types.pop()
        column = known.get(name) or {}
        if column.get("data_type", data_type) != data_type:
            return None  # the column holds another type already: dlt's normaliser decides
        try:
            if data_type == "json":
                # UTF-8 bytes as orjson writes them, made text by Arrow in one pass (no str per value)
                array = pa.array([None if v is None else dump_bytes(v) for v in values], type=pa.binary())
                array = array.cast(pa.string())
                hints[name] = {"data_type": "json"}
            else:
                array = pa.array(values, type=arrow_types[data_type])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            return None  # an integer past 64 bits (normally enveloped first)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), hints


def _columns(rows: list[dict[str, Any]]) -> list[tuple[str, Sequence[Any]]]:
    """(key, its value in each row, None where a row lacks it), keys in the order they first appear."""
    names = list(rows[0])
    # The common page: every row has the first row's keys and no others; read them all in one pass in C.
    if len(names) > 1 and sum(map(len, rows)) == len(names) * len(rows):
        try:
            return list(zip(names, zip(*map(itemgetter(*names), rows), strict=True), strict=True))
        except KeyError:
            pass  # a row lacks one of them (and has another instead)
    seen: dict[str, None] = {}
    for row in rows:
        for name in row:
            seen.setdefault(name, None)
    return [(name, [row.get(name) for row in rows]) for name in seen]


BATCH_ROWS = 5_000  # records per Arrow table: per-table costs (dlt's hints, a Parquet row group) amortised


class RoundBatches:
    """One round's fresh records of one table, handed to dlt as Arrow tables of up to ``BATCH_ROWS``.

    Once a batch has gone as records (:func:`arrow_page` declined it), the rest of the round goes as
    records too: dlt types records only when it normalises them, after the round's Arrow tables have
    typed their columns, and a column must not be typed by a later batch before an earlier one."""

    def __init__(self, table: str, dlt: Any, rows: int = BATCH_ROWS) -> None:
        self.table, self.dlt, self.rows = table, dlt, rows
        self.pending: list[dict[str, Any]] = []
        self.typed: dict[str, Any] = {}  # columns this round's tables typed (dlt's schema may not show them yet)
        self.as_records = False

    def add(self, rows: list[dict[str, Any]]) -> Iterator[Any]:
        if not rows:
            return
        if self.as_records or any(ENVELOPED in row for row in rows):
            yield from self.flush()
            self.as_records = True
            yield rows
            return
        self.pending += rows
        if len(self.pending) >= self.rows:
            yield from self.flush()

    def flush(self) -> Iterator[Any]:
        rows, self.pending = self.pending, []
        if not rows:
            return
        made = None if self.as_records else arrow_page(rows, {**self._known(), **self.typed})
        if made is None:
            self.as_records = True
            yield rows
            return
        table, hints = made
        for field in table.schema:
            self.typed[field.name] = {"data_type": "json" if field.name in hints else _DLT_TYPE[str(field.type)]}
        yield self.dlt.mark.with_hints(table, self.dlt.mark.make_hints(columns=hints)) if hints else table

    def _known(self) -> dict[str, Any]:
        schema = self.dlt.current.source_schema()
        return schema.get_table_columns(self.table) if self.table in schema.tables else {}


_DLT_TYPE = {"string": "text", "int64": "bigint", "double": "double", "bool": "bool"}
