"""Connections: list, create (long-lived token / webhook URL), delete, and OAuth through the server.

OAuth: ``GET /api/connections/{name}/auth-url`` answers the CRM's consent URL whose redirect is this
server's own ``/api/oauth/callback``; the CRM sends the browser there, and the callback finishes
the connection as ``crmsync connect`` would (code exchange, one checking call, encrypted save).
The client secret stays in the server's memory between the two (crmsync.serve.consents).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from crmsync.errors import CrmsyncError
from crmsync.serve import storeguard
from crmsync.serve.auth import require
from crmsync.serve.consents import CONSENT, ConsentQuery, PendingConsents, page
from crmsync.serve.errors import ApiError, from_library, responses

router = APIRouter(prefix="/api", tags=["connections"])
CALLBACK = "/api/oauth/callback"
_consents = PendingConsents()


@router.get("/connections", summary="Connections and their status (as `crmsync connections list --json`)",
            responses=responses(401, 403), dependencies=[Depends(require("read"))])
def list_connections(request: Request, response: Response) -> dict[str, Any]:
    from crmsync.connections.manage import list_connections as listing

    return storeguard.read(request, response, lambda: {
        "connections": [c.to_dict() for c in listing(request.app.state.project)]})


class ConnectionCreate(BaseModel):
    crm: str = Field(description="The connector: the name of a file in connectors/")
    name: str = Field(description="The connection's name (pipelines refer to it)")
    long_lived_token: str | None = Field(None, description="A long-lived token (connectors with auth long_lived_token)")
    webhook_url: str | None = Field(None, description="An inbound webhook URL (connectors with auth webhook_url)")
    base_url: str | None = Field(None, description="The account's full API address")
    subdomain: str | None = Field(None, description="The account's name under the connector's connect.domain")
    replace: bool = Field(False, description="Replace an existing connection of that name")


@router.post("/connections", status_code=201, responses=responses(400, 401, 403, 502),
             summary="Create a connection from a long-lived token or webhook URL (checked before it is saved)",
             dependencies=[Depends(require("admin"))])
def create_connection(request: Request, body: ConnectionCreate) -> dict[str, Any]:
    from crmsync.connections.connect import ConnectOptions, connect

    if not (body.long_lived_token or body.webhook_url):
        raise ApiError(400, "bad_request", "give long_lived_token or webhook_url (whichever the connector's auth "
                                           "allows); for OAuth use GET /api/connections/{name}/auth-url")
    opts = ConnectOptions(crm=body.crm, name=body.name, long_lived_token=body.long_lived_token,
                          webhook_url=body.webhook_url, base_url=body.base_url, subdomain=body.subdomain,
                          replace=body.replace)
    return storeguard.write(request, lambda: connect(request.app.state.project, opts).to_dict())


@router.delete("/connections/{name}", summary="Delete a connection and its stored credentials",
               responses=responses(401, 403, 404), dependencies=[Depends(require("admin"))])
def delete_connection(request: Request, name: str) -> dict[str, Any]:
    from crmsync.connections.manage import delete_connection as delete

    return storeguard.write(request, lambda: delete(request.app.state.project, name))


@router.get("/connections/{name}/auth-url", responses=responses(400, 401, 403),
            summary="OAuth: the CRM's consent URL; the CRM redirects to this server's callback, which connects",
            dependencies=[Depends(require("admin"))])
def auth_url(request: Request, name: str, query: ConsentQuery = CONSENT) -> dict[str, Any]:
    from crmsync.connections.connect import auth_url as consent

    project = request.app.state.project
    opts = query.options(request, name, CALLBACK)
    return _consents.start(opts, None, lambda o: storeguard.write(request, lambda: consent(project, o)))


@router.get(CALLBACK.removeprefix("/api"), response_class=HTMLResponse, include_in_schema=False)
def oauth_callback(request: Request) -> HTMLResponse:
    """Where the CRM sends the browser back; the one-time ``state`` stands in for an API key here."""
    from crmsync.connections.connect import connect

    taken = _consents.take(request)
    if taken is None:
        return page(400, "This authorisation link is unknown, used or expired. Ask for a new one "
                         "(GET /api/connections/NAME/auth-url).")
    opts = taken[1]
    try:
        connected = storeguard.write(request, lambda: connect(request.app.state.project, opts))
    except CrmsyncError as exc:
        err = from_library(exc)
        return page(err.status, f"Nothing was saved: {err.message}")
    return page(200, f"Connected {connected.name} ({connected.crm}, {connected.base_url}). You can close this window.")
