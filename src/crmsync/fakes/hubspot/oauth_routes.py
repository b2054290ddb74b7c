"""HubSpot's OAuth 2.0 endpoints: the install page ``/oauth/authorize`` (auto-approved), the form-encoded
``POST /oauth/v1/token`` and ``GET /oauth/v1/access-tokens/{token}``.

Token answers are ``{token_type, refresh_token, access_token, expires_in}`` (30-minute access tokens);
the refresh token never rotates. Errors are ``{status: BAD_AUTH_CODE | BAD_REFRESH_TOKEN | BAD_CLIENT_ID
| BAD_CLIENT_SECRET | BAD_REDIRECT_URI | BAD_GRANT_TYPE, message, correlationId}`` with 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..oauth import INVALID_CLIENT, OAuthError
from ..server import Request, Response
from .errors import correlation_id

if TYPE_CHECKING:
    from .app import FakeHubSpot


def _oauth_error(status: str, message: str, code: int = 400) -> Response:
    return Response.json(code, {"status": status, "message": message, "correlationId": correlation_id()})


def authorize(app: FakeHubSpot, request: Request) -> Response:
    q = request.query
    client_id = str(q.get("client_id") or "")
    if client_id != app.config.client_id:
        return Response.text(400, f"Couldn't complete the connection: no app with client_id {client_id!r}")
    redirect_uri = str(q.get("redirect_uri") or app.config.redirect_uri)
    params = {"code": app.oauth.issue_code(redirect_uri)}
    if q.get("state") is not None:
        params["state"] = str(q["state"])
    parts = urlsplit(redirect_uri)
    query = "&".join(p for p in (parts.query, urlencode(params)) if p)
    return Response.redirect(urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment)))


def token(app: FakeHubSpot, request: Request) -> Response:
    if request.method != "POST":
        return _oauth_error("BAD_REQUEST", "the token endpoint only accepts POST", 405)
    body = request.body_params() if request.body else request.query
    if not isinstance(body, dict):
        return _oauth_error("BAD_REQUEST", "the body must be form-encoded parameters")
    grant = body.get("grant_type")
    client_id, secret = body.get("client_id"), body.get("client_secret")
    if client_id != app.config.client_id:
        return _oauth_error("BAD_CLIENT_ID", "missing or invalid client id")
    try:
        if grant == "authorization_code":
            pair = app.oauth.exchange_code(client_id, secret, body.get("code"), body.get("redirect_uri"))
        elif grant == "refresh_token":
            pair = app.oauth.refresh(client_id, secret, body.get("refresh_token"))
        else:
            return _oauth_error("BAD_GRANT_TYPE", "grant_type must be one of: authorization_code, refresh_token")
    except OAuthError as exc:
        if exc.reason == INVALID_CLIENT:
            return _oauth_error("BAD_CLIENT_SECRET", "missing or invalid client secret")
        if "redirect_uri" in exc.hint:
            return _oauth_error("BAD_REDIRECT_URI", "redirect_uri does not match the one used to get the code")
        if grant == "authorization_code":
            return _oauth_error("BAD_AUTH_CODE", "missing or unknown auth code")
        return _oauth_error("BAD_REFRESH_TOKEN", "missing or invalid refresh token")
    return Response.json(200, {"token_type": "bearer", "refresh_token": pair.refresh_token,
                               "access_token": pair.access_token, "expires_in": pair.expires_in})


def access_token_info(app: FakeHubSpot, token_value: str) -> Response:
    expires_at = app.oauth.expires_at(token_value)
    remaining = int(expires_at - app.clock.now()) if expires_at is not None else 0
    if expires_at is None or remaining <= 0:
        return Response.json(404, {"status": "error", "message": "Token not found", "correlationId": correlation_id(),
                                   "category": "OBJECT_NOT_FOUND"})
    owner = app.portal.owners[0]
    return Response.json(200, {"token": token_value, "user": owner["email"], "hub_domain": app.config.hub_domain,
                               "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write",
                                          "crm.objects.deals.read", "crm.objects.deals.write",
                                          "crm.objects.owners.read"],
                               "hub_id": app.config.hub_id, "app_id": app.config.app_id, "expires_in": remaining,
                               "user_id": owner["userId"], "token_type": "access"})
