"""Portal metadata: ``/crm/v3/properties/{type}``, ``/crm/v3/pipelines/deals`` and ``/crm/v3/owners``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server import Request, Response
from .associations import object_type
from .errors import ApiError, int_param, not_found
from .seed import Pipeline

if TYPE_CHECKING:
    from .app import FakeHubSpot


def properties(app: FakeHubSpot, request: Request, parts: list[str]) -> Response:
    obj = object_type(parts[0]) if parts else None
    if obj is None:
        raise ApiError(400, f"Unable to infer object type from: {parts[0] if parts else ''}", "VALIDATION_ERROR")
    props = app.portal.properties[obj]
    if len(parts) == 1:
        return Response.json(200, {"results": [p.render(i, app.portal.stamp) for i, p in enumerate(props)]})
    for i, p in enumerate(props):
        if p.name == parts[1]:
            return Response.json(200, p.render(i, app.portal.stamp))
    raise ApiError(404, f"Unable to find property {parts[1]} of {obj}", "OBJECT_NOT_FOUND")


def _pipeline(app: FakeHubSpot, p: Pipeline) -> dict[str, Any]:
    stamp = app.portal.stamp
    return {"label": p.label, "displayOrder": p.order, "id": p.id,
            "stages": [{"label": s.label, "displayOrder": s.order,
                        "metadata": {"isClosed": "true" if s.closed else "false", "probability": s.probability},
                        "id": s.id, "createdAt": stamp, "updatedAt": stamp, "archived": False,
                        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT"} for s in p.stages],
            "createdAt": stamp, "updatedAt": stamp, "archived": False}


def pipelines(app: FakeHubSpot, request: Request, parts: list[str]) -> Response:
    if not parts or object_type(parts[0]) != "deals":
        raise ApiError(400, "Pipelines are served for deals only by this fake", "VALIDATION_ERROR")
    if len(parts) == 1:
        return Response.json(200, {"results": [_pipeline(app, p) for p in app.portal.pipelines]})
    found = next((p for p in app.portal.pipelines if p.id == parts[1]), None)
    if found is None:
        raise not_found(parts[1])
    body = _pipeline(app, found)
    if len(parts) == 3 and parts[2] == "stages":
        return Response.json(200, {"results": body["stages"]})
    return Response.json(200, body)


def owners(app: FakeHubSpot, request: Request, parts: list[str]) -> Response:
    rows = app.portal.owners
    if parts:
        found = next((o for o in rows if o["id"] == parts[0]), None)
        if found is None:
            raise not_found(parts[0])
        return Response.json(200, found)
    email = request.query.get("email")
    if email:
        rows = [o for o in rows if o["email"].lower() == str(email).lower()]
    if str(request.query.get("archived", "false")).lower() == "true":
        rows = []
    limit = min(max(int_param(request.query, "limit", 100), 1), 500)
    after = int_param(request.query, "after", 0)
    page: dict[str, Any] = {"results": rows[after: after + limit]}
    if after + limit < len(rows):
        page["paging"] = {"next": {"after": str(after + limit),
                                   "link": f"{request.base_url}/crm/v3/owners?after={after + limit}"}}
    return Response.json(200, page)
