"""REST connectors (AmoCRM-style: a path per entity, pages, records under a JSON path) → dlt rest_api.

The connector spec is compiled into a ``rest_api`` resource config: its paginator, its "empty page"
status (AmoCRM's 204 needs a response action, or dlt fails on the empty body), the record selector,
and the incremental cursor with its overlap window (dlt's ``lag``), whose ``{cursor}`` placeholder
becomes dlt's ``{incremental.start_value}``. Records are ordered by id, not by the cursor: with
``updated_at >= cursor`` as the filter, an id order is stable while records change during a run, so
page pagination can neither skip nor repeat a record.
"""

from __future__ import annotations

from typing import Any

INITIAL = {"unix_seconds": 0, "iso8601": "1970-01-01T00:00:00+00:00"}


def paginator_config(spec: dict[str, Any]) -> Any:
    kind = spec.get("type")
    if kind == "page_number":
        if spec.get("size"):
            return short_page_paginator(spec.get("first_page", 1), spec.get("page_param", "page"), spec["size"])
        return {"type": "page_number", "base_page": spec.get("first_page", 1),
                "page_param": spec.get("page_param", "page"), "total_path": None}
    raise ValueError(f"paginator.type {kind!r} cannot be compiled to dlt rest_api (known: page_number)")


def short_page_paginator(base_page: int, page_param: str, size: int) -> Any:
    """dlt's page-number paginator that also stops on a page shorter than ``size``.

    dlt's own only stops on an empty page (AmoCRM: a 204), which costs one more request per entity
    per run. Most incremental runs read one short page per entity, so that extra request is a third
    of a no-op run's traffic — and at 7 requests/s, the difference between pacing and none.
    """
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    class ShortPageStops(PageNumberPaginator):
        def update_state(self, response: Any, data: Any = None) -> None:
            super().update_state(response, data)
            if data is not None and len(data) < size:
                self._has_next_page = False

    return ShortPageStops(base_page=base_page, page_param=page_param, total_path=None)


def resource_config(entity: str, spec: dict[str, Any], paginator: dict[str, Any]) -> dict[str, Any]:
    listing = spec["list"]
    params: dict[str, Any] = dict(listing.get("params") or {})
    if paginator.get("size_param"):
        params[paginator["size_param"]] = paginator["size"]
    endpoint: dict[str, Any] = {
        "path": listing["path"],
        "data_selector": listing["records"],
        "params": params,
        "paginator": paginator_config(paginator),
    }
    if paginator.get("empty_status"):
        endpoint["response_actions"] = [{"status_code": paginator["empty_status"], "action": "ignore"}]
    inc = spec.get("incremental")
    if inc:
        for key, value in inc["params"].items():
            params[key] = str(value).replace("{cursor}", "{incremental.start_value}")
        endpoint["incremental"] = {
            "cursor_path": inc["cursor"],
            "initial_value": INITIAL[inc.get("format", "unix_seconds")],
            "lag": inc.get("overlap_seconds", 0) or None,
        }
    return {
        "name": entity,
        "primary_key": listing.get("id_field", "id"),
        "write_disposition": "merge",
        "max_table_nesting": 0,  # nested CRM structures stay JSON columns: no child tables to normalise
        "endpoint": endpoint,
    }
