"""Mapping a chunk of raw records field by field (:meth:`Mapper.pull_batch`, issue 18).

The result is exactly :meth:`Mapper.pull_each`'s, record for record: the same canonical values and
notes, the same record set aside with the same field and reason (a record's first bad field in the
mapping's order, then the canonical check). What changes is the order of the work: one field across
the whole chunk, then the next, so that

* custom values are taken from each record's custom field list in one pass for all fields, not a
  scan per field;
* a chain of pure transforms (:attr:`Transform.pure`) runs once per distinct value in the chunk
  (an owner id, an option, a date, a name that repeats): the value, its notes or its reason are
  reused for every record holding an equal value (equal and of the same type: ``1``, ``1.0`` and
  ``True`` are different values), and only immutable results are shared between records;
* the canonical check runs per column (:mod:`.columncheck`), and only the records it flags go
  through the record check.

Transforms that are not pure (links through the resolver, a stage that reads its pipeline from the
record, any plugin transform) run once per record, as in :meth:`Mapper.pull_result`. The cache lives
for one chunk: memory is bounded by the chunk, and results never depend on what came before.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .context import Context
from .errors import Rejection
from .layouts import ValuesArrayLayout
from .paths import MISSING, get_path
from .raw_values import ENVELOPED, Unreadable, deep_text_problem, unwrap
from .spec import CustomFieldRef

if TYPE_CHECKING:
    from .columncheck import ColumnCheck
    from .engine import Mapper, Pulled, _Bound

_IMMUTABLE = (str, int, float, bool, type(None), Decimal)
_SCALARS = frozenset({int, bool, type(None)})
_FLAT = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_MISS = object()


class _Failed:
    """A cached rejection (a fresh Rejection is made for every record that holds the value)."""

    __slots__ = ("reason", "field", "direction")

    def __init__(self, reason: str, field: str, direction: str) -> None:
        self.reason, self.field, self.direction = reason, field, direction


class _Unreadable:
    """A custom value the layout could not read from its record: the record is set aside for it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def _read_odd(layout: Any, raw: dict[str, Any], custom: Any) -> Any:
    from .engine import _SURPRISES

    try:
        return layout.read(raw, custom)
    except _SURPRISES as exc:
        return _Unreadable(exc)


class _Noted:
    """A cached value that came with notes (a phone kept as typed): each record gets the notes too."""

    __slots__ = ("value", "notes")

    def __init__(self, value: Any, notes: list[str]) -> None:
        self.value, self.notes = value, notes


def _key(value: Any) -> Any:
    """A dict key equal only for values of the same types and contents; None when there is none.

    Texts, numbers, null, and the shapes CRM values come in (a custom field's list of flat objects);
    anything else is mapped without the cache. Types are part of the key: ``1``, ``1.0`` and ``True``
    are equal in Python but not as CRM values."""
    kind = type(value)
    if kind is str:
        return value
    if kind in _SCALARS:
        return (kind, value)
    if kind is float:  # by its text: -0.0 == 0.0, yet str() tells them apart
        return (float, repr(value))
    if kind is dict:
        return _flat_key(value)
    if kind is not list:
        return None
    parts: list[Any] = [list]
    for item in value:
        part = item if type(item) is str else (type(item), item) if type(item) in _SCALARS else (
            _flat_key(item) if type(item) is dict else None)
        if part is None:
            return None
        parts.append(part)
    return tuple(parts)


def _flat_key(value: dict[Any, Any]) -> Any:
    types = tuple(map(type, value.values()))
    if not _FLAT.issuperset(types) or not _STR.issuperset(map(type, value)):
        return None
    return (dict, tuple(value.items()), types)


