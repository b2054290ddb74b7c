"""Dotted paths into raw records (``_embedded.contacts``): read, and build write payloads."""

from __future__ import annotations

from typing import Any

MISSING = object()  # the record does not carry this key at all (not even null)


def get_path(record: Any, path: str) -> Any:
    """The value at ``path``: dict keys (a key may start with a digit), or a list's item by its number."""
    node = record
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def set_path(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
