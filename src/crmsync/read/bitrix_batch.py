"""The keyset batch walk with Bitrix24's envelope spelled out, for the writer's read-backs, which do
not see the connector's paginator block yet (crmsync.push). Reads use the connector's own
``keyset_batch`` paginator (:mod:`.paginators`); this module only fills in the same settings, so
the walk itself exists once. To be removed when the writers read the envelope from the connector.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import links as _links
from .calls import call_for
from .paginators import KeysetBatch, as_map, walk

ENVELOPE = {"params": {"start": -1}, "batch_method": "batch", "body": {"halt": 0}, "commands_key": "cmd",
            "reference": "$result[{previous}]{records}[{last}][{id}]", "results_path": "result.result",
            "errors_path": "result.result_error"}
_as_map = as_map  # the writer's name for it


def batch_pages(session: Any, base_url: str, method: str, *, select: list[str], id_field: str,
                record_id_field: str, records_key: str | None, extra_filter: dict[str, Any],
                page_size: int = 50, per_batch: int = 50) -> Iterator[list[dict[str, Any]]]:
    """Pages (lists of records) of ``method`` in id order, ``per_batch`` pages per request."""
    paginator = KeysetBatch({"type": "keyset_batch", "page_size": page_size, "commands_per_batch": per_batch,
                             **ENVELOPE})
    call = call_for({"method": method, "records": records_key, "id_field": id_field, "record_id_field": record_id_field,
                     "params": {"select": select, "filter": dict(extra_filter)}}, base_url, where=f"{method} read")
    for _, page in walk(paginator, session, call):
        yield page


def attach_links(session: Any, base_url: str, pages: list[list[dict[str, Any]]], links: dict[str, Any],
                 record_id_field: str) -> None:
    _links.attach_links(session, base_url, pages, links, record_id_field, ENVELOPE)
