"""Mapping a chunk of raw records field by field (:meth:`Mapper.pull_batch`, issue 18).

The result is exactly :meth:`Mapper.pull_each`'s, record for record: the same canonical values and
notes, the same record set aside with the same field and reason (a record's first bad field in the
mapping's order, then the canonical check). What changes is the order of the work: one field across
the whole chunk, then the next, so that

* a field's custom values are found through one index of each record's custom field list, not a scan
  per field;
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

import gc
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
_FAILED = object()  # a cached result that is a rejection: (_FAILED, reason)


def _key(value: Any) -> Any:
    """A dict key equal only for values of the same types and contents; None when there is none.

    Texts, numbers, null, and the shapes CRM values come in (a list of flat objects: AmoCRM's custom
    field values); anything else is mapped without the cache. Types are part of the key: ``1``,
    ``1.0`` and ``True`` are equal in Python but not as CRM values."""
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
        # A batch allocates the chunk's canonical records and cache entries, which all outlive it: the
        # cyclic collector's passes during it free nothing and cost ~20 % of the mapping (measured on
        # 5,000 AmoCRM contacts). It runs again, as before, once the batch is mapped.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._run(raws)
        finally:
            if paused:
                gc.enable()

    def _run(self, raws: Sequence[dict[str, Any]]) -> list[Pulled | Rejection]:
        from .engine import Pulled

        mapper = self.mapper
        n = len(raws)
        outs: list[dict[str, Any]] = [{} for _ in range(n)]
        ctxs = [Context(mapper.catalog, mapper.resolver, raw, "pull") for raw in raws]
        failed: list[Rejection | None] = [None] * n
        enveloped = {i for i, raw in enumerate(raws) if raw.get(ENVELOPED)}
        flagged: set[int] = set()
        index = self._index(raws) if self.index_layout is not None and any(
            b.custom is not None for b in self.fields) else None
        alive = list(range(n))
        for f, bound in enumerate(self.fields):
            values = self._read(bound, raws, alive, index)
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
    def _index(self, raws: Sequence[dict[str, Any]]) -> list[tuple[list[Any], dict[Any, int], dict[Any, int]] | None]:
        """Per record: its custom field entries, and the first position of each field id and code.
        None for a record whose list is not the expected shape: the layout reads it (and says why)."""
        layout = self.index_layout
        assert layout is not None
        key, id_key, code_key = layout.key, layout.id_key, layout.code_key
        out: list[tuple[list[Any], dict[Any, int], dict[Any, int]] | None] = []
        for raw in raws:
            entries = raw.get(key) or ()
            if type(entries) is not list:
                out.append(None if entries else ([], {}, {}))
                continue
            ids: dict[Any, int] = {}
            codes: dict[Any, int] = {}
            try:
                for pos, entry in enumerate(entries):
                    ids.setdefault(entry.get(id_key), pos)
                    if code_key:
                        codes.setdefault(entry.get(code_key), pos)
            except (AttributeError, TypeError):
                out.append(None)
                continue
            out.append((entries, ids, codes))
        return out

    def _read(self, bound: _Bound, raws: Sequence[dict[str, Any]], alive: list[int], index: Any) -> list[Any]:
        source = bound.spec.source
        custom = bound.custom
        if custom is not None:
            layout = self.mapper.layout
            if index is None:
                return [layout.read(raws[i], custom) for i in alive]
            values_key = layout.values_key
            wanted_code = custom.code if layout.code_key and custom.code else None
            out = []
            for i in alive:
                found = index[i]
                if found is None:
                    out.append(layout.read(raws[i], custom))
                    continue
                entries, ids, codes = found
                try:
                    pos = ids.get(custom.id)
                    if wanted_code is not None:
                        by_code = codes.get(wanted_code)
                        if by_code is not None and (pos is None or by_code < pos):
                            pos = by_code
                except TypeError:  # an id no dict can hold: the layout compares it as it always does
                    out.append(layout.read(raws[i], custom))
                    continue
                out.append(None if pos is None else entries[pos].get(values_key))
            return out
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
        from .engine import _SURPRISES

        name, custom, chain = bound.name, bound.custom, bound.chain
        custom_key = name[7:] if name.startswith("custom.") else None
        cache: dict[Any, Any] | None = {} if self.cached[f] else None
        placed_at: list[int] = []
        placed: list[Any] = []
        for i, value in zip(alive, values, strict=True):
            if value is MISSING:
                continue
            ctx = ctxs[i]
            ctx.field, ctx.custom = name, custom
            key = None
            if i in enveloped:
                try:
                    value = unwrap(value)
                except Unreadable as exc:
                    failed[i] = ctx.reject(str(exc))
                    continue
            elif cache is not None:
                key = _key(value)
                if key is not None:
                    hit = cache.get(key)
                    if hit is not None:
                        result, notes = hit
                        if type(result) is tuple and result and result[0] is _FAILED:
                            failed[i] = Rejection(*result[1:])
                            continue
                        if notes:
                            ctx.notes.extend(notes)
                        value = result
                        _place(outs[i], name, custom_key, value)
                        placed_at.append(i)
                        placed.append(value)
                        continue
            before = len(ctx.notes)
            try:
                value = _one(value, chain, ctx, _SURPRISES)
            except Rejection as rejection:
                failed[i] = rejection
                if key is not None:
                    cache[key] = ((_FAILED, rejection.reason, rejection.field, rejection.direction), ())  # type: ignore[index]
                continue
            if key is not None:
                if type(value) in _IMMUTABLE:
                    cache[key] = (value, tuple(ctx.notes[before:]))  # type: ignore[index]
                else:
                    self.cached[f] = False
                    cache = None
            _place(outs[i], name, custom_key, value)
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


def _place(out: dict[str, Any], name: str, custom_key: str | None, value: Any) -> None:
    if custom_key is not None:
        custom = out.get("custom")
        if custom is None:
            out["custom"] = {custom_key: value}
        else:
            custom[custom_key] = value
    else:
        out[name] = value
