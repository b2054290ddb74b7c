"""A mapping bound to one CRM account: :class:`Mapper` turns raw records into canonical ones and back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .canonical import CanonicalCheck
from .catalog import CustomField, FieldCatalog
from .context import Context
from .errors import MappingError, Rejection
from .paths import MISSING, get_path, set_path
from .raw_values import ENVELOPED, Unreadable, deep_text_problem, unwrap
from .registry import Transform, get_transform
from .resolver import Resolver
from .spec import CustomFieldRef, FieldSpec, MappingSpec, Source, load_mapping

# Odd raw shapes and values, not bugs to hide (ArithmeticError: a number no conversion can take).
_SURPRISES = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError)


def through_chain(value: Any, chain: Sequence[Transform], ctx: Context) -> Any:
    """One raw value through its field's transforms, with the text checks before and after (a Rejection
    says why it cannot be mapped). Malformed text is bad whatever the transforms would make of it (a
    flag, a label), and a transform may not make malformed text either. Both the record-by-record and
    the chunk-wise pull (:mod:`.batch`) map a value by this one function."""
    malformed = deep_text_problem(value) if type(value) in (str, list) else None
    if malformed:
        raise ctx.reject(f"the CRM's value {malformed}")
    try:
        for t in chain:
            if value is not None or t.handles_none:
                value = t.forward(value, ctx)
    except _SURPRISES as exc:
        raise ctx.reject(f"cannot read {value!r}: {exc}") from exc
    malformed = deep_text_problem(value)
    if malformed:
        raise ctx.reject(f"the text {malformed}")
    return value


@dataclass
class Pulled:
    canonical: dict[str, Any]
    notes: list[str] = field(default_factory=list)   # e.g. a phone kept as typed because it is not valid


@dataclass
class _Bound:
    spec: FieldSpec
    chain: list[Transform]
    custom: CustomField | None

    @property
    def name(self) -> str:
        return self.spec.name


class Mapper:
    """One mapping + one account's catalog (+ the engine's resolver for links between records).

    ``pull(raw)`` returns the canonical record or raises :class:`Rejection`; ``push(canonical,
    fields)`` returns the CRM write payload for those fields. Fields missing from a raw record (not
    even null) are left out of the canonical record, so a partial read never blanks a field.
    """

    def __init__(self, spec: MappingSpec, catalog: FieldCatalog, resolver: Resolver | None = None,
                 canonical_schema: dict[str, Any] | None = None) -> None:
        self.spec, self.catalog, self.resolver = spec, catalog, resolver
        self.layout = catalog.layout  # where this CRM keeps custom field values: a connector setting
        self.check = CanonicalCheck(canonical_schema) if canonical_schema else None
        problems: list[str] = []
        self.fields = [self._bind(f, problems) for f in spec.fields]
        if problems:
            raise MappingError(problems)
        self._pulls = [b for b in self.fields if b.spec.pulls]
        self._pushes = [b for b in self.fields if b.spec.pushes]
        self._batch: Any = None  # the column-wise pull, built on the first pull_batch

    @classmethod
    def from_file(cls, path: Path, catalog: FieldCatalog, resolver: Resolver | None = None,
                  canonical: dict[str, dict[str, Any]] | None = None) -> Mapper:
        spec = load_mapping(path, canonical=canonical)
        return cls(spec, catalog, resolver, (canonical or {}).get(spec.entity))

    def _bind(self, spec: FieldSpec, problems: list[str]) -> _Bound:
        custom = None
        if isinstance(spec.source, CustomFieldRef):
            try:
                custom = self.catalog.find_field(spec.source.as_dict())
            except LookupError as exc:
                problems.append(f"{self.spec.file}: fields.{spec.name}: {exc}")
        return _Bound(spec, [get_transform(t["type"])(t) for t in spec.transforms], custom)

    # which fields go where ----------------------------------------------------------------------
    @property
    def two_way_fields(self) -> list[str]:
        return [b.name for b in self.fields if b.spec.direction == "both"]

    @property
    def pull_only_fields(self) -> list[str]:
        return [b.name for b in self.fields if b.spec.direction == "pull"]

    # pull ----------------------------------------------------------------------------------------
    def pull(self, raw: dict[str, Any]) -> dict[str, Any]:
        return self.pull_result(raw).canonical

    def pull_result(self, raw: dict[str, Any]) -> Pulled:
        ctx = Context(self.catalog, self.resolver, raw, "pull")
        out: dict[str, Any] = {}
        enveloped = bool(raw.get(ENVELOPED))
        for bound in self._pulls:
            ctx.field, ctx.custom = bound.name, bound.custom
            try:
                value = self._read(raw, bound)
            except _SURPRISES as exc:  # a custom field list of another shape (a number, a list of texts)
                raise ctx.reject(unreadable_reason(exc)) from exc
            if value is MISSING:
                continue
            if enveloped:
                try:
                    value = unwrap(value)
                except Unreadable as exc:
                    raise ctx.reject(str(exc)) from None
            _place(out, bound.name, through_chain(value, bound.chain, ctx))
        if self.check is not None:
            self.check(out, "pull")
        return Pulled(out, ctx.notes)

    def pull_each(self, raws: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Pulled | Rejection]]:
        """Every raw record with its result; a rejected record never stops the rest."""
        for raw in raws:
            try:
                yield raw, self.pull_result(raw)
            except Rejection as rejection:
                yield raw, rejection

    def pull_batch(self, raws: Iterable[dict[str, Any]]) -> list[Pulled | Rejection]:
        """What :meth:`pull_each` gives for ``raws``, in their order, computed field by field across
        the batch (:mod:`.batch`): the caller's chunk is the unit of work and of memory."""
        if not isinstance(raws, Sequence):
            raws = list(raws)
        if self._batch is None:
            from .batch import BatchPuller

            self._batch = BatchPuller(self)
        return self._batch.run(raws)

    def _read(self, raw: dict[str, Any], bound: _Bound) -> Any:
        if bound.custom is not None:
            return self.layout.read(raw, bound.custom)
        return _get(raw, bound.spec.source)

    # push ----------------------------------------------------------------------------------------
    def push(self, canonical: dict[str, Any], fields: Iterable[str] | None = None,
             current: dict[str, Any] | None = None) -> dict[str, Any]:
        """The CRM write payload for ``fields`` of ``canonical`` (all push fields when None).

        Pull-only fields are never written. ``current`` is the CRM's last raw record, when known:
        some transforms need it to replace values (Bitrix24 multi-fields).
        """
        wanted = None if fields is None else set(fields)
        if self.check is not None:  # only what is written: a pull-only field never blocks a push
            self.check(_written_part(canonical, wanted), "push")
        ctx = Context(self.catalog, self.resolver, canonical, "push")
        payload: dict[str, Any] = {}
        for bound in self._pushes:
            name = bound.name
            if wanted is not None and name not in wanted and not (name.startswith("custom.") and "custom" in wanted):
                continue
            value = _lookup(canonical, name)
            if value is MISSING:
                continue
            ctx.field, ctx.custom = name, bound.custom
            malformed = deep_text_problem(value)
            if malformed:
                raise ctx.reject(f"the text {malformed}; the CRM would refuse or mangle it")
            ctx.current = None if current is None else self._read(current, bound)
            if ctx.current is MISSING:
                ctx.current = None
            try:
                for t in reversed(bound.chain):
                    if value is not None or t.handles_none:
                        value = t.inverse(value, ctx)
            except _SURPRISES as exc:
                raise ctx.reject(f"cannot write {value!r}: {exc}") from exc
            self._write(payload, bound, value, ctx)
        return payload

    def _write(self, payload: dict[str, Any], bound: _Bound, value: Any, ctx: Context) -> None:
        if bound.custom is not None:
            self.layout.write(payload, bound.custom, value)
            return
        target = bound.spec.target
        if isinstance(target, tuple):
            if not isinstance(value, list) or len(value) != len(target):
                raise ctx.reject(f"expected {len(target)} values for {', '.join(target)}, got {value!r}")
            for path, part in zip(target, value, strict=True):
                set_path(payload, path, part)
        else:
            set_path(payload, str(target), value)

    def field_at(self, payload: dict[str, Any], paths: Iterable[str]) -> str:
        """The canonical field a CRM's refusal names by its place in the write ``payload`` that was
        sent (``custom_fields_values.0.field_id``, ``name``): the push field that wrote the longest
        prefix of the first path that is one. "" when no path points into what a field wrote."""
        places = []
        for bound in self._pushes:
            if bound.custom is not None:
                where = getattr(self.layout, "where", None)  # a plugin's layout may not say
                places += [(p, bound.name) for p in (where(payload, bound.custom) if where else [])]
            else:
                target = bound.spec.target
                places += [(tuple(str(t).split(".")), bound.name)
                           for t in (target if isinstance(target, tuple) else (target,))]
        for path in paths:
            parts = tuple(p for p in str(path).replace("[", ".").replace("]", "").split(".") if p)
            found = [(len(place), name) for place, name in places if place and parts[:len(place)] == place]
            if found:
                return max(found)[1]
        return ""


