"""A compiled yes/no check for the small JSON Schema subset canonical schemas use.

jsonschema takes ~0.7 ms per contact, which alone would cap pulls far below the 20,000 records/s
target. Canonical records are checked here first; only a record that fails is handed to jsonschema
for a precise message. A keyword this compiler does not know makes it refuse the schema, so the
caller falls back to jsonschema for everything rather than skip a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Check = Callable[[Any], bool]
# Python types per JSON type; bool is an int subclass, so it is kept out of the numeric ones below.
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict,),
}
_IGNORED = {"$schema", "$id", "title", "description", "default", "examples"}

# Every check below is a plain closure with an explicit loop: this runs once per field of every
# record pulled, and generator expressions inside all()/any() cost ~3x as much per call.


class Unsupported(Exception):
    pass


def compile_schema(schema: dict[str, Any]) -> Check:
    checks: list[Check] = []
    for key, arg in schema.items():
        if key in _IGNORED:
            continue
        maker = _KEYWORDS.get(key)
        if maker is None:
            raise Unsupported(key)
        checks.append(maker(arg, schema))
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    def all_of(v: Any) -> bool:
        for check in checks:  # noqa: SIM110 - see the note above: loops, not all(genexpr)
            if not check(v):
                return False
        return True

    return all_of


def _type(arg: Any, _: dict[str, Any]) -> Check:
    names = arg if isinstance(arg, list) else [arg]
    allowed = tuple(t for name in names for t in _PY_TYPES[name])
    bool_ok = "boolean" in names

    def check(v: Any) -> bool:
        return isinstance(v, allowed) and (bool_ok or not isinstance(v, bool))

    return check


def _enum(arg: Any, _: dict[str, Any]) -> Check:
    try:
        allowed = {(type(a), a) for a in arg}
    except TypeError:  # an unhashable member (a list or an object): compare one by one
        return lambda v: any(v == a and type(v) is type(a) for a in arg)

    def check(v: Any) -> bool:
        try:
            return (type(v), v) in allowed
        except TypeError:
            return False

    return check


def _pattern(arg: Any, _: dict[str, Any]) -> Check:
    search = re.compile(arg).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _min_length(arg: Any, _: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= arg


def _required(arg: Any, _: dict[str, Any]) -> Check:
    needed = frozenset(arg)
    return lambda v: not isinstance(v, dict) or needed.issubset(v)


def _properties(arg: Any, _: dict[str, Any]) -> Check:
    props = {k: compile_schema(s) for k, s in arg.items()}

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for k, x in v.items():
            prop = props.get(k)
            if prop is not None and not prop(x):
                return False
        return True

    return check


def _additional(arg: Any, schema: dict[str, Any]) -> Check:
    known = frozenset(schema.get("properties") or {})
    if arg is False:
        return lambda v: not isinstance(v, dict) or known.issuperset(v)
    if not isinstance(arg, dict):
        return lambda v: True
    rest = compile_schema(arg)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for k, x in v.items():  # noqa: SIM110
            if k not in known and not rest(x):
                return False
        return True

    return check


def _property_names(arg: Any, _: dict[str, Any]) -> Check:
    name = compile_schema(arg)

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        for k in v:  # noqa: SIM110
            if not name(k):
                return False
        return True

    return check


def _items(arg: Any, _: dict[str, Any]) -> Check:
    item = compile_schema(arg)

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        for x in v:  # noqa: SIM110
            if not item(x):
                return False
        return True

    return check


def _bound(test: Callable[[Any, Any], bool]) -> Callable[[Any, dict[str, Any]], Check]:
    def make(arg: Any, _: dict[str, Any]) -> Check:
        return lambda v: type(v) not in (int, float, Decimal) or test(v, arg)

    return make


def _format(arg: Any, _: dict[str, Any]) -> Check:
    return lambda v: True  # an annotation, as jsonschema treats it without a format checker (the DDL reads it)


def _scale(arg: Any, _: dict[str, Any]) -> Check:
    from .canonical import within_scale

    return lambda v: type(v) not in (int, float, Decimal) or within_scale(v, arg)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type, "enum": _enum, "pattern": _pattern, "minLength": _min_length, "required": _required,
    "properties": _properties, "additionalProperties": _additional, "propertyNames": _property_names,
    "items": _items, "format": _format, "x-scale": _scale,
    "minimum": _bound(lambda v, a: v >= a), "maximum": _bound(lambda v, a: v <= a),
    "exclusiveMinimum": _bound(lambda v, a: v > a), "exclusiveMaximum": _bound(lambda v, a: v < a),
}
