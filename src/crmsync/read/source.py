"""What a pull reads from a connection, as dlt sources: every entity's listing, walked by the
connector's paginator (:mod:`.paginators`) and streamed round by round (:mod:`.rest`)."""

from __future__ import annotations

from typing import Any

from .progress import ReadProgress
from .rest import PagedRead, round_records


class ConnectorRead:
    """What one pull reads from a connection, as one dlt source per round.

    Each listing streams (:class:`~crmsync.read.rest.PagedRead`): each round takes the pages that
    have arrived, until every listing is read.
    """

    def __init__(self, connector: dict[str, Any], entities: list[str], session: Any, base_url: str,
                 progress: ReadProgress | None = None) -> None:
        unknown = [e for e in entities if e not in connector["entities"]]
        if unknown:
            raise ValueError(f"connector {connector['name']} has no entity {unknown[0]!r}; "
                             f"known: {', '.join(connector['entities'])}")
        self.connector, self.name, self.entities, self.progress = connector, connector["name"], entities, progress
        self.session, self.base_url = session, base_url
        self._paged = [PagedRead(e, connector["entities"][e], session, base_url, connector, round_records())
                       for e in entities]
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
        resources = [p.resource(dlt) for p in self._paged if not p.done]
        self.rounds += 1
        source = dlt.source(lambda: resources, name=self.name)()
        # Raw tables keep what the CRM sent: dlt would turn "1988-05-03T00:00:00+03:00" (a date field,
        # midnight in the account's zone) into a UTC timestamp of the day before.
        source.schema.remove_type_detection("iso_timestamp")
        if self.progress is not None:
            for resource in source.resources.values():
                resource.add_map(self.progress.counter(resource.name))
        return source

    def close(self) -> None:
        for paged in self._paged:
            paged.close()
