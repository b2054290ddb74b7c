"""List reads: ``filter[...]``, ``order[...]``, ``query``, page/limit and the HAL page around them.

Query strings arrive already folded from PHP brackets (``filter[id][]=1`` → ``{"filter": {"id":
{"0": "1"}}}``). Every list answers 204 with no body when nothing is on the requested page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any
from urllib.parse import quote, urlencode

from crmsync.phpquery import as_list

from ..server import Request, Response
from .errors import ItemErrors, problem, validation_failed

HAL = "application/hal+json"
MAX_LIMIT = 250
DEFAULT_LIMIT = 50

ORDER_FIELDS = {
    "leads": ("created_at", "updated_at", "id"),
    "contacts": ("updated_at", "id", "created_at"),
    "companies": ("updated_at", "id", "created_at"),
    "tasks": ("created_at", "complete_till", "id"),
}
RANGE_FIELDS = {
    "leads": ("created_at", "updated_at", "closed_at", "price"),
    "contacts": ("created_at", "updated_at"),
    "companies": ("created_at", "updated_at"),
    "tasks": ("created_at", "updated_at"),
}
ID_FIELDS = {
    "leads": ("responsible_user_id", "created_by", "updated_by", "pipeline_id"),
    "contacts": ("responsible_user_id", "created_by", "updated_by"),
    "companies": ("responsible_user_id", "created_by", "updated_by"),
    "tasks": ("responsible_user_id", "created_by", "updated_by", "entity_id"),
}


class BadQuery(ValueError):
    """A list parameter the API rejects; ``response`` is what the real API answers."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _query_error(path: str, detail: str) -> BadQuery:
    errors = ItemErrors("0")
    errors.add("InvalidType", path, detail)
    return BadQuery(validation_failed([errors]))


def ints(value: Any, path: str) -> list[int]:
    """A scalar, a comma list or a PHP array of ids, as ints."""
    out = []
    for item in as_list(value):
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            if not re.fullmatch(r"-?\d+", part):
                raise _query_error(path, f"This value should be of type int, got {part!r}.")
            out.append(int(part))
    return out


def strings(value: Any) -> list[str]:
    return [p.strip() for item in as_list(value) for p in str(item).split(",") if p.strip()]


def time_range(value: Any, path: str) -> tuple[int | None, int | None]:
    """``{from,to}`` (inclusive) or a bare value, which means "from"."""
    if isinstance(value, dict) and ("from" in value or "to" in value):
        lo = ints(value.get("from"), f"{path}.from") if value.get("from") not in (None, "") else []
        hi = ints(value.get("to"), f"{path}.to") if value.get("to") not in (None, "") else []
        return (lo[0] if lo else None, hi[0] if hi else None)
    got = ints(value, path)
    return (got[0] if got else None, None)


def page_and_limit(request: Request, max_limit: int, over_max: str) -> tuple[int, int]:
    q = request.query
    try:
        page = max(1, int(str(q.get("page") or 1)))
        limit = int(str(q.get("limit") or DEFAULT_LIMIT))
    except ValueError:
        raise BadQuery(problem(400, "page and limit must be integers")) from None
    if limit <= 0:
        limit = DEFAULT_LIMIT
    if limit > max_limit:
        if over_max == "error":
            raise BadQuery(problem(422, f"Limit {max_limit} per page"))
        limit = max_limit
    return page, limit


def _href(request: Request, page: int, limit: int) -> str:
    pairs = [(k, v) for k, v in request.query_pairs if k not in ("page", "limit")]
    pairs += [("page", str(page)), ("limit", str(limit))]
    return f"{request.base_url}{request.path}?{urlencode(pairs, safe='[],', quote_via=quote)}"


def hal_page(request: Request, items: list[dict[str, Any]], key: str, max_limit: int, over_max: str,
             next_link: str, render: Callable[[dict[str, Any]], dict[str, Any]],
             encoded: Callable[[dict[str, Any]], bytes] | None = None) -> Response:
    """Slice ``items`` for the requested page; 204 when the page is empty. ``encoded``: a record as the
    JSON bytes ``render`` and :meth:`Response.json` would make of it (kept by the caller between
    pages), so a page is joined from them rather than rendered and serialised again."""
    page, limit = page_and_limit(request, max_limit, over_max)
    chunk = items[(page - 1) * limit: page * limit]
    if not chunk:
        return Response.empty(204)
    links: dict[str, Any] = {"self": {"href": _href(request, page, limit)}}
    more = len(chunk) == limit if next_link == "when_full" else len(items) > page * limit
    if more:
        links["next"] = {"href": _href(request, page + 1, limit)}
    if page > 1:
        links["prev"] = {"href": _href(request, page - 1, limit)}
    if encoded is None:
        return Response.json(200, {"_page": page, "_links": links, "_embedded": {key: [render(r) for r in chunk]}},
                             content_type=HAL)
    head = Response.json(200, {"_page": page, "_links": links}).body[:-1]
    body = b"".join((head, b',"_embedded":{', json.dumps(key).encode(), b":[",
                     b",".join(encoded(r) for r in chunk), b"]}}"))
    return Response(200, body, {"Content-Type": f"{HAL}; charset=utf-8"})


