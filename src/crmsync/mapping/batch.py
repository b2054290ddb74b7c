"""Mapping a chunk of raw records field by field (:meth:`Mapper.pull_batch`, issue 18).

The result is exactly :meth:`Mapper.pull_each`'s, record for record: the same canonical values and
notes, the same record set aside with the same field and reason (a record's first bad field in the
mapping's order, then the canonical check). What changes is the order of the work: one field across
the whole chunk, then the next, so that

* custom values are taken from each record's custom field list in one pass for all fields, not a
  scan per field; a cf_value field's usual ``[{"value": v}]`` is taken as ``v`` (what cf_value gives)
  and mapped and cached by it through the rest of its chain;
* the commonest whole chains have a column kernel (:func:`_kernel_for`: Unix and ISO-8601 times, a
  list of phone or e-mail entries), a plain function that maps the values it takes exactly as the
  chain would and leaves every other value (a rejection among them) to the chain;
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

import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .context import Context
from .errors import Rejection
from .layouts import FlatKeysLayout, ValuesArrayLayout
from .paths import MISSING, get_path
from .raw_values import _SEARCH, ENVELOPED, Unreadable, deep_text_problem, unwrap
from .spec import CustomFieldRef
from .transforms.contact_points import _EMAIL, ContactPoints, Email, Multifield, Multitext, Phone, _e164
from .transforms.custom_values import CfValue
from .transforms.times import IsoTime, UnixTime

if TYPE_CHECKING:
    from .columncheck import ColumnCheck
    from .engine import Mapper, Pulled, _Bound

_IMMUTABLE = frozenset({str, int, float, bool, type(None), Decimal})
_SCALARS = frozenset({int, bool, type(None)})
_FLAT = frozenset({str, int, bool, type(None)})
_STR = frozenset({str})
_ONE = frozenset({str, int})
_MISS = object()
_WHOLE = object()  # a key's tag: the custom field's whole list, where others of the field are read as cf_value's
_SLOW = object()  # a value a column kernel leaves to the chain
_YEAR_10000 = 253402300800  # the first second of the year 10000 (UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


class _Failed:
    """A cached rejection (a fresh Rejection is made for every record that holds the value)."""

    __slots__ = ("reason", "field", "direction")

    def __init__(self, reason: str, field: str, direction: str) -> None:
        self.reason, self.field, self.direction = reason, field, direction


class _Copied:
    """A cached list of immutable values (options picked): each record gets a copy of its own."""

    __slots__ = ("value",)

    def __init__(self, value: list[Any]) -> None:
        self.value = value


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
        self.kernels = [_kernel_for(b) for b in self.fields]
        # A custom field read through cf_value first: its usual values list, [{"value": <text or number>}],
        # is read as the one value (what cf_value gives), keyed and mapped by it (see _custom_columns).
        self.unwraps = [bool(b.chain) and type(b.chain[0]) is CfValue and b.custom is not None for b in self.fields]
        layout = mapper.layout
        self.index_layout = layout if type(layout) is ValuesArrayLayout else None
        # custom values at keys of the record itself (or of one object in it): read by key, no call per value
        self.flat_layout = layout if type(layout) is FlatKeysLayout else None
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
        unwrapped = custom_columns[2] if custom_columns is not None else {}
        alive = list(range(n))
        for f, bound in enumerate(self.fields):
            values = self._read(f, bound, raws, alive, custom_columns)
            placed_at, placed, lost, shared = self._map(f, bound, alive, values, ctxs, enveloped, failed, outs,
                                                        unwrapped.get(f))
            if self.columns is not None and placed:
                bad = [placed_at[j] for j in self.columns.flags(bound.name, placed)]
                flagged.update(bad)
                if bad and shared is not None:  # every record sharing a flagged value is flagged too
                    at, keys, key_of = shared
                    bad_keys = {key_of[i] for i in bad if i in key_of}
                    if bad_keys:
                        flagged.update(i for i, k in zip(at, keys, strict=True) if k is not None and k in bad_keys)
            if lost:
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
    def _custom_columns(self, raws: Sequence[dict[str, Any]]) -> tuple[dict[int, list[Any]], set[int],
                                                                         dict[int, set[int]]]:
        """Every custom field the mapping reads, for every record, in one pass over each record's
        custom field list: ``{field position: column}``, the records whose list is not a list of
        objects (the layout reads those itself, field by field, and says why it cannot), and per field
        read through cf_value the records whose column holds the one value of ``[{"value": v}]``
        (v a text or whole number: what cf_value gives, with the same text checks) instead of the list."""
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
        codes = bool(code_key and by_code)
        named: dict[tuple[Any, Any], list[int]] = {}
        unwraps = {f for f in columns if self.unwraps[f]}
        unwrapped: dict[int, set[int]] = {f: set() for f in unwraps}
        for r, raw in enumerate(raws):
            entries = raw.get(key) or ()
            if type(entries) is not list:
                if entries:
                    odd.add(r)
                continue
            found: set[int] = set()  # the first entry naming a field is its value, as the layout reads it
            try:
                for entry in entries:
                    if codes:
                        pair = (entry.get(id_key), entry.get(code_key))
                        fields = named.get(pair)
                        if fields is None:  # by id, then by code: the fields an (id, code) pair names
                            fields = named[pair] = by_id.get(pair[0], []) + by_code.get(pair[1], [])
                    else:
                        fields = by_id.get(entry.get(id_key))
                    for f in fields or ():
                        if f not in found:
                            found.add(f)
                            value = entry.get(values_key)
                            if f in unwraps and type(value) is list and len(value) == 1:
                                item = value[0]
                                if type(item) is dict and len(item) == 1 and type(item.get("value")) in _ONE:
                                    value = item["value"]
                                    unwrapped[f].add(r)
                            columns[f][r] = value
            except (AttributeError, TypeError):
                odd.add(r)
                for rows in unwrapped.values():  # the layout reads this record again, field by field
                    rows.discard(r)
        return columns, odd, unwrapped

    def _read(self, f: int, bound: _Bound, raws: Sequence[dict[str, Any]], alive: list[int],
              custom_columns: tuple[dict[int, list[Any]], set[int], dict[int, set[int]]] | None) -> list[Any]:
        source = bound.spec.source
        custom = bound.custom
        if custom is not None:
            layout = self.mapper.layout
            if custom_columns is None:
                flat = self.flat_layout
                if flat is not None:  # FlatKeysLayout.read, inlined
                    fid = custom.id
                    if not flat.under:
                        return [raws[i].get(fid) for i in alive]
                    holders = [raws[i].get(flat.under) for i in alive]
                    return [h.get(fid) if type(h) is dict else _read_odd(layout, raws[i], custom)
                            for h, i in zip(holders, alive, strict=True)]
                return [_read_odd(layout, raws[i], custom) for i in alive]
            columns, odd, _ = custom_columns
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
             enveloped: set[int], failed: list[Rejection | None], outs: list[dict[str, Any]],
             unwrapped: set[int] | None = None) -> tuple[list[int], list[Any], int, Any]:
        """Map one field's column. Returns the records the chain or a kernel gave a value, those values,
        how many records were set aside, and for a cached field the records that took a value from the
        cache, with its key: ``(records, keys, {first holder: key})``. The column check then checks each
        distinct value once (its first holder's), and flags every record holding one it flags."""
        from .engine import through_chain, unreadable_reason

        name, custom, whole = bound.name, bound.custom, bound.chain
        custom_key = name[7:] if name.startswith("custom.") else None
        placed_at: list[int] = []
        placed: list[Any] = []
        kernel = self.kernels[f]
        if kernel is not None:
            alive, values = self._kernel(kernel, name, custom_key, alive, values, enveloped, outs, placed_at, placed,
                                         ctxs)
        cache: dict[Any, Any] | None = {} if self.cached[f] else None
        keys = self._keys(alive, values, enveloped, unwrapped) if cache is not None else None
        first: dict[int, Any] = {}  # the record that mapped each cached value -> its key
        rest = whole[1:]
        lost = 0
        for j, value in enumerate(values):
            if value is MISSING:
                continue
            i = alive[j]
            key = keys[j] if cache is not None else None  # type: ignore[index]
            if key is not None:
                hit = cache.get(key, _MISS)  # type: ignore[union-attr]
                if hit is not _MISS:
                    kind = type(hit)
                    if kind is _Failed:
                        failed[i] = Rejection(hit.reason, hit.field, hit.direction)
                        lost += 1
                        continue
                    if kind is _Noted:
                        ctxs[i].notes.extend(hit.notes)
                        hit = hit.value
                        kind = type(hit)
                    if kind is _Copied:
                        hit = hit.value[:]
                    if custom_key is None:
                        outs[i][name] = hit
                    else:
                        _place_custom(outs[i], custom_key, hit)
                    continue
            chain = whole
            if unwrapped and i in unwrapped:  # the value is cf_value's already: the rest of the chain
                if i in enveloped:  # opened as the CRM's list, as pull_result does
                    value = [{"value": value}]
                else:
                    chain = rest
            ctx = ctxs[i]
            ctx.field, ctx.custom = name, custom
            if type(value) is _Unreadable:
                failed[i] = ctx.reject(unreadable_reason(value.error))
                lost += 1
                continue
            if i in enveloped:
                try:
                    value = unwrap(value)
                except Unreadable as exc:
                    failed[i] = ctx.reject(str(exc))
                    lost += 1
                    continue
            before = len(ctx.notes)
            try:
                value = through_chain(value, chain, ctx)
            except Rejection as rejection:
                failed[i] = rejection
                lost += 1
                if key is not None:
                    cache[key] = _Failed(rejection.reason, rejection.field, rejection.direction)  # type: ignore[index]
                continue
            if key is not None:
                kind = type(value)
                if kind in _IMMUTABLE or (kind is list and _IMMUTABLE.issuperset(map(type, value))):
                    notes = ctx.notes[before:]
                    # a flat list is shared as a copy of its own for each record
                    shared = _Copied(value) if kind is list else value
                    cache[key] = _Noted(shared, notes) if notes else shared  # type: ignore[index]
                    first[i] = key
                else:  # records cannot share it: this field is mapped without the cache from now on
                    self.cached[f] = False
                    cache = None
            if custom_key is None:
                outs[i][name] = value
            else:
                _place_custom(outs[i], custom_key, value)
            placed_at.append(i)
            placed.append(value)
        # (the records that took a value before the cache was given up still need their first holder's check)
        return placed_at, placed, lost, None if keys is None else (alive, keys, first)

    @staticmethod
    def _keys(alive: list[int], values: list[Any], enveloped: set[int], unwrapped: set[int] | None) -> list[Any]:
        """Each value's cache key; None for a value mapped without the cache (an enveloped record's, a
        value with no key). A value read as cf_value's already (``unwrapped``) and the list it was read
        from go through different chains: the list's key is tagged."""
        keys = [v if type(v) is str else _key(v) for v in values]
        if unwrapped is not None:
            for j, i in enumerate(alive):
                if i not in unwrapped and keys[j] is not None:
                    keys[j] = (_WHOLE, keys[j])
        if enveloped:
            for j, i in enumerate(alive):
                if i in enveloped:
                    keys[j] = None
        return keys

    @staticmethod
    def _kernel(kernel: Callable[[Any], Any], name: str, custom_key: str | None, alive: list[int],
                values: list[Any], enveloped: set[int], outs: list[dict[str, Any]], placed_at: list[int],
                placed: list[Any], ctxs: list[Context]) -> tuple[list[int], list[Any]]:
        """The values a column kernel maps, placed; returns the rest (records and values) for the chain."""
        mapped = [kernel(v) for v in values]
        rest_at: list[int] = []
        rest: list[Any] = []
        for i, value, out in zip(alive, values, mapped, strict=True):
            if out is _SLOW or (enveloped and i in enveloped):
                rest_at.append(i)
                rest.append(value)
            else:
                if type(out) is _Noted:
                    ctxs[i].notes.extend(out.notes)
                    out = out.value
                _put(outs[i], name, custom_key, out)
                placed_at.append(i)
                placed.append(out)
        return rest_at, rest


def _kernel_for(bound: _Bound) -> Callable[[Any], Any] | None:
    """A value-at-a-time form of a field's whole chain, faster than the chain for the values it takes,
    giving exactly what :func:`.engine.through_chain` gives for them, notes included (a :class:`_Noted`); _SLOW for any
    other value (a rejection among them: the chain then says why)."""
    chain = bound.chain
    if len(chain) == 1 and type(chain[0]) is UnixTime:
        return _unix_time_text
    if len(chain) == 1 and type(chain[0]) is IsoTime:
        return _iso_time_text
    if len(chain) == 2 and type(chain[0]) in _POINTS and type(chain[1]) in (Phone, Email):
        return _contact_points_kernel(bound)
    return None


_POINTS = (ContactPoints, Multitext, Multifield)  # exactly these: a plugin's subclass may read entries its own way


def _contact_points_kernel(bound: _Bound) -> Callable[[Any], Any] | None:
    """contact_points then phone or email, for a list of entries whose texts are all well formed and
    whose kinds are all mapped: one pass, the values normalised as the transform does."""
    points, last = bound.chain
    spec = points.spec
    value_key, kind_key, kind_id = spec.get("value_key", "value"), spec.get("kind_key", "type"), spec.get("kind_id_key")
    deleted = spec.get("deleted") or {}
    kinds: dict[Any, Any] = spec["kinds"]
    default = spec.get("default", _SLOW)
    if any(type(k) is not str or deep_text_problem(k) for k in [*kinds.values(), default] if k is not _SLOW):
        return None
    options = bound.custom.options if bound.custom is not None and kind_id else None
    name = bound.name
    phone = type(last) is Phone
    region = last.spec.get("default_region")
    search = _SEARCH

    def kernel(value: Any) -> Any:
        if value is None:
            return []
        if type(value) is not list:
            return _SLOW
        out = []
        notes: list[str] = []
        for item in value:
            # deep_text_problem(value), item by item: any malformed text anywhere leaves the list to the chain
            kind = type(item)
            if kind is not dict:
                if kind is str:
                    if search(item):
                        return _SLOW
                elif kind is list:
                    if deep_text_problem(item):
                        return _SLOW
                elif isinstance(item, dict):
                    return _SLOW
                continue
            for inner in item.values():
                kind = type(inner)
                if kind is str:
                    if search(inner):
                        return _SLOW
                elif (kind is list or kind is dict) and deep_text_problem(inner):
                    return _SLOW
            text = item.get(value_key)
            if text is None or text == "":
                continue
            if deleted and all(item.get(k) == v for k, v in deleted.items()):
                continue
            if type(text) is not str:
                return _SLOW
            code = item.get(kind_key)
            if code is None and options is not None and item.get(kind_id) is not None:
                code = options.get(str(item[kind_id]))
            if type(code) is not str and code is not None:
                return _SLOW
            kind = kinds.get(code, default)
            if kind is _SLOW:
                return _SLOW
            if phone:
                cleaned = " ".join(text.split())
                fixed = _e164(cleaned, region)
                if fixed is None:
                    notes.append(f"{name}: {cleaned!r} is not a valid phone number; kept as written")
                    fixed = cleaned
            else:
                fixed = text.strip().lower()
                if not _EMAIL.match(fixed):
                    return _SLOW
            out.append({"value": fixed, "type": kind})
        return _Noted(out, notes) if notes else out

    return kernel


# An ISO-8601 moment with an offset, years 1000-9999: what IsoTime reads most of the time
# (2025-12-08T13:17:00.000Z in UTC, 2025-12-08T16:17:00+03:00 in the account's zone).
_ISO_MOMENT = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                         r"(?:\.[0-9]{1,6})?(?:Z|[+-][0-9]{2}:[0-9]{2})")


