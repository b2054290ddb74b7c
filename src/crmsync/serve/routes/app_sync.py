"""The app sync API: WatermelonDB's sync protocol for a mobile or web app, per tenant, behind JWTs.

Pull (``initial``, ``incremental``) answers ``{"changes": {table: {created, updated, deleted}}, "timestamp"}``,
streamed; push (``outgoing``) takes the same ``changes``. The contract, the app schema and the merge rules
are in docs/app-sync.md; the logic is in :mod:`crmsync.appsync`. These routes take a JWT, never an API key,
and everything they read or write is the token's tenant's own project folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from crmsync.errors import CrmsyncError
from crmsync.serve.consents import CONSENT, ConsentQuery, PendingConsents, page
from crmsync.serve.errors import ApiError, ErrorBody, from_library

router = APIRouter(prefix="/api/sync", tags=["app sync"])
CALLBACK = "/api/sync/connection/callback"
_consents = PendingConsents()   # OAuth state → (when, the tenant that asked, options)
_bearer = HTTPBearer(auto_error=False, description="A JWT from the app's identity provider (docs/app-sync.md)")
_BEARER = Depends(_bearer)
CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
WORDS = {400: "the request is malformed (the message says what)", 401: "no JWT, or one that cannot be trusted",
         404: "the app sync API is not configured on this server, or no such connection for this tenant",
         409: "a run of this tenant's store takes too long",
         413: "the push is larger than [app_sync] max_push_mb",
         502: "the CRM refused the request"}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": WORDS[s]} for s in statuses}


def tenant(request: Request, credentials: HTTPAuthorizationCredentials | None = _BEARER) -> Any:
    """A dependency: the tenant the request's JWT speaks for (its state), or a refusal."""
    sync = request.app.state.app_sync
    if sync.unavailable:
        raise ApiError(404, "not_configured", sync.unavailable)  # as if absent: nothing here to authenticate to
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise ApiError(401, "unauthorized", "send a JWT as `Authorization: Bearer <token>`", CHALLENGE)
    from crmsync.appsync.tokens import TokenRefused

    try:
        claims = sync.authenticate(credentials.credentials)
    except TokenRefused as exc:
        raise ApiError(401, "unauthorized", str(exc), CHALLENGE) from None
    return sync.state(claims.tenant)


_TENANT = Depends(tenant)
STREAM = {200: {"description": "`{\"changes\": {table: {created, updated, deleted}}, \"timestamp\": ms}`",
                "content": {"application/json": {"schema": {"type": "object"}}}}}


def _stream(body: IO[bytes]) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        try:
            while block := body.read(64 * 1024):
                yield block
        finally:
            body.close()

    return StreamingResponse(chunks(), media_type="application/json")


def _run(work: Any) -> Any:
    try:
        return work()
    except CrmsyncError as exc:
        raise from_library(exc) from None


@router.get("/schema", summary="The app schema: tables, columns and encodings (build WatermelonDB's appSchema from it)",
            responses=responses(401, 404))
def app_schema(request: Request, state: Any = _TENANT) -> dict[str, Any]:
    return request.app.state.app_sync.app_schema.spec


@router.get("/initial", summary="First sync: every live record of the tenant, as `created` (streamed)",
            responses={**STREAM, **responses(401, 409, 404)}, response_class=StreamingResponse)
def initial(request: Request, state: Any = _TENANT) -> StreamingResponse:
    return _stream(_run(lambda: request.app.state.app_sync.pull(state, None, set())))


@router.get("/incremental", summary="Every change since `last_pulled_at`, exactly once (streamed)",
            responses={**STREAM, **responses(400, 401, 409, 404)}, response_class=StreamingResponse)
def incremental(request: Request, state: Any = _TENANT,
                last_pulled_at: int | None = Query(None, ge=0, description="The `timestamp` of the previous pull "
                                                                          "(none: a first sync)"),
                schema_version: int | None = Query(None, ge=0, description="The client's app schema version"),
                migration: str | None = Query(None, description="WatermelonDB's migration sync object as JSON: "
                                                                "`{\"from\", \"tables\", \"columns\"}`")
                ) -> StreamingResponse:
    sync = request.app.state.app_sync
    if schema_version is not None and schema_version > sync.app_schema.version:
        raise ApiError(400, "bad_request", f"the client's schema version {schema_version} is newer than this "
                                           f"server's ({sync.app_schema.version}); update the server")
    full = _migration_tables(migration, set(sync.app_schema.tables)) if last_pulled_at is not None else set()
    return _stream(_run(lambda: sync.pull(state, last_pulled_at, full)))


