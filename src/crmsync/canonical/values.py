"""Comparing canonical values the way JSON sees them, whichever way DuckDB or a CRM spelled them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

_AS_IS = frozenset({str, int, bool, type(None)})  # most values: nothing to convert (checked first, by exact type)


def plain(value: Any) -> Any:
    """A canonical value as JSON has it (DuckDB hands back dates, timestamps, Decimals, floats for DOUBLE).

    A timestamp is the canonical text, UTC to the second (``2026-01-01T00:00:00Z``): the resolution
    both CRMs keep, so ``updated_at = now()`` and the value a CRM reads back compare equal. An amount
    is the number JSON would carry (whole ones as integers)."""
    if type(value) in _AS_IS:
        return value
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.timezone.utc) if value.tzinfo else value).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def same(a: Any, b: Any) -> bool:
    if type(a) not in _AS_IS or type(b) not in _AS_IS:
        if a == b:  # equal values are equal as JSON has them: no need to convert whole lists and objects
            return True
        a, b = plain(a), plain(b)
    if isinstance(a, str) and isinstance(b, str) and a != b:
        if "T" not in a or "T" not in b:  # not two instants (as _instant would find, without raising)
            return False
        try:  # the same instant written two ways ("…Z" / "…+00:00" / another offset)
            return _instant(a) == _instant(b)
        except ValueError:
            return False
    return a == b


def _instant(text: str) -> dt.datetime:
    if "T" not in text:
        raise ValueError(text)
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def get_field(record: dict[str, Any] | None, name: str) -> Any:
    """A canonical field by name; ``custom.<key>`` reaches into the ``custom`` object."""
    record = record or {}
    if name.startswith("custom."):
        custom = record.get("custom")
        return custom.get(name[7:]) if isinstance(custom, dict) else None
    return record.get(name)


def put_field(record: dict[str, Any], name: str, value: Any) -> None:
    if name.startswith("custom."):
        custom = record.get("custom")
        record["custom"] = {**(custom if isinstance(custom, dict) else {}), name[7:]: value}
    else:
        record[name] = value
