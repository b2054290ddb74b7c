"""Is there anything new to read? One cheap request per entity, so a run with nothing to do skips dlt.

Starting dlt (importing it, building the pipeline, extracting, normalising and loading nothing) is
most of an idle scheduled run's time. The incremental filters are inclusive — the last second is
always read again — so "nothing new" is not "no records": it is "every record the CRM lists from
the newest cursor value we hold is already in the raw table with the same content" (a record changed
again within that second keeps its cursor value). The probe asks for exactly that listing (one
page); anything more, or anything it cannot judge, means "run dlt".
"""

from __future__ import annotations

from typing import Any

from .columns import ROWHASH_COLUMN, row_hash
from .paginators import records_at
from .rest import listing_call, listing_pages
from .storable import loads_exact


def nothing_new(con: Any, *, dataset: str, connector: dict[str, Any], entities: list[str], session: Any,
                base_url: str) -> bool:
    """True when no entity has a record newer than what ``dataset`` already holds."""
    return all(_entity_is_current(con, dataset, connector, e, session, base_url) for e in entities)


def dlt_has_pending(pipeline_dir: Any) -> bool:
    """A package an earlier run extracted or normalised but did not load: only dlt can finish it."""
    return any(any((pipeline_dir / sub).glob("*")) for sub in ("normalize/extracted", "load/new", "load/normalized")
               if (pipeline_dir / sub).is_dir())


def _entity_is_current(con: Any, dataset: str, connector: dict[str, Any], entity: str, session: Any,
                       base_url: str) -> bool:
    spec = connector["entities"][entity]
    inc, listing = spec.get("incremental"), spec["list"]
    record_id = listing.get("record_id_field") or listing.get("id_field") or "id"
    if not inc or not _has_columns(con, dataset, entity, [record_id, inc["cursor"]]):
        return False  # no cursor to probe with, or never read
    newest = con.execute(f'SELECT max("{inc["cursor"]}") FROM "{dataset}"."{entity}"').fetchone()[0]
    if newest is None:
        return False
    seen = _first_page(session, base_url, spec, connector, entity, newest)
    if seen is None:
        return False
    if not seen:
        return True
    # By content where the raw table has fingerprints (a change within the boundary second keeps its
    # cursor value), else by cursor value.
    by_hash = _has_columns(con, dataset, entity, [ROWHASH_COLUMN])
    column = ROWHASH_COLUMN if by_hash else inc["cursor"]
    ids = [str(r.get(record_id)) for r in seen]
    known = dict(con.execute(
        f'SELECT CAST("{record_id}" AS VARCHAR), CAST("{column}" AS VARCHAR) FROM "{dataset}"."{entity}" '
        f'WHERE CAST("{record_id}" AS VARCHAR) IN (SELECT unnest(?))', [ids]).fetchall())
    return all(known.get(str(r.get(record_id))) == (row_hash(r) if by_hash else str(r.get(inc["cursor"])))
               for r in seen)


def _has_columns(con: Any, dataset: str, table: str, names: list[str]) -> bool:
    got = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                                     "AND table_name = ?", [dataset, table]).fetchall()}
    return all(n in got for n in names)


def _first_page(session: Any, base_url: str, spec: dict[str, Any], connector: dict[str, Any], entity: str,
                newest: Any) -> list[dict[str, Any]] | None:
    """The listing's first page from ``newest`` on, as the read would ask for it (without links);
    None if it is full (there may be more: let dlt read it) or the CRM would not answer it."""
    from crmsync.errors import CrmError

    try:
        call, paginator, _ = listing_call(session, base_url, spec, connector, newest, entity=entity)
        first = next(listing_pages(session, base_url, spec, connector, newest, entity=entity, links=False), None)
    except CrmError:
        return None
    if first is None:
        return []
    count, page = first
    if not paginator.size or count >= int(paginator.size):
        return None  # a full page, or one whose size the CRM decides: there may be more
    return page if isinstance(page, list) else records_at(loads_exact(page), call.records)
