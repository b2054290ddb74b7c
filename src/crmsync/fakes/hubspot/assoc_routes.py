"""The v4 associations API: list, create (default or typed), remove, batch read/create/archive, labels.

``GET /crm/v4/objects/{from}/{id}/associations/{to}``, ``PUT …/associations/default/{to}/{toId}``,
``PUT …/associations/{to}/{toId}`` with a list of types, ``DELETE …/associations/{to}/{toId}``, and
``POST /crm/v4/associations/{from}/{to}/batch/{read|create|archive|associate/default}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server import Request, Response
from .associations import OBJECT_TYPE_IDS, TYPE_IDS, object_type, twin
from .errors import ApiError, int_param, not_found, validation
from .writes import inputs_of

if TYPE_CHECKING:
    from .app import FakeHubSpot


def _types(from_type: str, ids: set[int]) -> list[dict[str, Any]]:
    return [{"category": "HUBSPOT_DEFINED", "typeId": t, "label": None} for t in sorted(ids)]


def _pair(a: str, b: str) -> tuple[str, str]:
    frm, to = object_type(a), object_type(b)
    if frm is None or to is None or (frm, to) not in TYPE_IDS:
        raise validation(f"No association is defined from {a} to {b}")
    return frm, to


def _live(app: FakeHubSpot, obj: str, ident: Any) -> int:
    text = str(ident)
    if not text.isdigit() or int(text) not in app.tables[obj].rows:
        raise not_found(text)
    return int(text)


def _link(app: FakeHubSpot, frm: str, fid: int, to: str, tid: int, type_id: int | None) -> None:
    if type_id is not None and twin(frm, to, type_id) is None:
        raise validation(f"association type id {type_id} is not valid from {frm} to {to}")
    if app.links.add(frm, fid, to, tid, type_id):
        app.bump(frm, fid)
        app.bump(to, tid)


def objects_route(app: FakeHubSpot, request: Request, parts: list[str]) -> Response:
    # parts: [from, id, "associations", ...]
    m = request.method
    frm = object_type(parts[0])
    if frm is None or len(parts) < 4 or parts[2] != "associations":
        raise ApiError(404, f"No route for {m} {request.path}", "OBJECT_NOT_FOUND")
    fid = _live(app, frm, parts[1])
    rest = parts[3:]
    if len(rest) == 1 and m == "GET":
        to = _pair(parts[0], rest[0])[1]
        targets = app.links.of(frm, fid, to)
        alive = [(t, ids) for t, ids in sorted(targets.items()) if t in app.tables[to].rows]
        limit = min(max(int_param(request.query, "limit", 500), 1), 500)
        after = int_param(request.query, "after", 0)
        page = alive[after: after + limit]
        body: dict[str, Any] = {"results": [{"toObjectId": t, "associationTypes": _types(to, ids)} for t, ids in page]}
        if after + limit < len(alive):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response.json(200, body)
    if len(rest) == 3 and rest[0] == "default" and m == "PUT":
        to = _pair(parts[0], rest[1])[1]
        tid = _live(app, to, rest[2])
        _link(app, frm, fid, to, tid, None)
        return Response.json(200, {"status": "COMPLETE", "results": [
            {"from": {"id": str(fid)}, "to": {"id": str(tid)},
             "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": TYPE_IDS[(frm, to)]}}]})
    if len(rest) == 2 and m in ("PUT", "DELETE"):
        to = _pair(parts[0], rest[0])[1]
        tid = _live(app, to, rest[1])
        if m == "DELETE":
            if app.links.remove(frm, fid, to, tid):
                app.bump(frm, fid)
                app.bump(to, tid)
            return Response.empty(204)
        specs = request.json()
        if not isinstance(specs, list) or not specs:
            raise validation("the body must be a list of {associationCategory, associationTypeId}")
        for spec in specs:
            _link(app, frm, fid, to, tid, int(spec.get("associationTypeId", -1)) if isinstance(spec, dict) else -1)
        return Response.json(201, {"fromObjectTypeId": OBJECT_TYPE_IDS[frm], "fromObjectId": fid,
                                   "toObjectTypeId": OBJECT_TYPE_IDS[to], "toObjectId": tid, "labels": []})
    raise ApiError(404, f"No route for {m} {request.path}", "OBJECT_NOT_FOUND")


def batch_route(app: FakeHubSpot, request: Request, parts: list[str]) -> Response:
    # parts: [from, to, "batch", action...] or [from, to, "labels"]
    if len(parts) == 3 and parts[2] == "labels" and request.method == "GET":
        frm, to = _pair(parts[0], parts[1])
        return Response.json(200, {"results": [{"category": "HUBSPOT_DEFINED", "typeId": TYPE_IDS[(frm, to)],
                                                "label": None}]})
    if len(parts) < 4 or parts[2] != "batch" or request.method != "POST":
        raise ApiError(404, f"No route for {request.method} {request.path}", "OBJECT_NOT_FOUND")
    frm, to = _pair(parts[0], parts[1])
    action = "/".join(parts[3:])
    items = inputs_of(request.json())
    if action == "read":
        results, missing = [], []
        for item in items:
            ident = str((item or {}).get("id", ""))
            if not ident.isdigit() or int(ident) not in app.tables[frm].rows:
                missing.append(ident)
                continue
            targets = app.links.of(frm, int(ident), to)
            alive = [(t, ids) for t, ids in sorted(targets.items()) if t in app.tables[to].rows]
            if alive:
                results.append({"from": {"id": ident},
                                "to": [{"toObjectId": t, "associationTypes": _types(to, ids)} for t, ids in alive]})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            body.update(numErrors=1, errors=[{"status": "error", "category": "OBJECT_NOT_FOUND",
                                              "message": f"No {frm[:-1]} with the given ids",
                                              "context": {"ids": missing}}])
            return Response.json(207, body)
        return Response.json(200, body)
    if action in ("create", "associate/default"):
        pairs = []
        for item in items:
            fid = _live(app, frm, (item.get("from") or {}).get("id"))
            tid = _live(app, to, (item.get("to") or {}).get("id"))
            types = [None] if action != "create" else \
                [int(t.get("associationTypeId", -1)) for t in item.get("types") or [{}]]
            pairs.append((fid, tid, types))
        for fid, tid, types in pairs:
            for type_id in types:
                _link(app, frm, fid, to, tid, type_id)
        return Response.json(201 if action == "create" else 200, {"status": "COMPLETE", "results": [
            {"fromObjectTypeId": OBJECT_TYPE_IDS[frm], "fromObjectId": fid, "toObjectTypeId": OBJECT_TYPE_IDS[to],
             "toObjectId": tid, "labels": []} for fid, tid, _ in pairs]})
    if action == "archive":
        for item in items:
            fid = str((item.get("from") or {}).get("id", ""))
            for target in item.get("to") or []:
                tid = str((target or {}).get("id", ""))
                if fid.isdigit() and tid.isdigit() and app.links.remove(frm, int(fid), to, int(tid)):
                    app.bump(frm, int(fid))
                    app.bump(to, int(tid))
        return Response.empty(204)
    raise ApiError(404, f"No route for batch/{action}", "OBJECT_NOT_FOUND")