def _iso_time_parsed(value: Any) -> Any:
    """IsoTime.forward for such a text, when datetime reads it: in UTC already (Z) the text itself to the
    second; else the moment moved to UTC by its offset. Years 1000 and 9999 (a move could leave the
    4-digit years) and anything else: _SLOW."""
    if type(value) is not str or _ISO_MOMENT.fullmatch(value) is None or value[:4] in ("1000", "9999"):
        return _SLOW
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _SLOW
    if value[-1] == "Z":
        return value[:19] + "Z"
    offset = moment.utcoffset()
    if offset is None:
        return _SLOW
    return (moment.replace(tzinfo=None, microsecond=0) - offset).isoformat() + "Z"


# The shape most ISO times come in, without a fraction: read by slicing, a third of the cost of datetime.
_ISO_PLAIN = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})")
_ISO_DAYS: dict[str, int] = {}  # YYYY-MM-DD -> its ordinal, for the dates that exist
_ISO_FIRST, _ISO_LAST = date(1001, 1, 1).toordinal(), date(9999, 1, 1).toordinal()  # years 1000, 9999: parsed
_CLOCK_HM = [f"T{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]  # by minute of the day
_CLOCK_S = [f"{s:02d}Z" for s in range(60)]


def _iso_time_text(value: Any) -> Any:
    """:func:`_iso_time_parsed` of the value (tests hold the two equal): a date that exists, a time of
    day and an offset within their ranges are read by slicing; anything else by datetime."""
    if type(value) is not str or _ISO_PLAIN.fullmatch(value) is None:
        return _iso_time_parsed(value)
    day = value[:10]
    ordinal = _ISO_DAYS.get(day)
    if ordinal is None:
        try:
            ordinal = date.fromisoformat(day).toordinal()
        except ValueError:
            return _SLOW
        if len(_ISO_DAYS) > 100_000:
            _ISO_DAYS.clear()
        _ISO_DAYS[day] = ordinal
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if hour > 23 or minute > 59 or second > 59 or not _ISO_FIRST <= ordinal < _ISO_LAST:
        return _iso_time_parsed(value)
    sign = value[19]
    if sign == "Z":
        return value[:19] + "Z"
    hours, minutes = int(value[20:22]), int(value[23:25])
    if hours > 23 or minutes > 59:
        return _iso_time_parsed(value)
    offset = hours * 3600 + minutes * 60
    days, clock = divmod(hour * 3600 + minute * 60 + second - (offset if sign == "+" else -offset), 86400)
    minute, second = divmod(clock, 60)
    return (day if days == 0 else date.fromordinal(ordinal + days).isoformat()) + _CLOCK_HM[minute] + _CLOCK_S[second]


_DAYS: dict[int, str] = {}  # day number since 1970 -> YYYY-MM-DD; days recur (a bulk import, one day's edits)


def _unix_time_text(value: Any) -> Any:
    """UnixTime.forward for a whole number of seconds from 1970 to 9999 (always 4-digit years):
    the same text as time.strftime of time.gmtime, a third of the cost, and never malformed."""
    if type(value) is not int or not 0 <= value < _YEAR_10000:
        return _SLOW
    day, second = divmod(value, 86400)
    text = _DAYS.get(day)
    if text is None:
        if len(_DAYS) > 100_000:
            _DAYS.clear()
        text = _DAYS[day] = date.fromordinal(_EPOCH_ORDINAL + day).isoformat()
    minute, second = divmod(second, 60)
    return text + _CLOCK_HM[minute] + _CLOCK_S[second]


def _put(out: dict[str, Any], name: str, custom_key: str | None, value: Any) -> None:
    if custom_key is None:
        out[name] = value
    else:
        _place_custom(out, custom_key, value)


def _place_custom(out: dict[str, Any], key: str, value: Any) -> None:
    custom = out.get("custom")
    if custom is None:
        out["custom"] = {key: value}
    else:
        custom[key] = value
