"""AmoCRM's error bodies: ``application/problem+json`` for the API, OAuthProblemJson for tokens.

Clients branch on these exact bodies (status, ``title``, ``detail``, ``validation-errors``), so every
error the fake sends, including injected faults, goes through this module.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from ..server import Request, Response

PROBLEM = "application/problem+json"
OAUTH_PROBLEM_TYPE = "https://developers.amocrm.ru/v3/errors/OAuthProblemJson"

# Nginx answers gateway errors itself, before the PHP application: HTML, not problem+json.
_NGINX_PAGE = ("<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
               "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")

_DETAILS = {
    400: "Bad Request",
    401: "Invalid user name or password",
    402: "Payment required",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Limit 250 per page",
    503: "Service Unavailable",
}

TOO_MANY = "You have sent too many requests in a given amount of time. Please try again later."


def problem(status: int, detail: str | None = None, headers: dict[str, str] | None = None,
            **extra: Any) -> Response:
    phrase = HTTPStatus(status).phrase
    body = {"title": phrase, "type": f"https://httpstatus.es/{status}", "status": status,
            "detail": detail if detail is not None else _DETAILS.get(status, phrase), **extra}
    return Response.json(status, body, content_type=PROBLEM, headers=headers)


def unauthorized() -> Response:
    return problem(401)


def too_many(retry_after: int) -> Response:
    return problem(429, TOO_MANY, headers={"Retry-After": str(retry_after)}, retry_after=retry_after)


def not_found_route(request: Request) -> Response:
    qs = "&".join(f"{k}={v}" for k, v in request.query_pairs)
    url = f"{request.base_url}{request.path}" + (f"?{qs}" if qs else "")
    return problem(404, f"Cannot {request.method} {url}")


def method_not_allowed(request: Request) -> Response:
    return problem(405, f"Method {request.method} is not allowed for {request.path}")


def bad_request(detail: str) -> Response:
    return problem(400, detail)


def fault_response(status: int, retry_after: int) -> Response:
    """What the real service sends for ``status``, so injected faults look like the real thing."""
    if status == 403:  # an IP/account block answers before the API: plain text
        return Response.text(403, "403 Forbidden")
    if status in (502, 504):
        phrase = HTTPStatus(status).phrase
        return Response(status, _NGINX_PAGE.format(code=status, phrase=phrase).encode(),
                        {"Content-Type": "text/html"})
    if status == 429:
        return too_many(retry_after)
    if status == 500:
        body = {"title": "ErrInternalServer", "type": "https://httpstatus.es/500", "status": 500,
                "detail": "Internal Server Error", "trace_id": secrets.token_hex(16)}
        return Response.json(500, body, content_type=PROBLEM)
    if status == 503:
        return problem(503, headers={"Retry-After": str(retry_after)})
    try:
        return problem(status)
    except ValueError:  # a status http.HTTPStatus does not know (e.g. 499)
        return Response.json(status, {"title": "Error", "type": f"https://httpstatus.es/{status}",
                                      "status": status, "detail": "Error"}, content_type=PROBLEM)


def oauth_problem(hint: str, status: int = 400) -> Response:
    body = {"hint": hint, "title": "Некорректный запрос", "type": OAUTH_PROBLEM_TYPE, "status": status,
            "detail": "В запросе отсутствует ряд параметров или параметры невалидны"}
    return Response.json(status, body, content_type=PROBLEM)


# -- validation errors of writes -------------------------------------------------------------------
NOT_SUPPORTED_CHOICE = "NotSupportedChoice"
INVALID_TYPE = "InvalidType"
NOT_FOUND = "NotFound"
NOT_BLANK = "NotBlank"

_CODE_DETAIL = {
    NOT_SUPPORTED_CHOICE: "The value you selected is not a valid choice.",
    NOT_FOUND: "Entity not found.",
    NOT_BLANK: "This value should not be blank.",
}


@dataclass
class ItemErrors:
    """Errors of one item of a bulk write, keyed by its ``request_id``."""

    request_id: str
    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, code: str, path: str, detail: str | None = None) -> None:
        self.errors.append({"code": code, "path": path, "detail": detail or _CODE_DETAIL.get(code, code)})

    def type_error(self, path: str, expected: str) -> None:
        self.add(INVALID_TYPE, path, f"This value should be of type {expected}.")

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "errors": self.errors}


def validation_failed(items: list[ItemErrors]) -> Response:
    body = {"validation-errors": [i.as_dict() for i in items], "title": "Bad Request",
            "type": "https://httpstatus.es/400", "status": 400, "detail": "Request validation failed"}
    return Response.json(400, body, content_type=PROBLEM)
