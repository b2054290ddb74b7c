"""Bearer API keys on every route but ``/healthz``, the page's own files and the OAuth callback."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crmsync.serve.errors import ApiError
from crmsync.serve.keys import ApiKey, allows, verify

_bearer = HTTPBearer(auto_error=False, description="An API key from `crmsync api-keys create NAME --scope …`")
_BEARER = Depends(_bearer)
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the request's key, which must be active and at least ``scope``."""

    def check(request: Request, credentials: HTTPAuthorizationCredentials | None = _BEARER) -> ApiKey:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise ApiError(401, "unauthorized", "send an API key as `Authorization: Bearer <key>` (make one "
                                                "with `crmsync api-keys create NAME --scope read`)", CHALLENGE)
        key = verify(request.app.state.project, credentials.credentials)
        if key is None:
            raise ApiError(401, "unauthorized", "this API key is unknown or revoked", CHALLENGE)
        if not allows(key.scope, scope):
            raise ApiError(403, "forbidden", f"this route needs a key with scope {scope!r} or wider; "
                                             f"key {key.name!r} has {key.scope!r}")
        return key

    return check
