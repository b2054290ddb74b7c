"""Bitrix24 OAuth 2.0: the portal's ``/oauth/authorize/`` and the OAuth server's ``/oauth/token/``.

Real Bitrix24 splits these between the portal and ``oauth.bitrix.info``; the fake serves both on one
host. Authorization auto-approves (a test has no browser). The redirect URI normally comes from the
app registration; the fake takes ``redirect_uri`` from the query and falls back to the configured one.
Refresh tokens rotate with the INVALIDATE policy: the old refresh token and its access token die.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..oauth import INVALID_CLIENT, OAuthError
from ..server import Request, Response

if TYPE_CHECKING:
    from .app import FakeBitrix24

SCOPE = "crm,task,user"


def handle(app: FakeBitrix24, request: Request) -> Response:
    route = request.path.rstrip("/")
    if route == "/oauth/authorize":
        return _authorize(app, request)
    if route == "/oauth/token":
        return _token(app, request)
    return Response.json(404, {"error": "invalid_request", "error_description": f"Unknown OAuth route {route}"})


def _authorize(app: FakeBitrix24, request: Request) -> Response:
    q = request.query
    if q.get("client_id") != app.config.client_id:
        return Response.json(400, {"error": "invalid_client",
                                   "error_description": f"Application {q.get('client_id')!r} is not installed "
                                                        "on this portal"})
    redirect = str(q.get("redirect_uri") or app.config.redirect_uri)
    code = app.oauth.issue_code(redirect)
    params = {"code": code, "state": q.get("state", ""), "domain": app.config.portal,
              "member_id": app.config.member_id, "scope": SCOPE, "server_domain": request.host}
    parts = urlsplit(redirect)
    query = (parts.query + "&" if parts.query else "") + urlencode(params)
    return Response.redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)))


def _token(app: FakeBitrix24, request: Request) -> Response:
    params = dict(request.query)
    body = request.body_params() if request.method == "POST" else None
    if isinstance(body, dict):
        params.update(body)
    grant = params.get("grant_type")
    try:
        if grant == "authorization_code":
            pair = app.oauth.exchange_code(params.get("client_id"), params.get("client_secret"), params.get("code"),
                                           check_redirect=False)
        elif grant == "refresh_token":
            pair = app.oauth.refresh(params.get("client_id"), params.get("client_secret"),
                                     params.get("refresh_token"))
        else:
            return Response.json(400, {"error": "invalid_request",
                                       "error_description": f"grant_type {grant!r} is not one of: "
                                                           "authorization_code, refresh_token"})
    except OAuthError as exc:
        status = 401 if exc.reason == INVALID_CLIENT else 400
        return Response.json(status, {"error": exc.reason, "error_description": exc.hint})
    base = request.base_url
    return Response.json(200, {
        "access_token": pair.access_token, "client_endpoint": f"{base}/rest/", "domain": app.config.portal,
        "expires": int(pair.expires_at), "expires_in": pair.expires_in, "member_id": app.config.member_id,
        "refresh_token": pair.refresh_token, "scope": SCOPE, "server_endpoint": f"{base}/oauth/",
        "status": "L", "user_id": 1,
    })
