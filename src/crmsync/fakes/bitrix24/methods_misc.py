"""Reference data and small methods: users, statuses/stages, pipelines, ``profile``, ``server.time``."""

from __future__ import annotations

import copy
from typing import Any

from . import dates, filters
from .errors import ApiError
from .registry import METHODS, Call, Result, method

USER_FIELDS = {"ID": "int", "ACTIVE": "str", "NAME": "str", "LAST_NAME": "str", "EMAIL": "str",
               "WORK_POSITION": "str", "USER_TYPE": "str", "XML_ID": "str"}


def _read(row: dict[str, Any], key: str) -> Any:
    value = row.get(key)
    if isinstance(value, bool):
        return "Y" if value else "N"  # ACTIVE filters as Y/N or true
    return value


def _plain_resolver(kinds: dict[str, str]) -> filters.Resolver:
    def resolve(name: str) -> tuple[str, str] | None:
        key = name.upper()
        return (key, kinds[key]) if key in kinds else None
    return resolve


def _listing(call: Call, rows: list[dict[str, Any]], kinds: dict[str, str], raw_filter: dict[str, Any],
             raw_order: dict[str, Any], paged: bool = True) -> tuple[list[dict[str, Any]], int, int | None]:
    tz = call.app.config.timezone
    resolve = _plain_resolver(kinds)
    flt = {k: ("Y" if v is True else "N" if v is False else v) for k, v in raw_filter.items()}
    conds = filters.compile_filter(flt, resolve, tz)
    matched = [r for r in rows if filters.matches(r, conds, _read, tz)]
    matched = filters.order_rows(matched, filters.parse_order(raw_order, resolve), _read, tz, "ID")
    if not paged:
        return matched, len(matched), None
    return filters.page(matched, call.params.get("start"), call.app.config.page_size)


@method("user.get")
def user_get(call: Call) -> Result:
    # user.get takes its filter as FILTER or as top-level field names (``{"ID": 1}``), and SORT/ORDER.
    flt = dict(call.params.object("filter"))
    for key, value in call.params.raw.items():
        if str(key).upper().lstrip("!<>=%@") in USER_FIELDS:
            flt[str(key).upper()] = value
    sort = call.params.get("sort")
    order = {str(sort): call.params.get("order", "ASC")} if isinstance(sort, str) else {}
    rows = list(call.app.tables["users"].rows.values())
    chunk, total, nxt = _listing(call, rows, USER_FIELDS, flt, order)
    return Result(copy.deepcopy(chunk), total, nxt)


@method("crm.status.list")
def status_list(call: Call) -> Result:
    kinds = {"ID": "int", "ENTITY_ID": "str", "STATUS_ID": "str", "NAME": "str", "SORT": "int", "SYSTEM": "str",
             "CATEGORY_ID": "int", "SEMANTICS": "str"}
    # Not paged on the real portal: every matching row comes back at once.
    rows, total, _ = _listing(call, call.app.portal.statuses, kinds, call.params.object("filter"),
                              call.params.object("order") or {"SORT": "ASC"}, paged=False)
    return Result(copy.deepcopy(rows), total)


@method("crm.category.list")
def category_list(call: Call) -> Result:
    if str(call.params.get("entityTypeId", "")).strip() != "2":
        raise ApiError(400, "NOT_FOUND", "Smart process not found")
    cats = copy.deepcopy(call.app.portal.categories)
    return Result({"categories": cats}, len(cats))


@method("crm.category.get")
def category_get(call: Call) -> Result:
    for cat in call.app.portal.categories:
        if str(cat["id"]) == str(call.params.get("id")):
            return Result({"category": copy.deepcopy(cat)})
    raise ApiError(400, "NOT_FOUND", "Category not found")


@method("profile")
def profile(call: Call) -> Result:
    u = call.app.tables["users"].rows.get(call.user_id) or {}
    offset = dates.parse_offset(call.app.config.timezone).utcoffset(None)
    return Result({"ID": str(call.user_id), "ADMIN": call.user_id == 1, "NAME": u.get("NAME"),
                   "LAST_NAME": u.get("LAST_NAME"), "PERSONAL_GENDER": "", "PERSONAL_PHOTO": None,
                   "TIME_ZONE": "", "TIME_ZONE_OFFSET": int(offset.total_seconds()) if offset else 0})


@method("server.time")
def server_time(call: Call) -> Result:
    return Result(dates.iso(call.app.clock.now(), call.app.config.timezone))


@method("methods", "scope")
def methods_list(call: Call) -> Result:
    if call.method == "scope":
        return Result(["crm", "task", "user"])
    return Result(sorted(m for m in METHODS if m not in ("methods", "scope")))