# -- filters ---------------------------------------------------------------------------------------
def _text_of(row: dict[str, Any]) -> Iterable[str]:
    for k in ("name", "first_name", "last_name", "text"):
        if isinstance(row.get(k), str):
            yield row[k]
    for entry in row.get("custom_fields_values") or []:
        for v in entry["values"]:
            if v.get("value") is not None:
                yield str(v["value"])


def matches_query(row: dict[str, Any], query: str) -> bool:
    """Full-text search as AmoCRM does it: substrings, and phone numbers by their digits."""
    needle = query.strip().lower()
    digits = re.sub(r"\D", "", needle)
    for text in _text_of(row):
        if needle in text.lower():
            return True
        if len(digits) >= 5 and len(digits) == len(re.sub(r"[\s()+\-.]", "", needle)) \
                and digits in re.sub(r"\D", "", text):
            return True
    return False


def filter_rows(entity: str, rows: Iterable[dict[str, Any]], filters: dict[str, Any],
                ignore: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Apply ``filter[...]``; names in ``ignore`` are dropped silently (accounts without the filter feature)."""
    preds: list[Callable[[dict[str, Any]], bool]] = []
    for name, value in filters.items():
        if name in ignore or value in ("", None):
            continue
        path = f"filter.{name}"
        if name == "id" or name in ID_FIELDS.get(entity, ()):
            wanted = set(ints(value, path))
            preds.append(lambda r, n=name, s=wanted: r.get(n) in s)
        elif name in RANGE_FIELDS.get(entity, ()):
            lo, hi = time_range(value, path)
            preds.append(lambda r, n=name, lo=lo, hi=hi: r.get(n) is not None
                         and (lo is None or r[n] >= lo) and (hi is None or r[n] <= hi))
        elif name == "name":
            names = set(strings(value))
            preds.append(lambda r, s=names: r.get("name") in s)
        elif entity == "leads" and name == "statuses":
            pairs = {(int(p.get("pipeline_id", 0) or 0), int(p.get("status_id", 0) or 0))
                     for p in as_list(value) if isinstance(p, dict)}
            preds.append(lambda r, s=pairs: (r["pipeline_id"], r["status_id"]) in s
                         or (0, r["status_id"]) in s)
        elif entity == "tasks" and name == "is_completed":
            done = str(value).lower() in ("1", "true", "y")
            preds.append(lambda r, d=done: r["is_completed"] is d)
        elif entity == "tasks" and name == "entity_type":
            kinds = set(strings(value))
            preds.append(lambda r, s=kinds: r["entity_type"] in s)
        elif entity == "tasks" and name == "task_type":
            types = set(ints(value, path))
            preds.append(lambda r, s=types: r["task_type_id"] in s)
        # Unknown filter names are ignored, as the real API does.
    rows = list(rows)
    for pred in preds:  # one pass per filter: a page of a 100k-record listing asks for a full scan
        rows = [r for r in rows if pred(r)]
    return rows


def order_rows(entity: str, rows: list[dict[str, Any]], order: Any, strict: bool) -> list[dict[str, Any]]:
    """Sort by ``order[field]=asc|desc`` (default id asc); ties keep id order so pages are stable."""
    field, direction = "id", "asc"
    if isinstance(order, dict) and order:
        field, direction = next(iter(order.items()))
        direction = str(direction).lower()
        allowed = ORDER_FIELDS.get(entity, ("id",))
        if field not in allowed or direction not in ("asc", "desc"):
            if strict:
                raise _query_error(f"order.{field}", f"Order by {field!r} {direction!r} is not supported; "
                                                     f"allowed: {', '.join(allowed)} with asc or desc.")
            field, direction = "id", "asc"
    rows = sorted(rows, key=itemgetter("id"))
    if field != "id" or direction == "desc":
        rows.sort(key=lambda r: r.get(field) or 0, reverse=direction == "desc")
    return rows
