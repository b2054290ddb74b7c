"""One JSON error shape for every refusal of the API: ``{"error": {"status", "code", "message"}}``."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from crmsync.errors import BusyError, CrmError, CrmsyncError, UserError
from crmsync.secrets.masking import mask


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def body(status: int, code: str, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "code": code, "message": mask(message)}}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route may give, for the OpenAPI document."""
    words = {400: "the request cannot be carried out as asked", 401: "no API key, or an unknown or revoked one",
             403: "the key's scope is too narrow", 404: "no such pipeline, run, connection or key",
             409: "another run of the connection is in progress", 502: "the CRM refused the request"}
    return {s: {"model": ErrorBody, "description": words[s]} for s in statuses}


def from_library(exc: CrmsyncError) -> ApiError:
    """crmsync's three kinds of failure, as HTTP: what the user must fix, busy, what the CRM said."""
    text = str(exc)
    if isinstance(exc, BusyError):
        return ApiError(409, "busy", text)
    if isinstance(exc, CrmError):
        return ApiError(502, "crm_refused", text)
    if isinstance(exc, UserError) and text.startswith(("no pipeline", "no connection named", "no active key")):
        return ApiError(404, "not_found", text)
    return ApiError(400, "bad_request", text)


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(body(exc.status, exc.code, exc.message), status_code=exc.status, headers=exc.headers)


async def library_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CrmsyncError)
    return await api_error_handler(request, from_library(exc))
