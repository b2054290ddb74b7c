"""What to do with a CRM's answer: the connector spec's ``errors`` and ``retry`` blocks, applied.

Actions: ``ok``; ``retry`` (a transient fault: wait and send again); ``refresh_token`` (renew the
access token once, then send again); ``fail_record`` (the CRM rejected this payload: the caller sets
the record aside); ``fail_run`` (nothing else will work until a person acts: stop with the CRM's
message and the spec's hint).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import requests

from .error_body import PLAIN, ErrorBody, json_of

OK, RETRY, REFRESH, FAIL_RECORD, FAIL_RUN = "ok", "retry", "refresh_token", "fail_record", "fail_run"
ACTIONS = (RETRY, REFRESH, FAIL_RECORD, FAIL_RUN)
_RNG = random.Random()


@dataclass(frozen=True)
class ErrorRule:
    statuses: frozenset[int]
    action: str
    errors: frozenset[str] = frozenset()  # the CRM's error codes (read where the spec's error_body.code says)
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
    body: ErrorBody = PLAIN  # where the CRM's answers hold its error code and words

    @classmethod
    def from_spec(cls, spec: list[dict[str, Any]] | None, body: dict[str, Any] | None = None) -> ErrorPolicy:
        """``spec``: the connector's ``errors`` rules; ``body``: its ``error_body`` block."""
        return cls([ErrorRule.from_spec(r) for r in spec or []], ErrorBody.from_spec(body))

    def judge(self, response: requests.Response) -> Verdict:
        status = response.status_code
        if status < 400:
            return Verdict(OK)
        body = json_of(response)
        code = self.body.code_of(body)
        message = self.body.words(response, body)
        not_run = False if status == 429 else None
        for rule in self.rules:
            if status in rule.statuses and (not rule.errors or code in rule.errors):
                return Verdict(rule.action, rule.hint, message, not_run if rule.executed is None else rule.executed)
        if status == 429 or status >= 500:
            return Verdict(RETRY, "", message, not_run)
        if status == 401:
            return Verdict(REFRESH, "", message)
        return Verdict(FAIL_RECORD if status in (400, 422) else FAIL_RUN, "", message)


def retry_after(response: requests.Response, shape: ErrorBody = PLAIN) -> float | None:
    """The wait the server asked for: the Retry-After header, or the body field ``shape.retry_after``."""
    header = response.headers.get("Retry-After")
    if header:
        try:
            return float(header)
        except ValueError:
            return None
    return shape.wait_of(json_of(response)) if shape.retry_after else None


def crm_message(response: requests.Response, body: Any = None, shape: ErrorBody = PLAIN) -> str:
    """The CRM's own words, read as ``shape`` (the connector's ``error_body``) says; else the answer's text."""
    return shape.words(response, body)
