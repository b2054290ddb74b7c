"""Compare JSON documents by shape: keys, JSON types and nesting, not values."""

from __future__ import annotations

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


def shape_diff(expected: Any, actual: Any, path: str = "$", nullable: frozenset[str] = frozenset()) -> list[str]:
    """Differences of ``actual`` from the shape of ``expected``.

    Every key of an expected object must be present with the same JSON type; extra keys are
    allowed (the reference examples are abbreviated). An expected ``null`` accepts any value;
    an actual ``null`` is accepted only at paths listed in ``nullable``. Each element of an
    actual array is compared with the first element of the expected array.
    """
    if expected is None:
        return []
    if actual is None:
        return [] if _generic(path) in nullable else [f"{path}: expected {json_type(expected)}, got null"]
    et, at = json_type(expected), json_type(actual)
    if et != at and not (et == "number" and at == "integer"):
        return [f"{path}: expected {et}, got {at}"]
    out: list[str] = []
    if et == "object":
        for key, sub in expected.items():
            if key not in actual:
                out.append(f"{path}.{key}: missing")
            else:
                out.extend(shape_diff(sub, actual[key], f"{path}.{key}", nullable))
    elif et == "array" and expected:
        for i, item in enumerate(actual):
            out.extend(shape_diff(expected[0], item, f"{path}[{i}]", nullable))
    return out


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


def assert_same_shape(expected: Any, actual: Any, nullable: tuple[str, ...] = ()) -> None:
    diffs = shape_diff(expected, actual, nullable=frozenset(nullable))
    assert not diffs, "shape differs from the reference:\n  " + "\n  ".join(diffs[:30])
