"""Bitrix24's error bodies and the HTTP statuses they come with (reference B2, B6, B7).

Every error is ``{"error": "CODE", "error_description": "text"}``; legacy ``crm.*`` methods use an
empty code with a description only. Handlers raise :class:`ApiError`; the app and ``batch`` turn it
into the body, so a sub-call inside a batch fails exactly as the same call would on its own.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(f"{status} {code}: {description}")
        self.status = status
        self.code = code
        self.description = description

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "error_description": self.description}


def not_found() -> ApiError:
    return ApiError(400, "", "Not found")


def bad_id() -> ApiError:
    return ApiError(400, "", "ID is not defined or invalid.")


def fields_not_array() -> ApiError:
    return ApiError(400, "", "Parameter 'fields' must be array.")


def core(description: str) -> ApiError:
    return ApiError(400, "ERROR_CORE", description)


def item_not_found() -> ApiError:
    return ApiError(400, "NOT_FOUND", "Item not found")


def invalid_filter(field: str) -> ApiError:
    return ApiError(400, "INVALID_ARG_VALUE", f"Invalid filter: field '{field}' is not allowed in filter")


def method_not_found() -> ApiError:
    return ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")


def no_auth() -> ApiError:
    return ApiError(401, "NO_AUTH_FOUND", "Wrong authorization data")


def expired_token() -> ApiError:
    return ApiError(401, "expired_token", "The access token provided has expired.")


def invalid_token() -> ApiError:
    return ApiError(401, "invalid_token", "The access token provided is invalid.")


def query_limit() -> ApiError:
    return ApiError(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")


def operation_time_limit(method: str) -> ApiError:
    return ApiError(429, "OPERATION_TIME_LIMIT", f"Method is blocked due to operation time limit. ({method})")


# What an injected fault of a given status looks like on the real API, so clients see a body they know.
FAULT_BODIES: dict[int, tuple[str, str]] = {
    400: ("", "Bad request"),
    401: ("expired_token", "The access token provided has expired."),
    403: ("ACCESS_DENIED", "REST API is available only on commercial plans."),
    404: ("ERROR_METHOD_NOT_FOUND", "Method not found!"),
    405: ("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage."),
    429: ("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit."),
    500: ("INTERNAL_SERVER_ERROR", "Internal server error"),
    502: ("ERROR_UNEXPECTED_ANSWER", "Server returned an unexpected response."),
    503: ("QUERY_LIMIT_EXCEEDED", "Too many requests"),
    504: ("ERROR_UNEXPECTED_ANSWER", "Server returned an unexpected response."),
}


def fault_body(status: int) -> dict[str, str]:
    code, text = FAULT_BODIES.get(status, ("INTERNAL_SERVER_ERROR" if status >= 500 else "",
                                           "Internal server error" if status >= 500 else "Bad request"))
    return {"error": code, "error_description": text}
