"""Bitrix24 list reads packed into ``batch``: up to 50 keyset pages of 50 records per HTTP request.

Registered as the connector paginator ``bitrix24_batch`` (the typed escape hatch: this is what
YAML cannot say). Each batch carries ``c0 … c49``; ``c0`` starts after the last ID read, every
later command starts after the last ID of the one before it (``$result[c{k-1}][49][ID]``), all with
``start=-1`` (no COUNT on the server: the fast path the Bitrix24 docs recommend) and ``order ID ASC``.
The first page shorter than 50 ends the scan; anything after it in the same batch is ignored (its
reference could not resolve). At 2 requests/s that is up to 5,000 records/s, the API's ceiling.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crmsync.errors import CrmError
from crmsync.http.policy import crm_message
from crmsync.phpquery import build_query

from .storable import loads_exact


def batch_pages(session: Any, base_url: str, method: str, *, select: list[str], id_field: str,
                record_id_field: str, records_key: str | None, extra_filter: dict[str, Any],
                page_size: int = 50, per_batch: int = 50) -> Iterator[list[dict[str, Any]]]:
    """Yield pages (lists of records) of ``method`` in ID order, ``per_batch`` pages per request."""
    last_id: Any = 0
    inner = f"[{records_key}]" if records_key else ""
    while True:
        cmd = {}
        for k in range(per_batch):
            after = f"$result[c{k - 1}]{inner}[{page_size - 1}][{record_id_field}]" if k else str(last_id)
            params = {"filter": {**extra_filter, f">{id_field}": after}, "order": {id_field: "ASC"},
                      "select": select, "start": -1}
            cmd[f"c{k}"] = f"{method}?{build_query(params)}"
        response = session.post(_url(base_url, "batch"), json={"halt": 0, "cmd": cmd}, idempotent=True)  # list calls
        if response.status_code >= 400:
            raise CrmError(f"Bitrix24 refused the batch read of {method}: {crm_message(response)}")
        body = loads_exact(response.content).get("result") or {}
        results, errors = _as_map(body.get("result")), _as_map(body.get("result_error"))
        for k in range(per_batch):
            key = f"c{k}"
            if key in errors:
                if k == 0:
                    err = errors[key]
                    raise CrmError(f"Bitrix24 refused {method}: {err.get('error')}: {err.get('error_description')}")
                return
            rows = results.get(key) or []
            if records_key and isinstance(rows, dict):
                rows = rows.get(records_key) or []
            if rows:
                yield rows
                last_id = rows[-1][record_id_field]
            if len(rows) < page_size:
                return


def _as_map(value: Any) -> dict[str, Any]:
    """Bitrix24 serialises an empty map as ``[]`` and a 0..n-1 keyed map as a list."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _url(base_url: str, method: str) -> str:
    return base_url.rstrip("/") + "/" + method


def attach_links(session: Any, base_url: str, pages: list[list[dict[str, Any]]], links: dict[str, Any],
                 record_id_field: str) -> None:
    """Add each record's linked ids (e.g. a deal's contacts) in one batch of up to 50 pages."""
    cmd = {}
    for k, page in enumerate(pages):
        params = {**(links.get("params") or {}), "select": links.get("select", ["id"]),
                  "filter": {links["match"]: [r[record_id_field] for r in page]}, "start": -1}
        cmd[f"l{k}"] = f"{links['method']}?{build_query(params)}"
    response = session.post(_url(base_url, "batch"), json={"halt": 0, "cmd": cmd}, idempotent=True)  # list calls
    body = loads_exact(response.content).get("result") or {}
    results, errors = _as_map(body.get("result")), _as_map(body.get("result_error"))
    if errors:
        first = next(iter(errors.values()))
        raise CrmError(f"Bitrix24 refused {links['method']}: {first.get('error')}: {first.get('error_description')}")
    found: dict[str, Any] = {}
    for k in range(len(pages)):
        rows = results.get(f"l{k}") or []
        if links.get("records") and isinstance(rows, dict):
            rows = rows.get(links["records"]) or []
        for row in rows:
            found[str(row.get("id", row.get("ID")))] = [str(v) for v in row.get(links["value"]) or []]
    for page in pages:
        for record in page:
            record[links["into"]] = found.get(str(record[record_id_field]), [])
