"""A compiled yes/no check for the small JSON Schema subset canonical schemas use.

jsonschema takes ~0.7 ms per contact, which alone would cap pulls far below the 20,000 records/s
target. Canonical records are checked here first; only a record that fails is handed to jsonschema
for a precise message. A keyword this compiler does not know makes it refuse the schema, so the
caller falls back to jsonschema for everything rather than skip a rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]
_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}
_IGNORED = {"$schema", "$id", "title", "description", "default", "examples"}


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
    return lambda v: all(c(v) for c in checks)


def _type(arg: Any, _: dict[str, Any]) -> Check:
    tests = [_TYPES[t] for t in (arg if isinstance(arg, list) else [arg])]
    return lambda v: any(t(v) for t in tests)


def _enum(arg: Any, _: dict[str, Any]) -> Check:
    return lambda v: any(v == a and type(v) is type(a) for a in arg)


def _pattern(arg: Any, _: dict[str, Any]) -> Check:
    search = re.compile(arg).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _min_length(arg: Any, _: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, str) or len(v) >= arg


def _required(arg: Any, _: dict[str, Any]) -> Check:
    return lambda v: not isinstance(v, dict) or all(k in v for k in arg)


def _properties(arg: Any, _: dict[str, Any]) -> Check:
    props = {k: compile_schema(s) for k, s in arg.items()}
    return lambda v: not isinstance(v, dict) or all(props[k](x) for k, x in v.items() if k in props)


def _additional(arg: Any, schema: dict[str, Any]) -> Check:
    known = set(schema.get("properties") or {})
    if arg is False:
        return lambda v: not isinstance(v, dict) or all(k in known for k in v)
    rest = compile_schema(arg) if isinstance(arg, dict) else (lambda _v: True)
    return lambda v: not isinstance(v, dict) or all(rest(x) for k, x in v.items() if k not in known)


def _property_names(arg: Any, _: dict[str, Any]) -> Check:
    name = compile_schema(arg)
    return lambda v: not isinstance(v, dict) or all(name(k) for k in v)


def _items(arg: Any, _: dict[str, Any]) -> Check:
    item = compile_schema(arg)
    return lambda v: not isinstance(v, list) or all(item(x) for x in v)


_KEYWORDS: dict[str, Callable[[Any, dict[str, Any]], Check]] = {
    "type": _type, "enum": _enum, "pattern": _pattern, "minLength": _min_length, "required": _required,
    "properties": _properties, "additionalProperties": _additional, "propertyNames": _property_names,
    "items": _items,
}
