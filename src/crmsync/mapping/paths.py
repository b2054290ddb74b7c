"""Dotted paths into raw records (``_embedded.contacts``): read, and build write payloads."""

from __future__ import annotations

from typing import Any

MISSING = object()  # the record does not carry this key at all (not even null)


def get_path(record: Any, path: str) -> Any:
    node = record
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
