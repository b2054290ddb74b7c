"""A connector's call blocks (``list``, a metadata entry, a deletion feed) as :class:`~.paginators.Call` s.

A block names its target as ``path`` (REST: relative to the base URL, ``method`` the HTTP verb,
GET by default) or ``method`` alone (RPC: the method name after the base URL, POSTed with its
parameters as the JSON body). A block may carry a ``paginator`` of its own; otherwise the
connector's applies.
"""

from __future__ import annotations

from typing import Any

from .paginators import Call, Paginator, make_paginator


def call_for(block: dict[str, Any], base_url: str, *, where: str, params: dict[str, Any] | None = None,
             records: str | None = None) -> Call:
    """The call ``block`` describes; ``params`` add to (and override) the block's own."""
    base = base_url.rstrip("/")
    if "path" in block:
        url, verb = f"{base}/{str(block['path']).lstrip('/')}", str(block.get("method") or "GET").upper()
    else:
        url, verb = f"{base}/{block['method']}", "POST"
    merged = {**(block.get("params") or {}), **(params or {})}
    id_field = block.get("record_id_field") or block.get("id_field") or "id"
    return Call(url=url, verb=verb, params=merged, records=records if records is not None else block.get("records"),
                where=where, id_field=id_field, filter_id_field=block.get("id_field"))


def paginator_for(connector: dict[str, Any], block: dict[str, Any] | None = None) -> Paginator:
    """The paginator of ``block`` (its own ``paginator``, else the connector's)."""
    chosen = (block or {}).get("paginator") or connector.get("paginator")
    if not chosen:
        raise ValueError(f"connector {connector.get('name')}: no paginator for this call and none for the connector")
    return make_paginator(chosen)


def rendered(template: Any, cursor: Any) -> Any:
    """``template`` with every ``{cursor}`` in its strings replaced by ``cursor``: a string stays a
    string, and a value that is only ``{cursor}`` takes the cursor's own type."""
    if isinstance(template, str):
        return cursor if template == "{cursor}" and not isinstance(cursor, str) else template.replace(
            "{cursor}", str(cursor))
    if isinstance(template, dict):
        return {k: rendered(v, cursor) for k, v in template.items()}
    if isinstance(template, list):
        return [rendered(v, cursor) for v in template]
    return template