def _migration_tables(text: str | None, known: set[str]) -> set[str]:
    if not text:
        return set()
    try:
        raw = json.loads(text)
        tables = set(raw.get("tables") or []) | {c["table"] for c in raw.get("columns") or []}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise ApiError(400, "bad_request", "migration must be JSON like {\"from\": 1, \"tables\": [\"deals\"], "
                                           "\"columns\": [{\"table\": \"contacts\", \"columns\": [\"position\"]}]}"
                       ) from None
    unknown = sorted(t for t in tables if t not in known)
    if unknown:
        raise ApiError(400, "bad_request", f"migration names unknown table(s) {', '.join(map(str, unknown))}")
    return tables


class PushBody(BaseModel):
    changes: dict[str, Any] = Field(description="`{table: {created: [record], updated: [record], deleted: [id]}}`; "
                                                "a record may carry WatermelonDB's `_changed` column list")


@router.post("/outgoing", summary="Apply the app's changes: checked, merged per field, conflicts by the policy",
             responses=responses(400, 401, 409, 404, 413))
def outgoing(request: Request, body: PushBody, state: Any = _TENANT,
             last_pulled_at: int | None = Query(None, ge=0, description="The client's last pull `timestamp`: the "
                                                                       "base its edits are merged against"),
             ) -> dict[str, Any]:
    from crmsync.appsync.outgoing import BadPush

    sync = request.app.state.app_sync
    try:
        result = _run(lambda: sync.push(state, body.changes, last_pulled_at))
    except BadPush as exc:
        raise ApiError(400, "bad_request", str(exc)) from None
    answer = result.as_dict()
    if sync.settings.push_now and any(sum(c.values()) for c in result.applied.values()):
        answer["runs"] = [state.runner.submit(p, kind="sync", trigger="app").job_id
                          for p in sync.tenant_pipelines(state)]
    return answer


@router.get("/status", summary="The tenant's connections, last and next runs, unsent writes and conflicts",
            responses=responses(401, 409, 404))
def status(request: Request, state: Any = _TENANT) -> dict[str, Any]:
    from crmsync.conflict_review import list_conflicts
    from crmsync.connections.manage import list_connections
    from crmsync.run_history import list_runs

    sync = request.app.state.app_sync
    project = state.tenant.project
    with sync.store(state) as con:
        pending = con.execute("SELECT entity, count(*) FROM sync.outbox WHERE status IN ('pending', 'sending', "
                              "'unknown') GROUP BY entity ORDER BY entity").fetchall()
        seq = con.execute("SELECT coalesce(max(seq), 0) FROM sync.app_clock").fetchone()[0]
        # app edits made after the start of the last sync or push that went through: not in a CRM yet
        unsent = con.execute("SELECT entity, count(DISTINCT canonical_id) FROM sync.changes WHERE side = 'app' AND "
                             "changed_at > coalesce((SELECT max(started_at) FROM sync.runs WHERE kind IN ('sync', "
                             "'push') AND status IN ('ok', 'issues')), TIMESTAMPTZ '1970-01-01 00:00:00+00') "
                             "GROUP BY entity ORDER BY entity").fetchall()
    lock = state.runner.store_lock
    if not lock.acquire(timeout=300):
        raise ApiError(409, "busy", "a run of this tenant is writing its store; try again later")
    try:
        connections = [c.to_dict() for c in list_connections(project)]
        conflicts = list_conflicts(project, limit=100).as_dict()
        runs = list_runs(project, limit=20).as_dict()["runs"]
    finally:
        lock.release()
    pipelines = []
    names = {c["name"] for c in connections}
    scheduler = request.app.state.scheduler
    for name, pipe in sorted(sync.pipelines.items()):
        if pipe.connection in names:
            running = state.runner.running(pipe.connection)
            pipelines.append({"pipeline": name, "connection": pipe.connection,
                              "next_run": _iso(scheduler.plans[name].next_at if scheduler.enabled else None),
                              "running": running.as_dict() if running is not None else None})
    return {"connections": connections, "pipelines": pipelines, "runs": runs,
            "pending_writes": {entity: n for entity, n in pending},
            "unsent_app_edits": {entity: n for entity, n in unsent}, "conflicts": conflicts,
            "last_change": seq}


