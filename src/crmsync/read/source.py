"""What a pull reads from a connection, as dlt sources: page-numbered REST listings streamed round by
round (:mod:`.rest`), other APIs through a registered reader (Bitrix24's batch)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from .bitrix_batch import attach_links, batch_pages
from .columns import CURSOR_COLUMN, ROWHASH_COLUMN, row_hash
from .progress import ReadProgress
from .rest import PagedRead, cursor_value, round_records
from .storable import storable

ReaderFactory = Callable[..., Any]
_READERS: dict[str, ReaderFactory] = {}


def register_reader(paginator_type: str, factory: ReaderFactory) -> None:
    """Register a reader for connectors whose ``paginator.type`` is not a numbered page listing."""
    _READERS[paginator_type] = factory


def reader_types() -> list[str]:
    return sorted(["page_number", *_READERS])


class ConnectorRead:
    """What one pull reads from a connection, as one dlt source per round.

    Page-numbered REST listings stream (:class:`~crmsync.read.rest.PagedRead`): each round takes the
    pages that have arrived, until every listing is read. A registered reader (Bitrix24's batch) is
    read whole in the first round.
    """

    def __init__(self, connector: dict[str, Any], entities: list[str], session: Any, base_url: str,
                 progress: ReadProgress | None = None) -> None:
        paginator = connector["paginator"]
        unknown = [e for e in entities if e not in connector["entities"]]
        if unknown:
            raise ValueError(f"connector {connector['name']} has no entity {unknown[0]!r}; "
                             f"known: {', '.join(connector['entities'])}")
        self.connector, self.name, self.entities, self.progress = connector, connector["name"], entities, progress
        self.session, self.base_url = session, base_url
        self._factory = _READERS.get(paginator["type"])
        if self._factory is None and paginator["type"] != "page_number":
            raise ValueError(f"paginator.type {paginator['type']!r} has no reader (known: {', '.join(reader_types())})")
        self._paged = [] if self._factory is not None else [
            PagedRead(e, connector["entities"][e], session, base_url, paginator, round_records()) for e in entities]
        self.rounds = 0

    @property
    def done(self) -> bool:
        return self.rounds > 0 and all(p.done for p in self._paged)

    def start(self, held: dict[str, dict[str, Any]]) -> None:
        """Start requesting the listings' pages now, from the cursors in ``held`` (each resource's
        state as dlt's state file has it), while dlt starts up; the first round checks them."""
        for paged in self._paged:
            paged.start(held.get(paged.entity) or {})

    def next_source(self, dlt: Any) -> Any:
        resources = [self._factory(dlt, e, self.connector["entities"][e], self.session, self.base_url,
                                   self.connector["paginator"]) for e in self.entities] \
            if self._factory is not None and self.rounds == 0 else []
        resources = resources + [p.resource(dlt) for p in self._paged if not p.done]
        self.rounds += 1
        source = dlt.source(lambda: resources, name=self.name)()
        # Raw tables keep what the CRM sent: dlt would turn "1988-05-03T00:00:00+03:00" (a Bitrix24 date
        # field, midnight in the portal's zone) into a UTC timestamp of the day before.
        source.schema.remove_type_detection("iso_timestamp")
        if self.progress is not None:
            for resource in source.resources.values():
                resource.add_map(self.progress.counter(resource.name))
        return source

    def close(self) -> None:
        for paged in self._paged:
            paged.close()


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
                yield [storable(row) for row in page]

    if not inc:  # no cursor: a full read each time (reference data such as users)
        def read_all() -> Any:
            for page in batch_pages(session, base_url, listing["method"], select=listing.get("select", ["*"]),
                                    id_field=listing.get("id_field", "ID"), record_id_field=record_id,
                                    records_key=listing.get("records"), extra_filter={}):
                yield [storable(row) for row in page]
        return dlt.resource(read_all, name=entity, primary_key=record_id, write_disposition="merge",
                            max_table_nesting=0)
    return dlt.resource(read, name=entity, primary_key=record_id, write_disposition="merge", max_table_nesting=0)


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
    """The record's modification time as Unix seconds; 0 (the cursor does not move for it) when it
    is missing or malformed: the record still loads, and the mapping sets it aside naming the field."""
    if cursor_value(value, "iso8601") is None:
        return 0
    return int(dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())


def _iso(epoch: int) -> str:
    return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc).isoformat()


register_reader("bitrix24_batch", _bitrix24_reader)
