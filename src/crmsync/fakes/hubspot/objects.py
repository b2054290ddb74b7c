"""``/crm/v3/objects/{type}``: list with ``after`` cursors, get, search, batch read, and the write routes.

List pages walk records in id order; ``paging.next.after`` is one past the last id served (as in HubSpot's
published examples), so a record created or archived during a walk never makes another appear twice or
go missing.
"""

from __future__ import annotations

import bisect
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ..server import Request, Response
from . import search
from .associations import object_type
from .errors import ApiError, int_param, not_found, validation
from .render import render, value
from .schema import DEFAULTS
from .values import iso_ms
from .writes import inputs_of

if TYPE_CHECKING:
    from .app import FakeHubSpot

LIST_MAX = 100


def _names(request: Request, key: str) -> list[str]:
    """``properties=a,b`` or repeated ``properties=a&properties=b`` (clients send both forms)."""
    out: list[str] = []
    for k, v in request.query_pairs:
        if k == key:
            out += [n.strip() for n in v.split(",") if n.strip()]
    return out


def _archived(request: Request) -> bool:
    return str(request.query.get("archived", "false")).lower() == "true"


def _now_iso(app: FakeHubSpot) -> str:
    return iso_ms(app.now_ms())


class Objects:
    def __init__(self, app: FakeHubSpot) -> None:
        self.app = app
        self._searches: dict[tuple[str, str], tuple[int, list[dict[str, Any]]]] = {}

    def _render(self, obj: str, row: dict[str, Any], props: list[str] | None, assoc: list[str] | None = None
                ) -> dict[str, Any]:
        known = [p for p in (props if props else DEFAULTS[obj]) if self.app.portal.prop(obj, p) is not None]
        live = {t: self.app.tables[t].rows for t in assoc or []}
        return render(obj, row, known, links=self.app.links, assoc_types=assoc, live=live)

    def _assoc(self, request: Request) -> list[str]:
        out = []
        for name in _names(request, "associations"):
            obj = object_type(name)
            if obj is None:
                raise validation(f"Unable to infer object type from: {name}")
            out.append(obj)
        return out

    # -- reads ----------------------------------------------------------------------------------
    def list(self, request: Request, obj: str) -> Response:
        q = request.query
        limit = int_param(q, "limit", 10)
        if limit < 1:
            raise validation("limit must be at least 1")
        limit = min(limit, LIST_MAX)  # HubSpot answers at most 100 per page, larger asks are clamped
        after_raw = str(q.get("after", "") or "")
        if after_raw and not after_raw.isdigit():
            raise validation(f"after {after_raw!r} is not a valid paging cursor")
        after = int(after_raw or 0)
        archived = _archived(request)
        ids = self.app.id_order(obj, archived)
        start = bisect.bisect_left(ids, after)
        rows = self.app.tables[obj].deleted if archived else self.app.tables[obj].rows
        page_ids = ids[start: start + limit]
        props, assoc = _names(request, "properties"), self._assoc(request)
        body: dict[str, Any] = {"results": [self._render(obj, rows[i], props, assoc) for i in page_ids]}
        if start + limit < len(ids):
            nxt = str(ids[start + limit - 1] + 1)  # HubSpot's cursor reads "the id after the last one served"
            keep = [(k, v) for k, v in request.query_pairs if k != "after"] + [("after", nxt)]
            body["paging"] = {"next": {"after": nxt,
                                       "link": f"{request.base_url}{request.path}?{urlencode(keep)}"}}
        return Response.json(200, body)

    def get(self, request: Request, obj: str, ident: str) -> Response:
        id_property = request.query.get("idProperty")
        row = self.app.find(obj, ident, str(id_property) if id_property else None, _archived(request))
        if row is None:
            raise not_found(ident)
        return Response.json(200, self._render(obj, row, _names(request, "properties"), self._assoc(request)))

    def search(self, request: Request, obj: str) -> Response:
        """Pages of one query reuse its matches until anything is written: filtering and sorting a large
        portal for every page would bill the fake's CPU to the client measured beside it."""
        body = request.json()
        if not isinstance(body, dict):
            raise validation("The request body must be a JSON object")
        key = (obj, json.dumps({k: v for k, v in body.items() if k not in ("after", "limit", "properties")},
                               sort_keys=True, default=str))
        cached = self._searches.get(key)
        cfg = self.app.config
        if cached is None or cached[0] != self.app.generation or cfg.search_index_delay:
            portal = self.app.portal
            dead = frozenset({"hs_lastmodifieddate"}) if obj == "contacts" and not cfg.contacts_search_modified else \
                frozenset()
            rows = self.app.tables[obj].rows.values()
            if cfg.search_index_delay:
                indexed = self.app.now_ms() - int(cfg.search_index_delay * 1000)
                rows = [r for r in rows if r["created"] <= indexed]
            matched = search.select(body, obj, rows, lambda n: portal.prop(obj, n),
                                    lambda r, n: value(obj, r, n), search.Limits(*cfg.search_filter_limits()), dead)
            if len(self._searches) >= 16:
                self._searches.clear()
            cached = self._searches[key] = (self.app.generation, matched)
        page, total, nxt = search.page(body, cached[1])
        props = body.get("properties") if isinstance(body.get("properties"), list) else None
        out: dict[str, Any] = {"total": total, "results": [self._render(obj, r, props) for r in page]}
        if nxt is not None:
            out["paging"] = {"next": {"after": str(nxt)}}
        return Response.json(200, out)

    def batch_read(self, request: Request, obj: str) -> Response:
        body = request.json()
        started = _now_iso(self.app)
        items = inputs_of(body)
        id_property = body.get("idProperty")
        props = body.get("properties") if isinstance(body.get("properties"), list) else None
        results, missing = [], []
        for item in items:
            ident = str(item.get("id", "")) if isinstance(item, dict) else ""
            row = self.app.find(obj, ident, id_property, _archived(request))
            if row is None:
                missing.append(ident)
            elif all(r["id"] != row["id"] for r in results):
                results.append(row)
        out: dict[str, Any] = {"status": "COMPLETE", "results": [self._render(obj, r, props) for r in results],
                               "startedAt": started, "completedAt": _now_iso(self.app)}
        if missing:
            out.update(numErrors=1, errors=[{
                "status": "error", "category": "OBJECT_NOT_FOUND",
                "message": f"Could not get some {obj[:-1].upper()} objects, they may be deleted or not exist. "
                           "Check that ids are valid.", "context": {"ids": missing}}])
            return Response.json(207, out)
        return Response.json(200, out)

    # -- writes ---------------------------------------------------------------------------------
    def create(self, request: Request, obj: str) -> Response:
        row = self.app.writer.create(obj, request.json())
        return Response.json(201, self._render(obj, row, list(row["props"])))

    def update(self, request: Request, obj: str, ident: str) -> Response:
        id_property = request.query.get("idProperty")
        row = self.app.writer.update(obj, ident, request.json(), str(id_property) if id_property else None)
        return Response.json(200, self._render(obj, row, list(row["props"])))

    def archive(self, request: Request, obj: str, ident: str) -> Response:
        self.app.writer.archive(obj, ident)
        return Response.empty(204)

    def batch(self, request: Request, obj: str, action: str) -> Response:
        if action == "read":
            return self.batch_read(request, obj)
        started = _now_iso(self.app)
        body = request.json()
        if action == "archive":
            self.app.writer.batch_archive(obj, body)
            return Response.empty(204)
        if action == "upsert":
            done = self.app.writer.batch_upsert(obj, body)
            return Response.json(200, {"status": "COMPLETE", "results": [
                {**self._render(obj, r, list(r["props"])), "new": new} for r, new in done],
                "startedAt": started, "completedAt": _now_iso(self.app)})
        if action == "create":
            rows, missing = self.app.writer.batch_create(obj, body), []
        elif action == "update":
            rows, missing = self.app.writer.batch_update(obj, body)
        else:
            raise ApiError(404, f"No route for batch/{action}", "OBJECT_NOT_FOUND")
        out: dict[str, Any] = {"status": "COMPLETE",
                               "results": [self._render(obj, r, list(r["props"])) for r in rows],
                               "startedAt": started, "completedAt": _now_iso(self.app)}
        if missing:
            out.update(numErrors=len(missing), errors=[{
                "status": "error", "category": "OBJECT_NOT_FOUND", "message": f"Object with id {m} not found",
                "context": {"ids": [m]}} for m in missing])
            return Response.json(207, out)
        return Response.json(201 if action == "create" else 200, out)