# -- connections -------------------------------------------------------------------------------------------
class ConnectionCreate(BaseModel):
    crm: str = Field(description="The connector: the name of a file in connectors/")
    name: str = Field(description="The connection's name: a pipeline's `connection:` (the template it follows)")
    long_lived_token: str | None = Field(None, description="A long-lived token (connectors with auth long_lived_token)")
    webhook_url: str | None = Field(None, description="An inbound webhook URL (connectors with auth webhook_url)")
    base_url: str | None = Field(None, description="The account's full API address")
    subdomain: str | None = Field(None, description="The account's name under the connector's connect.domain")
    replace: bool = Field(False, description="Replace the tenant's connection of that name")


@router.post("/connection", status_code=201, responses=responses(400, 401, 409, 502, 404),
             summary="Connect the tenant's CRM account from a long-lived token or webhook URL (checked, then saved)")
def create_connection(request: Request, body: ConnectionCreate, state: Any = _TENANT) -> dict[str, Any]:
    from crmsync.connections.connect import ConnectOptions, connect

    if not (body.long_lived_token or body.webhook_url):
        raise ApiError(400, "bad_request", "give long_lived_token or webhook_url (whichever the connector's auth "
                                           "allows); for OAuth use GET /api/sync/connection/auth-url")
    opts = ConnectOptions(crm=body.crm, name=body.name, long_lived_token=body.long_lived_token,
                          webhook_url=body.webhook_url, base_url=body.base_url, subdomain=body.subdomain,
                          replace=body.replace)
    return _locked(state, lambda: connect(state.tenant.project, opts).to_dict())


@router.get("/connection", summary="The tenant's connections and their status", responses=responses(401, 409, 404))
def list_connection(request: Request, state: Any = _TENANT) -> dict[str, Any]:
    from crmsync.connections.manage import list_connections

    return _locked(state, lambda: {"connections": [c.to_dict() for c in list_connections(state.tenant.project)]})


@router.delete("/connection/{id}", summary="Delete one of the tenant's connections and its credentials",
               responses=responses(401, 404, 409))
def delete_connection(request: Request, id: str, state: Any = _TENANT) -> dict[str, Any]:  # noqa: A002
    from crmsync.connections.manage import delete_connection as delete

    return _locked(state, lambda: delete(state.tenant.project, id))


@router.get("/connection/auth-url", responses=responses(400, 401, 409, 404),
            summary="OAuth: the CRM's consent URL; the CRM redirects to this server's callback, which connects")
def auth_url(request: Request, state: Any = _TENANT, name: str = Query(description="The connection's name"),
             query: ConsentQuery = CONSENT) -> dict[str, Any]:
    from crmsync.connections.connect import auth_url as consent

    opts = query.options(request, name, CALLBACK)
    return _consents.start(opts, state.tenant.id, lambda o: _locked(state, lambda: consent(state.tenant.project, o)))


@router.get(CALLBACK.removeprefix("/api/sync"), response_class=HTMLResponse, include_in_schema=False)
def oauth_callback(request: Request) -> HTMLResponse:
    """Where the CRM sends the browser back; the one-time ``state`` (bound to the tenant that asked) stands
    in for the JWT here."""
    from crmsync.connections.connect import connect

    taken = _consents.take(request)
    if taken is None:
        return page(400, "This authorisation link is unknown, used or expired. Ask the app for a new one.")
    tenant_id, opts = taken
    state = request.app.state.app_sync.state(tenant_id)
    try:
        connected = _locked(state, lambda: connect(state.tenant.project, opts))
    except ApiError as err:
        return page(err.status, f"Nothing was saved: {err.message}")
    return page(200, f"Connected {connected.name} ({connected.crm}). You can close this window.")


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _locked(state: Any, work: Any) -> Any:
    lock = state.runner.store_lock
    if not lock.acquire(timeout=300):
        raise ApiError(409, "busy", "a run of this tenant has been writing its store for over 300 s; try again later")
    try:
        return _run(work)
    finally:
        lock.release()
