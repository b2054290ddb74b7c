"""List semantics shared by every ``*.list`` method: prefix filters, ordering and 50-row pages.

Bitrix24 puts the operator in front of the filter key (``>=DATE_MODIFY``, ``!@STAGE_ID``, ``%TITLE``).
Values are compared by the field's kind — numbers as numbers, dates as moments in time (ISO with
an offset, ``YYYY-MM-DD``, ``DD.MM.YYYY``), strings case-insensitively like MySQL's collation — and a
list-valued field (multi-fields, multiple user fields, ``UF_CRM_TASK``) matches if any element does.
Everything here is pure: callers say how to find a field (``resolve``) and read a value (``read``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmsync.phpquery import as_list

from . import dates
from .errors import ApiError

# Longest first, so ``>=`` is not read as ``>`` on a field named ``=X``.
OPERATORS = ("!=%", "!%=", "!%", "=%", "%=", ">=", "<=", "!=", "!@", "><", ">", "<", "@", "!", "%", "=")
NEGATED = {"!", "!=", "!@", "!%", "!=%", "!%="}

Resolver = Callable[[str], "tuple[str, str] | None"]  # filter name → (storage key, kind)
Reader = Callable[[dict[str, Any], str], Any]


def split_key(key: str) -> tuple[str, str]:
    """``">=DATE_MODIFY"`` → ``(">=", "DATE_MODIFY")``; no prefix means ``=``."""
    key = key.strip()
    for op in OPERATORS:
        if key.startswith(op) and len(key) > len(op):
            return op, key[len(op):]
    return "=", key


@dataclass
class Condition:
    op: str
    key: str
    kind: str
    values: list[Any]
    pattern: re.Pattern[str] | None = None


def typed(value: Any, kind: str, tz: str) -> Any:
    """A stored or filter value as the thing it compares as; ``None`` for empty or unreadable."""
    if value is None or value == "" or value is False:
        return None
    if kind == "int":
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):  # inf has no integer
            return None
    if kind == "float":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if kind == "date":
        return dates.parse(str(value), tz)
    return str(value).casefold()


def compile_filter(raw: dict[str, Any] | None, resolve: Resolver, tz: str,
                   strict: bool = False) -> list[Condition]:
    """Turn a ``filter`` parameter into conditions; unknown fields are skipped (legacy) or an error (``strict``)."""
    out: list[Condition] = []
    for raw_key, raw_value in (raw or {}).items():
        op, name = split_key(str(raw_key))
        found = resolve(name)
        if found is None:
            if strict:
                raise ApiError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{name}' is not allowed in filter")
            continue
        key, kind = found
        values = as_list(raw_value) if isinstance(raw_value, (list, dict)) else [raw_value]
        cond = Condition(op, key, "str" if kind == "multi" else kind, [])
        if op in ("%", "!%", "=%", "%=", "!=%", "!%="):
            text = str(values[0] if values else "")
            cond.pattern = _like(text, explicit=op not in ("%", "!%"))
        else:
            cond.values = [typed(v, cond.kind, tz) for v in values]
        out.append(cond)
    return out


def _like(text: str, explicit: bool) -> re.Pattern[str]:
    if not explicit:
        return re.compile(re.escape(text.casefold()))
    parts = [re.escape(p) for p in text.casefold().split("%")]
    return re.compile("^" + ".*".join(parts) + "$", re.S)


def matches(record: dict[str, Any], conditions: Iterable[Condition], read: Reader, tz: str) -> bool:
    return all(_match(c, read(record, c.key), tz) for c in conditions)


def _match(c: Condition, stored: Any, tz: str) -> bool:
    elements = stored if isinstance(stored, list) else [stored]
    if c.pattern is not None:
        hit = any(v is not None and c.pattern.search(str(v).casefold()) for v in elements)
        return not hit if c.op in NEGATED else hit
    seen = [typed(v, c.kind, tz) for v in elements] or [None]
    if c.op in ("=", "!", "!=", "@", "!@"):
        wanted = c.values or [None]
        hit = any(v in wanted for v in seen)
        return not hit if c.op in NEGATED else hit
    bound = c.values[0] if c.values else None
    if c.op == "><" and len(c.values) >= 2:
        lo, hi = c.values[0], c.values[1]
        return any(v is not None and lo is not None and hi is not None and lo <= v <= hi for v in seen)
    if bound is None:
        return False
    compare = {">": lambda a: a > bound, ">=": lambda a: a >= bound,
               "<": lambda a: a < bound, "<=": lambda a: a <= bound}.get(c.op)
    if compare is None:
        return False
    return any(v is not None and _comparable(v, bound) and compare(v) for v in seen)


def _comparable(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return isinstance(a, datetime) and isinstance(b, datetime)
    return isinstance(a, str) == isinstance(b, str)


def parse_order(raw: dict[str, Any] | None, resolve: Resolver) -> list[tuple[str, str, bool]]:
    """``{"DATE_MODIFY": "ASC"}`` → ``[(key, kind, descending)]``; unknown fields are ignored."""
    out = []
    for name, direction in (raw or {}).items():
        found = resolve(str(name).strip())
        if found is not None:
            out.append((found[0], found[1], str(direction).strip().upper() == "DESC"))
    return out


def order_rows(rows: list[dict[str, Any]], order: list[tuple[str, str, bool]], read: Reader, tz: str,
               id_key: str) -> list[dict[str, Any]]:
    """Stable sort by ``order`` then by id ascending (unless id is ordered), NULLs first as MySQL does."""
    keys = list(order)
    if not any(k == id_key for k, _, _ in keys):
        keys.append((id_key, "int", False))
    out = list(rows)
    for key, kind, desc in reversed(keys):
        def sort_key(row: dict[str, Any], key: str = key, kind: str = kind) -> tuple[bool, Any]:
            value = read(row, key)
            if isinstance(value, list):
                value = value[0] if value else None
            v = typed(value, "str" if kind == "multi" else kind, tz)
            return (v is not None, v if v is not None else 0)
        out.sort(key=sort_key, reverse=desc)
    return out


def page(rows: list[Any], start: Any, size: int) -> tuple[list[Any], int, int | None]:
    """One page from ``start``: (rows, total, next). ``start=-1`` skips the count: total 0, no next."""
    try:
        offset = int(float(start)) if start not in (None, "") else 0
    except (TypeError, ValueError):
        offset = 0
    if offset < 0:
        return rows[:size], 0, None
    chunk = rows[offset:offset + size]
    nxt = offset + size if offset + size < len(rows) else None
    return chunk, len(rows), nxt
