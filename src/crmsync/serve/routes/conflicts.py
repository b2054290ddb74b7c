"""Conflicts: the same functions as ``crmsync conflicts list|resolve``, the same JSON."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from crmsync.serve import storeguard
from crmsync.serve.auth import require
from crmsync.serve.errors import responses

router = APIRouter(prefix="/api/conflicts", tags=["conflicts"])


@router.get("", summary="Pending conflicts, newest first (`all=true`: also resolved ones)",
            responses=responses(400, 401, 403), dependencies=[Depends(require("read"))])
def list_conflicts(request: Request, response: Response, all: bool = False,  # noqa: A002 (the CLI's --all)
                   entity: str | None = None, limit: int = Query(100, ge=1, le=10000)) -> dict[str, Any]:
    from crmsync.conflict_review import list_conflicts as listing

    return storeguard.read(request, response, lambda: listing(request.app.state.project, everything=all,
                                                              entity=entity, limit=limit).as_dict())


class ResolveRequest(BaseModel):
    ids: list[str] = Field(default_factory=list, description="Conflict ids to decide (from the list)")
    take: Literal["local", "crm"] | None = Field(None, description="Keep the local value or the CRM's")
    value: Any = Field(None, description="Keep this value instead (any JSON; with has_value)")
    has_value: bool = Field(False, description="true when `value` is the decision (it may be null)")
    all: bool = Field(False, description="Every pending conflict (narrow with entity and field)")
    entity: str | None = None
    field: str | None = None


@router.post("/resolve", summary="Decide pending conflicts; the next sync sends the choice",
             responses=responses(400, 401, 403), dependencies=[Depends(require("operate"))])
def resolve(request: Request, body: ResolveRequest) -> dict[str, Any]:
    from crmsync.conflict_review import resolve as do_resolve

    return storeguard.write(request, lambda: do_resolve(
        request.app.state.project, ids=body.ids, take=body.take, value=body.value, has_value=body.has_value,
        every_pending=body.all, entity=body.entity, field_name=body.field).as_dict())
