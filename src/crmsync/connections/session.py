"""What a reader or writer needs to talk to a connection: ``authorized_session(project, name)``.

The session is a :class:`crmsync.http.session.CrmSession` (pacing, retries, error wording from the
connector spec) whose ``auth`` is a :class:`ConnectionAuth`: it puts the credential where the
connector spec says (a header such as ``Authorization: Bearer …`` or a query parameter such as
Bitrix24's ``auth=…``), refreshes ahead of expiry, and — when the session sees a 401 the spec marks
``refresh_token`` — refreshes once (single-flight, saved before use) and lets the session retry.
Relative URLs are joined to the connection's API base (``session.base_url``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.auth import AuthBase

from crmsync.http.pacing import Pacer, pacer_for
from crmsync.http.session import CrmSession
from crmsync.http.url_secrets import ShapeError, webhook_shape
from crmsync.project import Project
from crmsync.secrets.masking import register
from crmsync.secrets.vault import Vault

from . import repository
from .model import OK
from .spec import OAUTH2, WEBHOOK_URL, AuthSpec
from .tokens import TokenManager


def apply_credential(request: requests.PreparedRequest, spec: AuthSpec, credential: str) -> requests.PreparedRequest:
    """Put ``credential`` where ``spec`` says: a header, a query parameter, or (webhook) nowhere."""
    if spec.type == WEBHOOK_URL:
        return request
    value = spec.value.format(token=credential, access_token=credential)
    if spec.header:
        request.headers[spec.header] = value
    elif spec.param:
        parts = urlsplit(request.url or "")
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != spec.param]
        query.append((spec.param, value))
        request.url = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))
    return request


class ConnectionAuth(AuthBase):
    """requests auth for a stored connection; ``refresh()`` is what a session calls after a 401."""

    def __init__(self, tokens: TokenManager) -> None:
        self.tokens = tokens
        self.spec = tokens.connector.auth(tokens.connection.auth_type)
        # The credential each thread sent last: the listings stream on threads of their own, and a
        # 401 must name the token its own request carried. With one shared value a thread whose old
        # token was refused could name the fresh one another thread had just sent, and refresh again.
        self._sent = threading.local()
        self._ok_recorded = False

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._sent.value = self.tokens.credential()
        if "response" not in request.hooks or self._record not in request.hooks["response"]:
            request.register_hook("response", self._record)
        return apply_credential(request, self.spec, self._sent.value)

    def refresh(self) -> None:
        self.tokens.refresh(stale=getattr(self._sent, "value", None))

    def _record(self, response: requests.Response, **_: Any) -> requests.Response:
        # "last successful call" for `connections list`: once per session, not once per request.
        if response.status_code < 400 and not self._ok_recorded:
            self._ok_recorded = True
            repository.set_status(self.tokens.project, self.tokens.name, OK)
        return response


class ConnectionSession(CrmSession):
    """A CrmSession bound to one connection: ``session.get("api/v4/contacts")`` just works."""

    base_url: str
    tokens: TokenManager

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = url.decode() if isinstance(url, bytes) else url
        if not urlsplit(url).scheme:
            url = urljoin(self.base_url.rstrip("/") + "/", url.lstrip("/"))
        return super().request(method, url, *args, **kwargs)


_PACERS: dict[Path, Pacer] = {}


def shared_pacer(project: Project, connection_name: str, rate_limit: dict | None) -> Pacer:
    """The connection's pacer: one per process, carrying on from the last process's state file
    (``.crmsync/pacing/<connection>.json``, written at exit), so back-to-back runs stay under the limit."""
    path = project.state_dir / "pacing" / f"{connection_name}.json"
    pacer = _PACERS.get(path)
    if pacer is None:
        pacer = _PACERS[path] = pacer_for(rate_limit)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            pacer.restore(json.loads(path.read_text(encoding="utf-8")))
        atexit.register(_save_pacer, path, pacer)
    return pacer


def _save_pacer(path: Path, pacer: Pacer) -> None:
    state = pacer.snapshot()
    if state is None or not path.parents[2].is_dir():  # the project is gone: no run of it comes next
        return
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state), encoding="utf-8")


def authorized_session(project: Project, connection_name: str, *, pacer: Pacer | None = None,
                       vault: Vault | None = None, **session_options: Any) -> ConnectionSession:
    """A ready session for connection ``connection_name`` of ``project`` (see the module docstring).

    ``pacer`` overrides the connector's rate limit (tests against fakes with limits off);
    ``session_options`` go to :class:`CrmSession` (``timeout``, ``sleep``).
    """
    tokens = TokenManager(project, connection_name, vault=vault)
    spec = tokens.connector.raw
    pacer = pacer or shared_pacer(project, connection_name, spec.get("rate_limit"))
    session = ConnectionSession.from_connector(spec, pacer, **session_options)
    session.tokens = tokens
    session.auth = ConnectionAuth(tokens)
    conn = tokens.connection
    base = conn.credentials["webhook_url"] if conn.auth_type == WEBHOOK_URL else conn.base_url
    if conn.auth_type == WEBHOOK_URL:
        _register_webhook(tokens.connector.raw, base)
    session.base_url = base
    return session


def _register_webhook(spec: dict[str, Any], url: str) -> None:
    """The webhook URL and its secret parts as secrets: a log line may show a path without the host."""
    register(url)
    try:
        shape = webhook_shape(spec)
    except ShapeError:  # `crmsync validate` says what is wrong; the whole URL is masked all the same
        return
    if shape is None:
        return
    match = shape.match(url) or shape.match(url.rstrip("/"))
    for secret in shape.secrets(match) if match else []:
        register(secret)


__all__ = ["authorized_session", "ConnectionAuth", "ConnectionSession", "apply_credential", "OAUTH2"]
