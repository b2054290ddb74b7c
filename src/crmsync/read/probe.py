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

from crmsync.phpquery import build_query

from .columns import ROWHASH_COLUMN, row_hash
from .rest import listing_pages, records_at
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
    paginator = connector["paginator"]
    if paginator["type"] == "page_number":
        seen = _rest_page(session, base_url, spec, paginator, newest)
    elif paginator["type"] == "bitrix24_batch":
        seen = _bitrix24_page(session, base_url, listing, inc, newest, record_id)
    else:
        return False
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


def _rest_page(session: Any, base_url: str, spec: dict[str, Any], paginator: dict[str, Any], newest: Any
               ) -> list[dict[str, Any]] | None:
    """The listing's first page from ``newest`` on, as the read would ask for it; None if it is full."""
    first = next(listing_pages(session, base_url, spec, paginator, newest), None)
    if first is None:
        return []
    count, body = first
    if count >= int(paginator.get("size", 250)):
        return None  # a full page: there may be more, let dlt read it
    return records_at(loads_exact(body), spec["list"]["records"])


def _bitrix24_page(session: Any, base_url: str, listing: dict[str, Any], inc: dict[str, Any], newest: Any,
                   record_id: str) -> list[dict[str, Any]] | None:
    params = {"filter": {k: str(v).replace("{cursor}", str(newest)) for k, v in inc.get("filter", {}).items()},
              "select": listing.get("select", ["*"])}  # the reader's select: the same field names come back
    response = session.post(f"{base_url.rstrip('/')}/{listing['method']}?{build_query(params)}", idempotent=True)
    if response.status_code >= 300:
        return None
    body = loads_exact(response.content)
    rows = body.get("result")
    if isinstance(rows, dict) and listing.get("records"):
        rows = rows.get(listing["records"])
    if not isinstance(rows, list) or body.get("next"):
        return None  # more than one page at the boundary: let dlt read it
    return rows
