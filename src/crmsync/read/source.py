"""One dlt source per connection: REST connectors through dlt rest_api, others through a registered reader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .bitrix_batch import attach_links, batch_pages
from .columns import CURSOR_COLUMN, ROWHASH_COLUMN, row_hash
from .progress import ReadProgress
from .rest import resource_config

ReaderFactory = Callable[..., Any]
_READERS: dict[str, ReaderFactory] = {}


def register_reader(paginator_type: str, factory: ReaderFactory) -> None:
    """Register a reader for connectors whose ``paginator.type`` dlt rest_api cannot express."""
    _READERS[paginator_type] = factory


def reader_types() -> list[str]:
    return sorted(["page_number", *_READERS])


def crm_source(dlt: Any, connector: dict[str, Any], entities: list[str], session: Any, base_url: str,
               progress: ReadProgress | None = None) -> Any:
    paginator = connector["paginator"]
    unknown = [e for e in entities if e not in connector["entities"]]
    if unknown:
        raise ValueError(f"connector {connector['name']} has no entity {unknown[0]!r}; "
                         f"known: {', '.join(connector['entities'])}")
    factory = _READERS.get(paginator["type"])
    if factory is not None:
        resources = [factory(dlt, e, connector["entities"][e], session, base_url, paginator) for e in entities]
        source = dlt.source(lambda: resources, name=connector["name"])()
    else:
        from dlt.sources.rest_api import rest_api_source

        source = rest_api_source({
            "client": {"base_url": base_url.rstrip("/") + "/", "session": session},
            "resources": [resource_config(e, connector["entities"][e], paginator) for e in entities],
        }, name=connector["name"])
    # Raw tables keep what the CRM sent: dlt would turn "1988-05-03T00:00:00+03:00" (a Bitrix24 date
    # field, midnight in the portal's zone) into a UTC timestamp of the day before.
    source.schema.remove_type_detection("iso_timestamp")
    if factory is None:  # the registered readers fingerprint their rows themselves, before links are attached
        for entity in entities:
            source.resources[entity].add_map(_fingerprint)
    if progress is not None:
        for entity in entities:
            source.resources[entity].add_map(progress.counter(entity))
    return source


def _bitrix24_reader(dlt: Any, entity: str, spec: dict[str, Any], session: Any, base_url: str,
                     paginator: dict[str, Any]) -> Any:
    listing, inc = spec["list"], spec.get("incremental")
    record_id = listing.get("record_id_field", listing.get("id_field", "ID"))

    # dlt keeps the cursor in its state (committed with the data, restored from the store on a new
    # machine); ``lag`` re-reads the overlap window and dlt drops the boundary rows it already has —
    # by id *and content*: a record changed again within the boundary second is a new row, not a copy.
    window = dlt.sources.incremental(CURSOR_COLUMN, initial_value=0, lag=(inc or {}).get("overlap_seconds") or None,
                                     primary_key=(record_id, ROWHASH_COLUMN))

    def read(cursor: Any = window) -> Any:
        since = _iso(cursor.start_value or 0)
        flt = {k: str(v).replace("{cursor}", since) for k, v in (inc or {}).get("filter", {}).items()}
        pages = batch_pages(session, base_url, listing["method"], select=listing.get("select", ["*"]),
                            id_field=listing.get("id_field", "ID"), record_id_field=record_id,
                            records_key=listing.get("records"), extra_filter=flt,
                            page_size=paginator.get("page_size", 50),
                            per_batch=paginator.get("commands_per_batch", 50))
        for group in _groups(pages, paginator.get("commands_per_batch", 50)):
            for page in group:
                for row in page:
                    row[ROWHASH_COLUMN] = row_hash(row)  # as the list call sent it, like the probe sees it
            if spec.get("links"):
                attach_links(session, base_url, group, spec["links"], record_id)
            for page in group:
                if inc:
                    for row in page:
                        row[CURSOR_COLUMN] = _epoch(row.get(inc["cursor"]))
                yield page

    if not inc:  # no cursor: a full read each time (reference data such as users)
        def read_all() -> Any:
            yield from batch_pages(session, base_url, listing["method"], select=listing.get("select", ["*"]),
                                   id_field=listing.get("id_field", "ID"), record_id_field=record_id,
                                   records_key=listing.get("records"), extra_filter={})
        return dlt.resource(read_all, name=entity, primary_key=record_id, write_disposition="merge",
                            max_table_nesting=0)
    return dlt.resource(read, name=entity, primary_key=record_id, write_disposition="merge", max_table_nesting=0)


def _fingerprint(row: dict[str, Any]) -> dict[str, Any]:
    row[ROWHASH_COLUMN] = row_hash(row)
    return row


def _groups(pages: Any, size: int) -> Any:
    group: list[Any] = []
    for page in pages:
        group.append(page)
        if len(group) == size:
            yield group
            group = []
    if group:
        yield group


def _epoch(value: Any) -> int:
    if value in (None, ""):
        return 0
    return int(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).isoformat()


register_reader("bitrix24_batch", _bitrix24_reader)
