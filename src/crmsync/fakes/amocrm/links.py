"""Links between records: ``GET …/{id}/links``, ``POST …/{id}/link|unlink`` and bulk ``POST /leads/link``.

Lead↔contact links live on the lead (``_embedded.contacts`` with one ``is_main``); a contact's or a
lead's company lives in its own ``_embedded.companies``. Linking or unlinking a lead's contact moves
the lead's ``updated_at`` (UNCONFIRMED: the real API may leave it), so incremental readers see it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server import Request, Response
from .errors import NOT_FOUND, NOT_SUPPORTED_CHOICE, ItemErrors, bad_request, problem, validation_failed
from .listing import HAL, MAX_LIMIT
from .render import leads_by_contact

if TYPE_CHECKING:
    from .app import FakeAmoCRM

TARGETS = {"leads": ("contacts", "companies"), "contacts": ("leads", "companies")}


def _link(entity: str, rid: int, to_type: str, to_id: int, metadata: Any) -> dict[str, Any]:
    return {"entity_id": rid, "entity_type": entity, "to_entity_id": to_id, "to_entity_type": to_type,
            "metadata": metadata}


def links_of(app: FakeAmoCRM, entity: str, rid: int) -> list[dict[str, Any]]:
    row = app.tables[entity].rows[rid]
    out = []
    if entity == "leads":
        out += [_link("leads", rid, "contacts", c["id"], {"main_contact": c["is_main"]})
                for c in row["_embedded"]["contacts"] if c["id"] in app.tables["contacts"].rows]
    else:
        leads = app.tables["leads"].rows
        for lid in leads_by_contact(leads).get(rid, []):
            main = next(c["is_main"] for c in leads[lid]["_embedded"]["contacts"] if c["id"] == rid)
            out.append(_link("contacts", rid, "leads", lid, {"main_contact": main}))
    out += [_link(entity, rid, "companies", cid, None) for cid in row["_embedded"]["companies"]
            if cid in app.tables["companies"].rows]
    return out


def _page(request: Request, links: list[dict[str, Any]]) -> Response:
    self_link = {"self": {"href": request.base_url + request.path}}
    return Response.json(200, {"_total_items": len(links), "_links": self_link, "_embedded": {"links": links}},
                         content_type=HAL)


def get_links(app: FakeAmoCRM, request: Request, entity: str, rid: int) -> Response:
    if rid not in app.tables[entity].rows:
        return Response.empty(204)
    links = links_of(app, entity, rid)
    wanted = (request.query.get("filter") or {}).get("to_entity_type") if isinstance(
        request.query.get("filter"), dict) else None
    if wanted:
        links = [x for x in links if x["to_entity_type"] == wanted]
    return _page(request, links) if links else Response.empty(204)


def post_links(app: FakeAmoCRM, request: Request, entity: str, rid: int | None, unlink: bool) -> Response:
    """``rid`` None = the bulk form, where each item names its own ``entity_id``."""
    body = request.json()
    if not body:
        return bad_request("Request data can not be empty")
    if not isinstance(body, list):
        body = [body]
    if len(body) > MAX_LIMIT:
        return problem(422, f"Limit {MAX_LIMIT} per page")
    table = app.tables[entity]
    failed, planned = [], []
    for n, item in enumerate(body):
        errors = ItemErrors(str(n))
        if not isinstance(item, dict):
            errors.type_error("", "array")
            failed.append(errors)
            continue
        source = rid if rid is not None else item.get("entity_id")
        to_type, to_id = item.get("to_entity_type"), item.get("to_entity_id")
        if source not in table.rows:
            errors.add(NOT_FOUND, "entity_id", f"Entity {source} not found.")
        if to_type not in TARGETS[entity]:
            errors.add(NOT_SUPPORTED_CHOICE, "to_entity_type")
        elif to_id not in app.tables[to_type].rows:
            errors.add(NOT_FOUND, "to_entity_id", f"Entity {to_id} not found.")
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        if errors.errors:
            failed.append(errors)
        else:
            planned.append((source, to_type, to_id, bool(metadata.get("is_main"))))
    if failed:
        return validation_failed(failed)
    done = [_apply(app, entity, src, to_type, to_id, is_main, unlink) for src, to_type, to_id, is_main in planned]
    return Response.empty(204) if unlink else _page(request, done)


def _apply(app: FakeAmoCRM, entity: str, src: int, to_type: str, to_id: int, is_main: bool,
           unlink: bool) -> dict[str, Any]:
    if to_type == "companies":
        row = app.tables[entity].rows[src]
        row["_embedded"]["companies"] = [] if unlink else [to_id]
        app.touch_links(entity, src, to_type, to_id, unlink)
        return _link(entity, src, to_type, to_id, None)
    lead_id, contact_id = (src, to_id) if entity == "leads" else (to_id, src)
    lead = app.tables["leads"].rows[lead_id]
    contacts = [c for c in lead["_embedded"]["contacts"] if c["id"] != contact_id]
    if not unlink:
        if is_main:
            for c in contacts:
                c["is_main"] = False
        contacts.append({"id": contact_id, "is_main": is_main or not contacts})
    elif contacts and not any(c["is_main"] for c in contacts):
        contacts[0]["is_main"] = True
    lead["_embedded"]["contacts"] = contacts
    app.touch_links("leads", lead_id, "contacts", contact_id, unlink)
    metadata = None if unlink else {"main_contact": is_main or len(contacts) == 1}
    return _link(entity, src, to_type, to_id, metadata)
