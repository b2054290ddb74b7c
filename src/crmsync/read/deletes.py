"""Finding records deleted in the CRM, so canonical rows get ``deleted_at`` instead of lingering.

Two ways, chosen by the connector's ``deletes.type``:

* ``events`` (AmoCRM): the account's event feed lists ``*_deleted`` events; we read the ones newer
  than the feed cursor kept in ``sync.cursors``.
* ``id_scan`` (Bitrix24, which has no deleted flag and no feed without an app): list every ID that
  still exists (``select ID`` only, batched keyset pages) and compare with the ids we hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .bitrix_batch import batch_pages
from .rest import records_at

MAX_PAGES = 10_000


def deleted_since(spec: dict[str, Any], paginator: dict[str, Any], session: Any, base_url: str,
                  cursor: int) -> tuple[dict[str, int], int]:
    """``events``: ids deleted since ``cursor`` (unix seconds) → when (unix seconds), and the new cursor."""
    url = base_url.rstrip("/") + "/" + spec["path"]
    page_param, size_param = paginator.get("page_param", "page"), paginator.get("size_param", "limit")
    params = {k: str(v).replace("{cursor}", str(cursor)) for k, v in (spec.get("params") or {}).items()}
    ids: dict[str, int] = {}
    newest = cursor
    for page in range(paginator.get("first_page", 1), MAX_PAGES):
        response = session.get(url, params={**params, page_param: page, size_param: spec.get("page_size", 100)})
        if response.status_code == 204 or not response.content:
            break
        body = response.json()
        events = records_at(body, spec.get("records", "_embedded.events"))
        for event in events:
            at = int(event.get("created_at") or 0)
            rid = str(event[spec.get("id_field", "entity_id")])
            ids[rid] = max(ids.get(rid, 0), at)
            newest = max(newest, at)
        if not events or not (body.get("_links") or {}).get("next"):
            break
    return ids, newest


def missing_ids(listing: dict[str, Any], paginator: dict[str, Any], session: Any, base_url: str,
                known: Iterable[str]) -> set[str]:
    """``id_scan``: the ids among ``known`` that the CRM no longer has."""
    id_field = listing.get("id_field", "ID")
    record_id = listing.get("record_id_field", id_field)
    alive: set[str] = set()
    for page in batch_pages(session, base_url, listing["method"], select=[id_field], id_field=id_field,
                            record_id_field=record_id, records_key=listing.get("records"), extra_filter={},
                            page_size=paginator.get("page_size", 50),
                            per_batch=paginator.get("commands_per_batch", 50)):
        alive.update(str(r[record_id]) for r in page)
    return {k for k in known if k not in alive}