class BatchPuller:
    """One mapper's column-wise pull; built once per mapper, on the first batch."""

    def __init__(self, mapper: Mapper) -> None:
        from .columncheck import ColumnCheck

        self.mapper = mapper
        self.fields = mapper._pulls
        # Which fields map through the per-batch cache: pure chains, until one gives a value records
        # cannot share (a list, an object).
        self.cached = [all(getattr(t, "pure", False) for t in b.chain) for b in self.fields]
        layout = mapper.layout
        self.index_layout = layout if type(layout) is ValuesArrayLayout else None
        self.columns: ColumnCheck | None = None
        if mapper.check is not None and mapper.check.schema is not None:
            check = mapper.check
            self.columns = ColumnCheck(check.schema, [b.name for b in self.fields], check._doubles, check._bounded)

    def run(self, raws: Sequence[dict[str, Any]]) -> list[Pulled | Rejection]:
        from .engine import Pulled

        mapper = self.mapper
        n = len(raws)
        outs: list[dict[str, Any]] = [{} for _ in range(n)]
        ctxs = [Context(mapper.catalog, mapper.resolver, raw, "pull") for raw in raws]
        failed: list[Rejection | None] = [None] * n
        enveloped = {i for i, raw in enumerate(raws) if raw.get(ENVELOPED)}
        flagged: set[int] = set()
        custom_columns = self._custom_columns(raws) if self.index_layout is not None and any(
            b.custom is not None for b in self.fields) else None
        alive = list(range(n))
        for f, bound in enumerate(self.fields):
            values = self._read(f, bound, raws, alive, custom_columns)
            placed_at, placed = self._map(f, bound, alive, values, ctxs, enveloped, failed, outs)
            if self.columns is not None and placed:
                flagged.update(placed_at[j] for j in self.columns.flags(bound.name, placed))
            if len(placed_at) < len(alive):  # missing values or rejected records: drop the rejected
                alive = [i for i in alive if failed[i] is None]
        results: list[Pulled | Rejection] = []
        check = mapper.check
        for i in range(n):
            if failed[i] is not None:
                results.append(failed[i])  # type: ignore[arg-type]
                continue
            out = outs[i]
            if check is not None and (self.columns is None or i in flagged or self.columns.missing_required(out)):
                try:
                    check(out, "pull")
                except Rejection as rejection:
                    results.append(rejection)
                    continue
            results.append(Pulled(out, ctxs[i].notes))
        return results

    # reading -------------------------------------------------------------------------------------
    def _custom_columns(self, raws: Sequence[dict[str, Any]]) -> tuple[dict[int, list[Any]], set[int]]:
        """Every custom field the mapping reads, for every record, in one pass over each record's
        custom field list: ``{field position: column}``, and the records whose list is not a list of
        objects (the layout reads those itself, field by field, and says why it cannot)."""
        layout = self.index_layout
        assert layout is not None
        key, id_key, code_key, values_key = layout.key, layout.id_key, layout.code_key, layout.values_key
        by_id: dict[Any, list[int]] = {}
        by_code: dict[Any, list[int]] = {}
        for f, bound in enumerate(self.fields):
            if bound.custom is not None:
                by_id.setdefault(bound.custom.id, []).append(f)
                if code_key and bound.custom.code:
                    by_code.setdefault(bound.custom.code, []).append(f)
        n = len(raws)
        columns: dict[int, list[Any]] = {f: [None] * n for fs in (*by_id.values(), *by_code.values()) for f in fs}
        odd: set[int] = set()
        for r, raw in enumerate(raws):
            entries = raw.get(key) or ()
            if type(entries) is not list:
                if entries:
                    odd.add(r)
                continue
            found: set[int] = set()  # the first entry naming a field is its value, as the layout reads it
            try:
                for entry in entries:
                    fields = by_id.get(entry.get(id_key))
                    if code_key and by_code:
                        fields = (fields or []) + by_code.get(entry.get(code_key), [])
                    for f in fields or ():
                        if f not in found:
                            found.add(f)
                            columns[f][r] = entry.get(values_key)
            except (AttributeError, TypeError):
                odd.add(r)
        return columns, odd

    def _read(self, f: int, bound: _Bound, raws: Sequence[dict[str, Any]], alive: list[int],
              custom_columns: tuple[dict[int, list[Any]], set[int]] | None) -> list[Any]:
        source = bound.spec.source
        custom = bound.custom
        if custom is not None:
            layout = self.mapper.layout
            if custom_columns is None:
                return [_read_odd(layout, raws[i], custom) for i in alive]
            columns, odd = custom_columns
            column = columns[f]
            if not odd:
                return [column[i] for i in alive]
            return [_read_odd(layout, raws[i], custom) if i in odd else column[i] for i in alive]
        if isinstance(source, CustomFieldRef):  # not bound: Mapper refused the mapping already
            raise AssertionError(source)
        if isinstance(source, tuple):
            from .engine import _get

            return [_get(raws[i], source) for i in alive]
        if "." not in source:
            return [raws[i].get(source, MISSING) for i in alive]
        return [get_path(raws[i], source) for i in alive]

    # mapping -------------------------------------------------------------------------------------
    def _map(self, f: int, bound: _Bound, alive: list[int], values: list[Any], ctxs: list[Context],
             enveloped: set[int], failed: list[Rejection | None], outs: list[dict[str, Any]]) -> tuple[list[int],
                                                                                                       list[Any]]:
        """Map one field's column; returns the records that got a value, and those values."""
        from .engine import _SURPRISES, unreadable_reason

        name, custom, chain = bound.name, bound.custom, bound.chain
        custom_key = name[7:] if name.startswith("custom.") else None
        cache: dict[Any, Any] | None = {} if self.cached[f] else None
        placed_at: list[int] = []
        placed: list[Any] = []
        for i, value in zip(alive, values, strict=True):
            if value is MISSING:
                continue
            key = None
            if cache is not None and i not in enveloped:
                key = value if type(value) is str else _key(value)
                if key is not None:
                    hit = cache.get(key, _MISS)
                    if hit is not _MISS:
                        kind = type(hit)
                        if kind is _Failed:
                            failed[i] = Rejection(hit.reason, hit.field, hit.direction)
                            continue
                        if kind is _Noted:
                            ctxs[i].notes.extend(hit.notes)
                            hit = hit.value
                        if custom_key is None:
                            outs[i][name] = hit
                        else:
                            _place_custom(outs[i], custom_key, hit)
                        placed_at.append(i)
                        placed.append(hit)
                        continue
            ctx = ctxs[i]
            ctx.field, ctx.custom = name, custom
            if type(value) is _Unreadable:
                failed[i] = ctx.reject(unreadable_reason(value.error))
                continue
            if i in enveloped:
                try:
                    value = unwrap(value)
                except Unreadable as exc:
                    failed[i] = ctx.reject(str(exc))
                    continue
            before = len(ctx.notes)
            try:
                value = _one(value, chain, ctx, _SURPRISES)
            except Rejection as rejection:
                failed[i] = rejection
                if key is not None:
                    cache[key] = _Failed(rejection.reason, rejection.field, rejection.direction)  # type: ignore[index]
                continue
            if key is not None:
                if type(value) in _IMMUTABLE:
                    notes = ctx.notes[before:]
                    cache[key] = _Noted(value, notes) if notes else value  # type: ignore[index]
                else:  # records cannot share it: this field is mapped without the cache from now on
                    self.cached[f] = False
                    cache = None
            if custom_key is None:
                outs[i][name] = value
            else:
                _place_custom(outs[i], custom_key, value)
            placed_at.append(i)
            placed.append(value)
        return placed_at, placed


def _one(value: Any, chain: list[Any], ctx: Context, surprises: tuple[type[BaseException], ...]) -> Any:
    """One value through the field's chain, with the text checks before and after; the same steps
    as in :meth:`Mapper.pull_result` (a Rejection says why it cannot be mapped)."""
    malformed = deep_text_problem(value) if type(value) in (str, list) else None
    if malformed:
        raise ctx.reject(f"the CRM's value {malformed}")
    try:
        for t in chain:
            if value is not None or t.handles_none:
                value = t.forward(value, ctx)
    except surprises as exc:
        raise ctx.reject(f"cannot read {value!r}: {exc}") from exc
    malformed = deep_text_problem(value)
    if malformed:
        raise ctx.reject(f"the text {malformed}")
    return value


def _place_custom(out: dict[str, Any], key: str, value: Any) -> None:
    custom = out.get("custom")
    if custom is None:
        out["custom"] = {key: value}
    else:
        custom[key] = value
