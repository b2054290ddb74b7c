"""``POST /crm/v3/objects/{type}/search``: filter groups (OR of ANDs), one sort, offset paging and the
10,000-result window.

Values compare by the property's type: numbers as numbers, dates and datetimes as instants (a
filter value may be milliseconds or RFC 3339), strings case-insensitively. ``paging.next.after`` is an
offset; asking for a page at or past 10,000 is the documented 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from .errors import ApiError, validation
from .schema import DATE, DATETIME, NUMBER, SEARCHABLE, Property
from .values import parse_ms

MAX_LIMIT = 200
WINDOW = 10_000
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")


class Limits:
    def __init__(self, groups: int, per_group: int, total: int) -> None:
        self.groups, self.per_group, self.total = groups, per_group, total


def _key(prop: Property | None, text: str | None) -> Any:
    if text is None:
        return None
    if prop is not None and prop.type == NUMBER:
        try:
            return float(text)
        except ValueError:
            return None
    if prop is not None and prop.type in (DATE, DATETIME):
        return parse_ms(text)
    return text.lower()


def _filter(spec: Any, lookup: Callable[[str], Property | None], dead: frozenset[str]
            ) -> Callable[[Callable[[str], str | None]], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise validation("each filter needs a propertyName and an operator")
    name, op = spec["propertyName"], str(spec.get("operator", "EQ")).upper()
    if op not in OPERATORS:
        raise validation(f"Invalid input JSON on line 1: Cannot deserialize value of type `FilterOperatorEnum` "
                         f"from String \"{op}\": not one of the values accepted for Enum class: "
                         f"[{', '.join(OPERATORS)}]")
    prop = lookup(name)
    if prop is None:
        raise validation(f"Property \"{name}\" does not exist", subCategory="PROPERTY_DOESNT_EXIST")
    if name in dead:
        return lambda get: False

    def one(v: Any) -> Any:
        return _key(prop, str(v).lower() if isinstance(v, bool) else str(v))

    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = op == "HAS_PROPERTY"
        return lambda get: (get(name) not in (None, "")) == want
    if op in ("IN", "NOT_IN"):
        values = spec.get("values")
        if not isinstance(values, list):
            raise validation(f"operator {op} needs a list of values")
        keys = {one(v) for v in values}
        inside = op == "IN"
        if prop.field_type == "checkbox":  # a multi-select matches on any of its chosen options
            return lambda get: (bool(keys & {_key(prop, t) for t in (get(name) or "").split(";") if t})) == inside
        return lambda get: (get(name) is not None and _key(prop, get(name)) in keys) == inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = re.compile("^" + re.escape(str(spec.get("value", "")).lower()).replace(r"\*", ".*") + "$")
        inside = op == "CONTAINS_TOKEN"
        return lambda get: any(pattern.match(t) for t in re.split(r"[\s;,@.]+", (get(name) or "").lower())
                               if t) == inside
    if "value" not in spec:
        raise validation(f"operator {op} needs a value")
    low = one(spec["value"])
    high = one(spec.get("highValue")) if op == "BETWEEN" else None
    if low is None or (op == "BETWEEN" and high is None):
        raise validation(f"{spec.get('value')!r} is not a valid value for property {name} ({prop.type})")

    def test(get: Callable[[str], str | None]) -> bool:
        have = _key(prop, get(name))
        if have is None:
            return op == "NEQ"
        return {"EQ": have == low, "NEQ": have != low, "LT": have < low, "LTE": have <= low, "GT": have > low,
                "GTE": have >= low, "BETWEEN": high is not None and low <= have <= high}[op]
    return test


def run(body: Any, obj: str, rows: Iterable[dict[str, Any]], lookup: Callable[[str], Property | None],
        getter: Callable[[dict[str, Any], str], str | None], limits: Limits, dead: frozenset[str] = frozenset()
        ) -> tuple[list[dict[str, Any]], int, int | None]:
    """(page rows, total matches, next offset or None); filters on a ``dead`` property match nothing."""
    return page(body, select(body, obj, rows, lookup, getter, limits, dead))


def page(body: dict[str, Any], matched: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int, int | None]:
    limit = _int(body.get("limit", 10), "limit")
    if not 0 < limit <= MAX_LIMIT:
        raise validation(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    offset = _int(body.get("after", 0) or 0, "after")
    if offset >= WINDOW:
        raise ApiError(400, f"Search results are limited to {WINDOW} total results for any given query; "
                       f"after={offset} is past the window. Narrow the query (for example by "
                       "hs_lastmodifieddate) instead of paging further.", "VALIDATION_ERROR")
    rows = matched[offset: offset + limit]
    return rows, len(matched), offset + limit if offset + limit < len(matched) else None


def select(body: Any, obj: str, rows: Iterable[dict[str, Any]], lookup: Callable[[str], Property | None],
           getter: Callable[[dict[str, Any], str], str | None], limits: Limits, dead: frozenset[str] = frozenset()
           ) -> list[dict[str, Any]]:
    """Every record the query matches, in its sort order (paging aside)."""
    if not isinstance(body, dict):
        raise validation("The request body must be a JSON object")
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list) or len(groups) > limits.groups:
        raise validation(f"Too many filter groups: at most {limits.groups} are allowed")
    tests = []
    for group in groups:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise validation("each filterGroup needs a list of filters")
        if len(filters) > limits.per_group:
            raise validation(f"Too many filters in a group: at most {limits.per_group} are allowed")
        tests.append([_filter(f, lookup, dead) for f in filters])
    if sum(len(t) for t in tests) > limits.total:
        raise validation(f"Too many filters: at most {limits.total} in all groups are allowed")
    query = str(body.get("query") or "").strip().lower()
    matched = []
    for row in rows:
        def get(name: str, row: dict[str, Any] = row) -> str | None:
            return getter(row, name)
        if tests and not any(all(t(get) for t in group) for group in tests):
            continue
        if query and not any(query in (get(n) or "").lower() for n in SEARCHABLE[obj]):
            continue
        matched.append(row)
    return _sorted(matched, body.get("sorts") or [], lookup, getter)


def _int(raw: Any, name: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise validation(f"{name} must be an integer, not {raw!r}") from None


def _sorted(rows: list[dict[str, Any]], sorts: Any, lookup: Callable[[str], Property | None],
            getter: Callable[[dict[str, Any], str], str | None]) -> list[dict[str, Any]]:
    rows = sorted(rows, key=lambda r: r["id"])  # ties (and no sort at all) in id order
    if not isinstance(sorts, list):
        raise validation("sorts must be a list")
    for sort in reversed(sorts):
        if isinstance(sort, str):  # the short form: "-createdate" or "createdate"
            direction = "DESCENDING" if sort.startswith("-") else "ASCENDING"
            sort = {"propertyName": sort.lstrip("-"), "direction": direction}
        name = sort.get("propertyName") if isinstance(sort, dict) else None
        prop = lookup(str(name))
        if prop is None:
            raise validation(f"Property \"{name}\" does not exist", subCategory="PROPERTY_DOESNT_EXIST")
        desc = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
        present = [r for r in rows if _key(prop, getter(r, prop.name)) is not None]
        absent = [r for r in rows if _key(prop, getter(r, prop.name)) is None]
        present.sort(key=lambda r: _key(prop, getter(r, prop.name)), reverse=desc)
        rows = present + absent  # records without a value come last either way
    return rows
