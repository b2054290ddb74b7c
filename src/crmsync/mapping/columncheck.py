"""The canonical check of a whole batch, one field at a time (issue 18: mapping by columns).

:class:`CanonicalCheck` walks one record through nested closures, a Python call per keyword and
value. Here the schema is split once per entity into one check per field, run over the
field's column: exact-type tests in comprehensions, a pattern tried once per distinct text. It only
*flags* records: a flagged record is then checked by :class:`CanonicalCheck` itself, which gives the
same yes/no and the same first problem as a record mapped alone. Every rule here flags at least what
the record check would refuse (an exact type where it takes a subclass, any Decimal, any number
beyond a double); a schema shape it does not know makes it flag every record rather than skip a rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from .canonical import double_problem
from .fastcheck import _IGNORED, Unsupported, compile_schema

# One check per column: the positions (in that column) of the values that may fail.
ColumnRule = Callable[[Sequence[Any]], list[int]]

_EXACT: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "null": (type(None),),
    "array": (list,), "object": (dict,),
}
_SIMPLE = {"type", "pattern", "format", "enum", "minLength"}
_NESTED = {"items", "properties", "required", "additionalProperties"}
_NUMBERS = (int, float, Decimal)


def _flag_all(values: Sequence[Any]) -> list[int]:
    return list(range(len(values)))


def value_rule(schema: Any) -> ColumnRule:
    """The rule for one property's values; a schema fastcheck cannot compile flags every value.

    Lists and objects are checked a level at a time: the items of every list in the column make one
    column, each property of every object another, so a phone list costs comprehensions, not a tree
    of closures per phone."""
    if schema is False:
        return _flag_all
    if schema is True or schema == {}:
        return lambda values: []
    try:
        whole = compile_schema(schema)
    except Unsupported:
        return _flag_all
    keys = set(schema) - _IGNORED
    if not keys <= _SIMPLE | _NESTED:
        return lambda values: [i for i, v in enumerate(values) if not whole(v)]
    enum = schema.get("enum")
    if enum is not None:
        try:
            allowed = {(type(a), a) for a in enum}
        except TypeError:
            return lambda values: [i for i, v in enumerate(values) if not whole(v)]
    kinds = schema.get("type")
    names = kinds if isinstance(kinds, list) else [kinds] if kinds else []
    exact = frozenset(t for name in names for t in _EXACT[name]) if names else None
    search = re.compile(schema["pattern"]).search if "pattern" in schema else None
    shortest = schema.get("minLength")
    items = value_rule(schema["items"]) if "items" in schema else None
    props = {k: value_rule(v) for k, v in (schema.get("properties") or {}).items()}
    needed = frozenset(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    known = frozenset(schema.get("properties") or {})
    rest = value_rule(extra) if isinstance(extra, dict) else None
    objects = bool(props or needed or extra is False or rest is not None)

    def rule(values: Sequence[Any]) -> list[int]:
        bad = [i for i, v in enumerate(values) if type(v) not in exact] if exact is not None else []
        if search is not None:
            texts = {v for v in values if isinstance(v, str)}
            failing = {t for t in texts if search(t) is None}
            if failing:
                bad += [i for i, v in enumerate(values) if isinstance(v, str) and v in failing]
        if shortest is not None:
            bad += [i for i, v in enumerate(values) if isinstance(v, str) and len(v) < shortest]
        if enum is not None:
            for i, v in enumerate(values):
                try:
                    if (type(v), v) not in allowed:
                        bad.append(i)
                except TypeError:
                    bad.append(i)
        if items is not None:
            flat: list[Any] = []
            owner: list[int] = []
            for i, v in enumerate(values):
                if isinstance(v, list) and v:
                    flat += v
                    owner += [i] * len(v)
            bad += [owner[j] for j in items(flat)] if flat else []
        if objects:
            bad += _object_flags(values, props, needed, extra, known, rest)
        return bad

    return rule


def _object_flags(values: Sequence[Any], props: dict[str, ColumnRule], needed: frozenset[str], extra: Any,
                  known: frozenset[str], rest: ColumnRule | None) -> list[int]:
    at = [i for i, v in enumerate(values) if isinstance(v, dict)]
    if not at:
        return []
    bad = []
    if needed:
        bad += [i for i in at if not needed.issubset(values[i])]
    if extra is False:
        bad += [i for i in at if not known.issuperset(values[i])]
    elif rest is not None:
        others = [(i, x) for i in at for k, x in values[i].items() if k not in known]
        bad += [others[j][0] for j in rest([x for _, x in others])] if others else []
    for name, check in props.items():
        holders = [i for i in at if name in values[i]]
        if holders:
            bad += [holders[j] for j in check([values[i][name] for i in holders])]
    return bad


class ColumnCheck:
    """The batch form of a :class:`CanonicalCheck` for the fields one mapping pulls.

    ``fields``: the canonical field names in the mapper's order (``custom.<key>`` for custom values).
    :meth:`flags` returns, per column, the positions whose record must go through the record check.
    """

    def __init__(self, schema: dict[str, Any], fields: list[str], doubles: list[str], bounded: list[str]) -> None:
        self.rules: dict[str, ColumnRule] = {}
        self.required: frozenset[str] = frozenset()
        self.everything = False  # a schema shape this module does not split: every record takes the record check
        top = set(schema) - _IGNORED
        props = schema.get("properties") or {}
        if not top <= {"type", "properties", "additionalProperties", "required"} or "custom" in fields or (
                "type" in schema and schema["type"] != "object"):
            self.everything = True
            return
        self.required = frozenset(schema.get("required") or ())
        extra = schema.get("additionalProperties", True)
        custom_rules = self._custom_rules(props.get("custom"), [f[7:] for f in fields if f.startswith("custom.")],
                                          has_custom="custom" in props, extra=extra)
        if custom_rules is None:
            self.everything = True
            return
        for name in fields:
            if name.startswith("custom."):
                self.rules[name] = custom_rules[name[7:]]
            else:
                self.rules[name] = _both(value_rule(props.get(name, extra)),
                                         _double_rule if name in doubles else _finite_rule if name in bounded else None)

    @staticmethod
    def _custom_rules(schema: Any, keys: list[str], *, has_custom: bool, extra: Any) -> dict[str, ColumnRule] | None:
        if not keys:
            return {}
        if not has_custom:
            schema = extra
        if not isinstance(schema, dict) or not set(schema) - _IGNORED <= {
                "type", "properties", "additionalProperties", "propertyNames"}:
            return None
        kinds = schema.get("type", "object")
        if "object" not in (kinds if isinstance(kinds, list) else [kinds]):
            return None
        props = schema.get("properties") or {}
        rest = schema.get("additionalProperties", True)
        try:
            name_ok = compile_schema(schema.get("propertyNames") or {})
        except Unsupported:
            return None
        out = {}
        for key in keys:
            # A bad key fails every record that has it: the record check then says which.
            rule = value_rule(props.get(key, rest)) if name_ok(key) else _flag_all
            out[key] = _both(rule, _custom_number_rule)
        return out

    def flags(self, name: str, values: Sequence[Any]) -> list[int]:
        if self.everything:
            return _flag_all(values)
        return self.rules[name](values)

    def missing_required(self, record: dict[str, Any]) -> bool:
        return bool(self.required) and not self.required.issubset(record)


def _both(first: ColumnRule, second: ColumnRule | None) -> ColumnRule:
    if second is None:
        return first
    return lambda values: first(values) + second(values)


def _double_rule(values: Sequence[Any]) -> list[int]:
    return [i for i, v in enumerate(values) if isinstance(v, _NUMBERS) and double_problem(v)]


def _finite_rule(values: Sequence[Any]) -> list[int]:
    return [i for i, v in enumerate(values) if isinstance(v, float) and not math.isfinite(v)]


def _custom_number_rule(values: Sequence[Any]) -> list[int]:
    bad = []
    for i, v in enumerate(values):
        for item in v if isinstance(v, list) else (v,):
            if isinstance(item, _NUMBERS) and double_problem(item):
                bad.append(i)
                break
    return bad
