"""PHP-style bracket parameters (``filter[updated_at][from]=1``), as both CRMs accept them.

Both AmoCRM and Bitrix24 are PHP applications: query strings and form bodies are decoded the way
PHP's ``parse_str`` does it, and JSON output follows ``json_encode`` (a PHP array whose keys are
0..n-1 is a JSON list, an empty array is ``[]``). Clients depend on these details, so the fakes
reproduce them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, quote

_KEY = re.compile(r"^([^\[]+)((?:\[[^\]]*\])*)$")
_PART = re.compile(r"\[([^\]]*)\]")


def parse_pairs(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Fold ``(key, value)`` pairs with bracket keys into nested dicts.

    ``a[]=1&a[]=2`` appends, ``a[x][y]=1`` nests. Containers are dicts with string keys; use
    :func:`as_list` where a list is expected (``{"0": .., "1": ..}`` and lists read the same).
    """
    out: dict[str, Any] = {}
    for raw_key, value in pairs:
        m = _KEY.match(raw_key)
        if not m:
            out[raw_key] = value
            continue
        head, rest = m.group(1), m.group(2)
        parts = _PART.findall(rest) if rest else []
        node: Any = out
        key: str = head
        for part in parts:
            child = node.get(key) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
            key = part if part != "" else str(_next_index(node))
        node[key] = value
    return out


def parse_query(qs: str) -> dict[str, Any]:
    return parse_pairs(parse_qsl(qs, keep_blank_values=True))


def _next_index(node: dict[str, Any]) -> int:
    ints = [int(k) for k in node if k.isdigit()]
    return max(ints) + 1 if ints else 0


def as_list(value: Any) -> list[Any]:
    """A PHP array read as a list: lists pass through, dicts give their values in key order."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def php_array(value: dict[Any, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """What ``json_encode`` makes of a PHP array: empty or 0..n-1 keyed → list, else object."""
    if isinstance(value, list):
        return value
    if not value:
        return []
    keys = [str(k) for k in value]
    if keys == [str(i) for i in range(len(keys))]:
        return list(value.values())
    return {str(k): v for k, v in value.items()}


def build_query(params: dict[str, Any], prefix: str = "") -> str:
    """The inverse of :func:`parse_query` (PHP's ``http_build_query``)."""
    parts: list[str] = []

    def walk(value: Any, key: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}[{k}]")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")
        else:
            if value is None:
                value = ""
            elif value is True:
                value = "1"
            elif value is False:
                value = "0"
            parts.append(f"{quote(key, safe='[]')}={quote(str(value), safe='')}")

    for k, v in params.items():
        walk(v, f"{prefix}{k}")
    return "&".join(parts)
