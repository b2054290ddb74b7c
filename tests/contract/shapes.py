"""Compare JSON documents by shape: keys, JSON types and nesting, not values."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_diff(expected: Any, actual: Any, path: str = "$", *, nullable: frozenset[str] = frozenset(),
               extra_keys_ok: Callable[[str], bool] = lambda path: True,
               key: Callable[[str], str] = lambda k: k,
               any_number: Callable[[str], bool] = lambda path: False) -> list[str]:
    """Differences of ``actual`` from the shape of ``expected``.

    Every key of an expected object must be present with the same JSON type. Extra keys are
    allowed where ``extra_keys_ok(path)`` (by default everywhere: documented examples are
    abbreviated). An expected ``null`` accepts any value; an actual ``null`` is accepted only at
    paths listed in ``nullable`` (indexes written ``[]``). Each element of an actual array is
    compared with the first element of the expected array. ``key`` normalises object keys before
    comparing (e.g. custom-field names); where ``any_number(path)``, integer and float are one type.
    """
    def walk(exp: Any, act: Any, path: str) -> list[str]:
        if exp is None:
            return []
        if act is None:
            return [] if _generic(path) in nullable else [f"{path}: expected {json_type(exp)}, got null"]
        et, at = json_type(exp), json_type(act)
        numeric = {et, at} <= {"integer", "number"}
        if et != at and not (numeric and (et == "number" or any_number(path))):
            return [f"{path}: expected {et}, got {at} ({str(act)[:60]})"]
        out: list[str] = []
        if et == "object":
            e = {key(k): v for k, v in exp.items()}
            a = {key(k): v for k, v in act.items()}
            out += [f"{path}.{k}: missing" for k in e if k not in a]
            if not extra_keys_ok(path):
                out += [f"{path}.{k}: unexpected" for k in a if k not in e]
            for k, sub in e.items():
                if k in a:
                    out += walk(sub, a[k], f"{path}.{k}")
        elif et == "array" and exp:
            for i, item in enumerate(act):
                out += walk(exp[0], item, f"{path}[{i}]")
        return out

    return walk(expected, actual, path)


def _generic(path: str) -> str:
    """``$.a[3].b`` → ``$.a[].b``, so nullable paths need not name indexes."""
    out, skip = [], False
    for ch in path:
        if ch == "[":
            out.append("[")
            skip = True
        elif ch == "]":
            out.append("]")
            skip = False
        elif not skip:
            out.append(ch)
    return "".join(out)


def assert_same_shape(expected: Any, actual: Any, nullable: tuple[str, ...] = (), **options: Any) -> None:
    diffs = shape_diff(expected, actual, nullable=frozenset(nullable), **options)
    assert not diffs, "shape differs from the reference:\n  " + "\n  ".join(diffs[:30])
