"""``CrmSession``: a ``requests.Session`` that paces, retries and explains, per the connector spec.

Everything that talks to a CRM — the dlt read source, the write-back, a connection check — sends
through one of these, so rate limits, backoff and error wording are the same everywhere. dlt's REST
client accepts it as its session, so its pagination runs on top of our pacing and retries.

* Every attempt waits for the connection's :class:`~crmsync.http.pacing.Pacer`.
* Transient faults (429/5xx per the spec, dropped connections, timeouts, truncated bodies) are
  retried with backoff, honouring Retry-After; after the last attempt the run stops with the CRM's
  message.
* Except when resending could do a write twice. A request is *idempotent* when the caller says so
  (``session.post(url, json=..., idempotent=True)``: a read that POSTs, a Bitrix24 ``batch`` of list
  calls) or, left unsaid, when its method is GET/HEAD/OPTIONS; anything else is a write that is not.
  A failure that came after the request may have reached the CRM — a read timeout, a dropped or
  cut-off answer, a 5xx the spec does not mark ``executed: false`` — is not retried for such a
  write: :class:`OutcomeUnknown` goes to the caller, which finds out what the CRM holds before
  sending anything again (crmsync.push.run). A refused or timed-out connect, a 429 and an answer the
  spec marks ``executed: false`` (Bitrix24's ``QUERY_LIMIT_EXCEEDED``) never ran: retried as is.
* A 401 asks the auth object to refresh once (``auth.refresh()`` if it has one), then retries.
* ``fail_record`` answers go back to a caller that writes records (``records_can_fail=True``),
  which sets the record aside; otherwise, and for ``fail_run``, :class:`~crmsync.errors.CrmError`
  carries the CRM's words and the spec's hint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import requests
from requests.exceptions import ChunkedEncodingError, ConnectionError, ConnectTimeout, ContentDecodingError, Timeout
from requests.hooks import default_hooks, dispatch_hook
from urllib3.exceptions import ConnectTimeoutError

from crmsync.errors import CrmError, UserError
from crmsync.waiting import backing_off, slow_answer

from .pacing import LeakyBucket, Pacer, Unlimited
from .policy import FAIL_RECORD, OK, REFRESH, RETRY, ErrorPolicy, RetryPolicy, retry_after
from .url_secrets import register_connector, safe_url

__all__ = ["CrmSession", "OutcomeUnknown", "SessionStats", "never_sent", "safe_url", "timeout_from_env"]

DEFAULT_TIMEOUT = (10.0, 90.0)  # connect, read: a hung server must not hang a run
TIMEOUT_ENV = "CRMSYNC_HTTP_TIMEOUT"  # "READ" or "CONNECT,READ" seconds: overrides DEFAULT_TIMEOUT
TRANSIENT = (ConnectionError, Timeout, ChunkedEncodingError, ContentDecodingError)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What the caller of ``request()`` declared for the request ``send()`` is about to send (per thread).
_DECLARED: ContextVar[bool | None] = ContextVar("crmsync_idempotent", default=None)


class OutcomeUnknown(CrmError):
    """A write that is not idempotent may have been carried out by the CRM, but its answer was lost.

    Never resent as is: the caller must look in the CRM (by idempotency key, by content, or by
    re-reading the record) before it sends the write again.
    """

    transient = True  # the next run settles it and goes on

    def __init__(self, message: str, *, method: str, url: str, problem: str) -> None:
        super().__init__(message)
        self.method, self.url, self.problem = method, url, problem


def never_sent(exc: Exception) -> bool:
    """Whether ``exc`` proves the request never reached the server: the connection was refused or
    its connect timed out (nothing of the request was written). Anything later — a read timeout, a
    dropped or cut-off answer — may come after the server read and ran it."""
    if isinstance(exc, ConnectTimeout):
        return True
    if isinstance(exc, ConnectionError) and not isinstance(exc, Timeout) and exc.args:
        reason = getattr(exc.args[0], "reason", exc.args[0])  # urllib3's MaxRetryError wraps the cause
        return isinstance(reason, ConnectTimeoutError)  # NewConnectionError (refused, DNS) is one too
    return False


def timeout_from_env(default: tuple[float, float] = DEFAULT_TIMEOUT) -> tuple[float, float]:
    """``CRMSYNC_HTTP_TIMEOUT``: ``READ`` or ``CONNECT,READ`` seconds (tests lower it to make a hung
    answer cheap); unset, ``default``."""
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return default
    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(p > 0 for p in parts):
        raise UserError(f"{TIMEOUT_ENV}={text!r} is not a timeout: give READ or CONNECT,READ in seconds, "
                        f"e.g. 90 or 10,90")
    return (parts[0], parts[1]) if len(parts) == 2 else (default[0], parts[0])


@dataclass
class SessionStats:
    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    throttled: int = 0  # 429/503-limit answers we still got despite pacing
    unknown: int = 0  # writes whose outcome was lost (OutcomeUnknown raised)
    answer_seconds: float = 0.0  # time spent waiting for the CRM's answers (sent to answered, every attempt)


class CrmSession(requests.Session):
    def __init__(self, *, crm_title: str, pacer: Pacer | None = None, errors: ErrorPolicy | None = None,
                 retry: RetryPolicy | None = None, timeout: tuple[float, float] | None = None,
                 sleep: Callable[[float], None] = time.sleep, records_can_fail: bool = False) -> None:
        super().__init__()
        self.crm_title = crm_title
        self.pacer = pacer or Unlimited()
        self.errors = errors or ErrorPolicy()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout or timeout_from_env()
        self.stats = SessionStats()
        self._sleep = sleep
        self.records_can_fail = records_can_fail  # writes: a rejected payload is the record's problem
        self.headers["User-Agent"] = "crmsync"

    def __deepcopy__(self, memo: dict[int, Any]) -> CrmSession:
        # dlt deep-copies resource arguments; a connection must keep ONE session (one pacer, one
        # set of statistics), and requests' own copy would silently drop our attributes.
        return self

    def __copy__(self) -> CrmSession:
        return self

    @classmethod
    def from_connector(cls, spec: dict[str, Any], pacer: Pacer, **kw: Any) -> CrmSession:
        register_connector(spec)  # what the spec says is secret in a URL is masked in every message
        kw.setdefault("errors", ErrorPolicy.from_spec(spec.get("errors"), spec.get("error_body")))
        kw.setdefault("retry", RetryPolicy.from_spec(spec.get("retry")))
        return cls(crm_title=spec.get("title", spec.get("name", "the CRM")), pacer=pacer, **kw)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, idempotent: bool | None = None,
                **kwargs: Any) -> requests.Response:
        """``idempotent``: whether sending this request twice does no more than sending it once
        (None: by its method, GET/HEAD/OPTIONS). Say True for a read that POSTs."""
        token = _DECLARED.set(idempotent)
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            _DECLARED.reset(token)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        declared = _DECLARED.get()
        idempotent = (request.method or "GET").upper() in SAFE_METHODS if declared is None else declared
        # Response hooks (dlt's raise_for_status among them) must see only the final answer, not
        # each attempt: run them ourselves once we have decided.
        hooks, request.hooks = request.hooks, default_hooks()
        refreshed = False
        last_problem = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            self.pacer.acquire()
            self.stats.requests += 1
            sent = time.monotonic()
            try:
                with slow_answer(self.crm_title, request.method, safe_url(request.url or "")):
                    response = super().send(request, **kwargs)
                    if not kwargs.get("stream"):
                        _ = response.content  # a truncated body fails here, inside the retry loop
            except TRANSIENT as exc:
                self.stats.answer_seconds += time.monotonic() - sent
                self.pacer.done()
                last_problem = f"{type(exc).__name__}: {exc}"
                if not idempotent and not never_sent(exc):
                    raise self._unknown(request, f"{type(exc).__name__}") from exc
                self._wait(attempt, None, last_problem)
                continue
            self.stats.answer_seconds += time.monotonic() - sent
            self.pacer.done()
            verdict = self.errors.judge(response)
            if verdict.action == OK:
                return dispatch_hook("response", hooks, response, **kwargs)
            if verdict.action == RETRY:
                if not idempotent and verdict.executed is not False:
                    raise self._unknown(request, f"HTTP {response.status_code}: {verdict.crm_message}")
                if response.status_code in (429, 503):
                    self.stats.throttled += 1
                    if isinstance(self.pacer, LeakyBucket):
                        self.pacer.penalise()
                last_problem = f"HTTP {response.status_code}: {verdict.crm_message}"
                self._wait(attempt, retry_after(response, self.errors.body), last_problem)
                continue
            if verdict.action == REFRESH and not refreshed and hasattr(self.auth, "refresh"):
                refreshed = True
                self.stats.refreshes += 1
                self.auth.refresh()
                request = self.auth(request.copy())
                continue
            if verdict.action == FAIL_RECORD and self.records_can_fail:
                return response  # the caller sets the record aside with the CRM's message
            raise CrmError(self._explain(request, response.status_code, verdict.crm_message, verdict.hint))
        raise CrmError(f"{self.crm_title} still failing after {self.retry.max_attempts} attempts on "
                       f"{request.method} {safe_url(request.url or '')}: {last_problem}. "
                       f"Check the CRM's status and run again: nothing was lost, the next run resumes.",
                       transient=True)

    def crm_message(self, response: requests.Response) -> str:
        """What the CRM said in ``response``, read where the connector's ``error_body`` says."""
        return self.errors.body.words(response)

    def _wait(self, attempt: int, server_said: float | None, reason: str = "") -> None:
        if attempt >= self.retry.max_attempts:
            return
        self.stats.retries += 1
        delay = self.retry.backoff(attempt, server_said)
        backing_off(self.crm_title, reason, delay, attempt, self.retry.max_attempts)  # visible waiting
        self._sleep(delay)

    def _unknown(self, request: requests.PreparedRequest, problem: str) -> OutcomeUnknown:
        self.stats.unknown += 1
        url = safe_url(request.url or "")
        return OutcomeUnknown(
            f"{self.crm_title} may have carried out {request.method} {url}, but its answer was lost ({problem}). "
            f"It was not sent again: what the CRM holds is checked first.", method=request.method or "", url=url,
            problem=problem)

    def _explain(self, request: requests.PreparedRequest, status: int, message: str, hint: str) -> str:
        text = f"{self.crm_title} answered {status} to {request.method} {safe_url(request.url or '')}: {message}"
        return f"{text}. {hint}" if hint else text
