"""What to do with a CRM's answer: the connector spec's ``errors`` and ``retry`` blocks, applied.

Actions: ``ok``; ``retry`` (a transient fault: wait and send again); ``refresh_token`` (renew the
access token once, then send again); ``fail_record`` (the CRM rejected this payload: the caller sets
the record aside); ``fail_run`` (nothing else will work until a person acts: stop with the CRM's
message and the spec's hint).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

import requests

OK, RETRY, REFRESH, FAIL_RECORD, FAIL_RUN = "ok", "retry", "refresh_token", "fail_record", "fail_run"
ACTIONS = (RETRY, REFRESH, FAIL_RECORD, FAIL_RUN)
_RNG = random.Random()


@dataclass(frozen=True)
class ErrorRule:
    statuses: frozenset[int]
    action: str
    errors: frozenset[str] = frozenset()  # Bitrix24-style error codes in the JSON body ("error": "...")
    hint: str = ""
    executed: bool | None = None  # False: the CRM documents that it did not run a request answered so

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ErrorRule:
        status = spec["status"]
        errors = spec.get("error") or []
        return cls(frozenset(status if isinstance(status, list) else [status]), spec["action"],
                   frozenset(errors if isinstance(errors, list) else [errors]), spec.get("hint", ""),
                   spec.get("executed"))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 60.0
    honor_retry_after: bool = True

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> RetryPolicy:
        return cls(**{k: v for k, v in (spec or {}).items() if k in cls.__dataclass_fields__})

    def backoff(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt + 1``: the server's word, else jittered exponential."""
        if retry_after is not None and self.honor_retry_after:
            return min(max(retry_after, 0.0), self.max_backoff_seconds)
        ceiling = min(self.max_backoff_seconds, self.initial_backoff_seconds * (2 ** (attempt - 1)))
        return (rng or _RNG).uniform(ceiling / 2, ceiling)  # "equal jitter": never hammer, never stall


@dataclass
class Verdict:
    action: str
    hint: str = ""
    crm_message: str = ""
    # Whether the CRM ran the request: False only when that is certain (a 429 — HTTP says the request
    # was refused for the rate — or an answer the spec marks ``executed: false``); None: it may have.
    executed: bool | None = None


@dataclass
class ErrorPolicy:
    rules: list[ErrorRule] = field(default_factory=list)

    @classmethod
    def from_spec(cls, spec: list[dict[str, Any]] | None) -> ErrorPolicy:
        return cls([ErrorRule.from_spec(r) for r in spec or []])

    def judge(self, response: requests.Response) -> Verdict:
        status = response.status_code
        if status < 400:
            return Verdict(OK)
        body = _json(response)
        code = str(body.get("error", "")) if isinstance(body, dict) else ""
        message = crm_message(response, body)
        not_run = False if status == 429 else None
        for rule in self.rules:
            if status in rule.statuses and (not rule.errors or code in rule.errors):
                return Verdict(rule.action, rule.hint, message, not_run if rule.executed is None else rule.executed)
        if status == 429 or status >= 500:
            return Verdict(RETRY, "", message, not_run)
        if status == 401:
            return Verdict(REFRESH, "", message)
        return Verdict(FAIL_RECORD if status in (400, 422) else FAIL_RUN, "", message)


def retry_after(response: requests.Response) -> float | None:
    """The wait the server asked for: the Retry-After header, or AmoCRM's ``retry_after`` body field."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
        return float(body["retry_after"])
    return None


def crm_message(response: requests.Response, body: Any = None) -> str:
    """The CRM's own words: problem+json title/detail/hint, Bitrix24 error/error_description, or text."""
    body = _json(response) if body is None else body
    if isinstance(body, dict):
        if "error_description" in body or "error" in body:
            code, text = body.get("error") or "", str(body.get("error_description") or "").replace("<br>", " ")
            return f"{code}: {text}".strip(": ").strip() if code else text.strip()
        parts = [str(body[k]) for k in ("title", "detail", "hint") if body.get(k)]
        if body.get("validation-errors"):
            parts.append(json.dumps(body["validation-errors"], ensure_ascii=False)[:500])
        if parts:
            return " — ".join(parts)
    text = (response.text or "").strip()
    text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:300] or f"HTTP {response.status_code}"


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
