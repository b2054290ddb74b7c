"""OAuth endpoints: the consent page (auto-approved) and ``POST /oauth2/access_token``.

The real consent page takes the redirect URI from the integration's settings; the fake has no
settings page, so it reads ``redirect_uri`` from the query and falls back to the configured one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..oauth import INVALID_CLIENT, OAuthError
from ..server import Request, Response
from .errors import oauth_problem

if TYPE_CHECKING:
    from .app import FakeAmoCRM


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def authorize(app: FakeAmoCRM, request: Request) -> Response:
    cfg = app.config
    q = request.query
    client_id = str(q.get("client_id") or "")
    if client_id != cfg.client_id:
        return oauth_problem(f"Unknown client_id {client_id!r}: no integration with this id is installed")
    redirect_uri = str(q.get("redirect_uri") or cfg.redirect_uri)
    state = q.get("state")
    if cfg.authorize_decline:
        params = {"error": "access_denied", "client_id": client_id}
    else:
        referer = request.host if cfg.referer == "host" else f"{cfg.subdomain}.amocrm.ru"
        params = {"code": app.oauth.issue_code(redirect_uri), "referer": referer, "client_id": client_id}
    if state is not None:  # echoed only when sent
        params = {**params, "state": str(state)}
        params = {k: params[k] for k in ("code", "error", "state", "referer", "client_id") if k in params}
    return Response.redirect(_with_query(redirect_uri, params))


def access_token(app: FakeAmoCRM, request: Request) -> Response:
    if request.method != "POST":
        return oauth_problem("The token endpoint only accepts POST")
    body = request.body_params()
    if not isinstance(body, dict):
        return oauth_problem("The request body must be a JSON object")
    grant = body.get("grant_type")
    try:
        if grant == "authorization_code":
            if not body.get("code"):
                return oauth_problem("Check the `code` parameter")
            pair = app.oauth.exchange_code(body.get("client_id"), body.get("client_secret"), body.get("code"),
                                           body.get("redirect_uri"))
        elif grant == "refresh_token":
            if not body.get("refresh_token"):
                return oauth_problem("Check the `refresh_token` parameter")
            pair = app.oauth.refresh(body.get("client_id"), body.get("client_secret"), body.get("refresh_token"))
        else:
            return oauth_problem(f"The authorization grant type {grant!r} is not supported by the authorization "
                                 "server; use authorization_code or refresh_token")
    except OAuthError as exc:
        return oauth_problem(exc.hint, 401 if exc.reason == INVALID_CLIENT else 400)
    return Response.json(200, {"token_type": "Bearer", "expires_in": pair.expires_in,
                               "access_token": pair.access_token, "refresh_token": pair.refresh_token,
                               "server_time": int(pair.issued_at)})
