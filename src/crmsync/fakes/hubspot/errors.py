"""HubSpot's error bodies: the v3 envelope ``{status, message, correlationId, category, ...}``.

Clients branch on ``category`` (``VALIDATION_ERROR``, ``OBJECT_NOT_FOUND``, ``CONFLICT``,
``INVALID_AUTHENTICATION``, ``EXPIRED_AUTHENTICATION``, ``RATE_LIMITS``) and, for 429s, on
``policyName``; every error the fake sends goes through this module so the shapes stay one fact.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..server import Response

AUTH_DOCS = "https://developers.hubspot.com/docs/methods/auth/oauth-overview"


class ApiError(Exception):
    """An error a handler raises; ``response()`` renders HubSpot's body for it."""

    def __init__(self, status: int, message: str, category: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.extra = extra

    def response(self) -> Response:
        return error(self.status, self.message, self.category, **self.extra)


def correlation_id() -> str:
    return str(uuid.uuid4())


def error(status: int, message: str, category: str, headers: dict[str, str] | None = None,
          **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": correlation_id(), "category": category, **extra}
    return Response.json(status, body, headers=headers)


def validation(message: str, **extra: Any) -> ApiError:
    return ApiError(400, message, "VALIDATION_ERROR", **extra)


def property_errors(problems: list[dict[str, Any]], portal_id: int) -> ApiError:
    """HubSpot packs per-property problems as a JSON list inside ``message`` (and mirrors them in ``errors``)."""
    items = [{"isValid": False, "message": p["message"], "error": p["error"], "name": p["name"],
              "localizedErrorMessage": p["message"], "portalId": portal_id} for p in problems]
    return validation("Property values were not valid: " + json.dumps(items, ensure_ascii=False),
                      errors=[{"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
                              for p in problems])


def int_param(query: dict[str, Any], name: str, default: int) -> int:
    """A numeric query parameter, or the 400 HubSpot answers for one that is not a number."""
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(str(raw))
    except ValueError:
        raise validation(f"{name} must be an integer, not {raw!r}") from None


def not_found(object_id: str) -> ApiError:
    return ApiError(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND",
                    context={"id": [object_id]})


def route_not_found(method: str, path: str) -> Response:
    return error(404, f"Unable to infer object type from: {path}" if path.startswith("/crm/") else
                 f"No route for {method} {path}", "OBJECT_NOT_FOUND")


def unauthenticated(present: bool) -> Response:
    message = ("The access token provided is invalid or has been revoked. " if present else
               "Authentication credentials not found. ") + \
        f"This API supports OAuth 2.0 authentication and you can find more details at {AUTH_DOCS}"
    return error(401, message, "INVALID_AUTHENTICATION")


def expired(expired_at_iso: str, hours_ago: int) -> Response:
    return error(401, f"The OAuth token used to make this call expired {hours_ago} hour(s) ago.",
                 "EXPIRED_AUTHENTICATION", context={"expire time": [expired_at_iso]})


RATE_MESSAGES = {"TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
                 "SECONDLY": "You have reached your secondly limit.",
                 "DAILY": "You have reached your daily limit."}


def rate_limited(policy: str, headers: dict[str, str] | None = None) -> Response:
    """The documented 429 (``errorType``/``policyName``), with the v3 envelope's ``category`` as well."""
    body = {"status": "error", "message": RATE_MESSAGES[policy], "errorType": "RATE_LIMIT",
            "correlationId": correlation_id(), "policyName": policy, "requestId": str(uuid.uuid4()),
            "category": "RATE_LIMITS"}
    return Response.json(429, body, headers=headers)


def fault(status: int, retry_after: int) -> Response:
    """An injected fault, shaped as HubSpot sends that status."""
    if status == 429:
        return rate_limited("TEN_SECONDLY_ROLLING", {"Retry-After": str(retry_after)})
    if status == 401:
        return unauthenticated(True)
    if status in (502, 503, 504):  # the edge answers these itself, before the API: HTML
        page = f"<html><head><title>{status}</title></head><body><h1>{status} error</h1></body></html>"
        return Response(status, page.encode(), {"Content-Type": "text/html; charset=utf-8",
                                                **({"Retry-After": str(retry_after)} if status == 503 else {})})
    if status >= 500:
        return error(status, "internal error", "INTERNAL_ERROR")
    if status == 404:
        return error(404, "resource not found", "OBJECT_NOT_FOUND")
    if status == 409:
        return error(409, "Conflict", "CONFLICT")
    return error(status, "There was a problem with the request.", "VALIDATION_ERROR")
