"""Finding records deleted in the CRM, so canonical rows get ``deleted_at`` instead of lingering.

Three ways, chosen by the connector's ``deletes.type``, each walked by a paginator like any listing:

* ``events``: a feed of deletion events newer than the feed cursor kept in ``sync.cursors``
  (AmoCRM's ``*_deleted`` events);
* ``id_scan``: no deleted flag and no feed: list every id that still exists (the entity's own
  listing, asking only for ids where it can) and compare with the ids we hold (Bitrix24);
* ``tombstones``: a listing of deleted (archived) records, e.g. ``archived=true`` (HubSpot).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from .calls import call_for, paginator_for, rendered
from .paginators import records_at, value_at, walk
from .storable import loads_exact


def _rows(connector: dict[str, Any], block: dict[str, Any], session: Any, base_url: str, where: str,
          params: dict[str, Any] | None = None) -> Any:
    call = call_for(block, base_url, where=where, params=params)
    for _, page in walk(paginator_for(connector, block), session, call):
        yield from page if isinstance(page, list) else records_at(loads_exact(page), call.records)


def deleted_since(spec: dict[str, Any], connector: dict[str, Any], session: Any, base_url: str, cursor: int,
                  *, entity: str = "") -> tuple[dict[str, int], int]:
    """``events`` and ``tombstones``: ids deleted since ``cursor`` (unix seconds) → when (unix
    seconds, 0 if the CRM does not say), and the new cursor."""
    where = f"connector {connector.get('name')}, entity {entity}, deletes"
    block = {**spec, "params": rendered(spec.get("params") or {}, cursor)}
    id_field, at_field = spec.get("id_field", "id"), spec.get("at_field", "created_at")
    ids: dict[str, int] = {}
    newest = cursor
    for row in _rows(connector, block, session, base_url, where):
        at = _seconds(value_at(row, at_field))
        rid = str(value_at(row, id_field))
        if at and at < cursor:
            continue  # a listing that cannot filter by time: only what is new since the cursor counts
        ids[rid] = max(ids.get(rid, 0), at)
        newest = max(newest, at)
    return ids, newest


def missing_ids(spec: dict[str, Any], connector: dict[str, Any], session: Any, base_url: str,
                known: Iterable[str], *, entity: str = "") -> set[str]:
    """``id_scan``: the ids among ``known`` that the CRM no longer has (``spec``: the entity's spec)."""
    listing = spec["list"]
    scan = spec.get("deletes") or {}
    record_id = listing.get("record_id_field") or listing.get("id_field") or "id"
    params = dict(scan.get("params") or {})
    if "select" in listing:  # an RPC listing: ask for the id alone
        params.setdefault("select", [listing.get("id_field", record_id)])
    where = f"connector {connector.get('name')}, entity {entity}, id scan"
    alive = {str(r.get(record_id)) for r in _rows(connector, listing, session, base_url, where, params)}
    return {k for k in known if k not in alive}


def _seconds(value: Any) -> int:
    """Unix seconds from seconds, milliseconds or ISO 8601 text; 0 when there is none."""
    if value in (None, ""):
        return 0
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        return number // 1000 if number > 100_000_000_000 else number
    try:
        return int(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0