def unreadable_reason(exc: Exception) -> str:
    return f"cannot be read from the CRM's record: {type(exc).__name__}: {exc}"


def _written_part(canonical: dict[str, Any], wanted: set[str] | None) -> dict[str, Any]:
    if wanted is None:
        return canonical
    out: dict[str, Any] = {}
    for name in wanted:
        value = _lookup(canonical, name)
        if value is not MISSING:
            _place(out, name, value)
    if "custom" in wanted and isinstance(canonical.get("custom"), dict):
        out["custom"] = canonical["custom"]
    return out


def _get(raw: dict[str, Any], source: Source) -> Any:
    if isinstance(source, tuple):
        values = [get_path(raw, p) for p in source]
        if all(v is MISSING for v in values):
            return MISSING
        return [None if v is MISSING else v for v in values]
    return get_path(raw, str(source))


def _place(out: dict[str, Any], name: str, value: Any) -> None:
    if name.startswith("custom."):
        out.setdefault("custom", {})[name[7:]] = value
    else:
        out[name] = value


def _lookup(canonical: dict[str, Any], name: str) -> Any:
    if name.startswith("custom."):
        custom = canonical.get("custom")
        return custom.get(name[7:], MISSING) if isinstance(custom, dict) else MISSING
    return canonical.get(name, MISSING)
