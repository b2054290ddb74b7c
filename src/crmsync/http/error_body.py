"""What a CRM said in an error answer: the connector spec's ``error_body`` block, applied.

Every CRM words its errors in a body of its own shape; the connector says where in it the error code,
the message, any structured details and a wait in seconds are (dotted paths, as everywhere in a
spec). What is not declared, or a body that is not JSON (a gateway's HTML page), falls back to the
answer's text with its tags removed. One reader serves the error rules (``errors[].error`` matches
the code), every "the CRM answered …" message, the connection check and the token endpoint.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import requests

TEXT_CHARS = 300     # of a body we cannot read, the first so many characters
DETAILS_CHARS = 500  # of each structured detail, shown as JSON
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class ErrorBody:
    code: str | None = None              # body path of the CRM's error code
    message: tuple[str, ...] = ()        # body paths of its words, joined by " — "
    details: tuple[str, ...] = ()        # body paths of structured details (e.g. per-field errors)
    retry_after: str | None = None       # body path of the seconds to wait, when no Retry-After header says

    @classmethod
    def from_spec(cls, block: dict[str, Any] | None) -> ErrorBody:
        block = block or {}
        return cls(block.get("code"), _paths(block.get("message")), _paths(block.get("details")),
                   block.get("retry_after"))

    def code_of(self, body: Any) -> str:
        """The CRM's error code in ``body`` ("" when it has none or none is declared)."""
        if not self.code:
            return ""
        value = value_at(body, self.code)
        return "" if value is None else str(value)

    def words(self, response: requests.Response, body: Any = None) -> str:
        """The CRM's own words: ``code: message — details``, else the answer's text, else its status."""
        body = json_of(response) if body is None else body
        code = self.code_of(body)
        parts = [_plain(str(v)) for v in (value_at(body, p) for p in self.message) if v not in (None, "", [], {})]
        parts += [json.dumps(v, ensure_ascii=False)[:DETAILS_CHARS]
                  for v in (value_at(body, p) for p in self.details) if v not in (None, "", [], {})]
        text = " — ".join(p for p in parts if p)
        if code or text:
            return f"{code}: {text}" if code and text else code or text
        return _plain(response.text or "")[:TEXT_CHARS] or f"HTTP {response.status_code}"

    def wait_of(self, body: Any) -> float | None:
        """The seconds the body asks to wait (``retry_after``), or None."""
        value = value_at(body, self.retry_after) if self.retry_after else None
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


PLAIN = ErrorBody()  # a connector that declares nothing: the answer's text


def value_at(body: Any, path: str) -> Any:
    """The value at a dotted ``path`` (a number picks a list item), or None."""
    for part in path.split("."):
        if isinstance(body, dict):
            body = body.get(part)
        elif isinstance(body, list) and part.isdigit() and int(part) < len(body):
            body = body[int(part)]
        else:
            return None
    return body


def json_of(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _paths(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _plain(text: str) -> str:
    """Markup a CRM puts in its words (line breaks as <br>, a gateway's HTML page) as plain spaced text."""
    return " ".join(_TAG.sub(" ", text).split())
