"""Talking to a CRM's OAuth token endpoint: the authorization-code and refresh-token grants.

The grant goes as the connector's ``oauth2.token_request`` says: a JSON body, a form body (what
RFC 6749 itself specifies) or a GET query. Every token in a response is registered with the secret mask before
anything else happens to it. A rejected grant raises :class:`GrantRejected` saying which part was
rejected (the client id/secret or the code/refresh token); transport trouble raises ``CrmError``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from crmsync.errors import CrmError
from crmsync.http.error_body import PLAIN, ErrorBody
from crmsync.secrets.masking import mask, register

from .spec import AuthSpec

TIMEOUT = (10.0, 30.0)
_TOKEN_FIELDS = frozenset({"access_token", "refresh_token", "id_token", "expires_in", "token_type"})
CRASH_ENV = "CRMSYNC_TEST_CRASH_AFTER"  # test hook: kill this process at a named point (see crash_point)


def crash_point(name: str) -> None:
    """Die like a killed process (no cleanup, no flush) when ``CRMSYNC_TEST_CRASH_AFTER`` names this point.

    The only point is ``token_response``: the CRM has issued a new pair and we have not saved it.
    """
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


@dataclass
class Grant:
    access_token: str
    refresh_token: str | None
    expires_at: float | None
    extra: dict[str, Any] = field(default_factory=dict)  # the answer's other fields (API address, account id)


class GrantRejected(CrmError):
    """The token endpoint said no. ``part`` is ``client`` (id/secret) or ``grant`` (code/refresh token)."""

    def __init__(self, message: str, part: str, crm_words: str) -> None:
        super().__init__(message)
        self.part = part
        self.crm_words = crm_words


def request_tokens(auth: AuthSpec, token_url: str, grant: dict[str, str], *, title: str,
                   attempts: int = 3, words: ErrorBody = PLAIN) -> Grant:
    """Send one grant; retry only answers that prove the grant was not used (5xx/429, refused connection).
    ``words``: where the CRM's refusals hold its words (the connector's ``error_body``)."""
    for secret_key in ("client_secret", "code", "refresh_token"):
        register(grant.get(secret_key))
    last = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(min(0.5 * 2 ** attempt, 4.0))
        try:
            if auth.token_request == "query":
                response = requests.get(token_url, params=grant, timeout=TIMEOUT)
            elif auth.token_request == "form":
                response = requests.post(token_url, data=grant, timeout=TIMEOUT)
            else:
                response = requests.post(token_url, json=grant, timeout=TIMEOUT)
        except requests.ConnectionError as exc:  # includes ConnectTimeout: nothing was sent
            last = f"cannot reach {_host(token_url)} ({type(exc).__name__})"
            continue
        except requests.Timeout:  # sent, no answer: the grant may be used; a retry is the caller's call
            raise CrmError(f"{title}'s token endpoint did not answer in time ({_host(token_url)}); "
                           f"run the command again", transient=True) from None
        if response.status_code == 429 or response.status_code >= 500:
            last = f"{_host(token_url)} answered HTTP {response.status_code}"
            continue
        return _parse(response, title, token_url, words)
    raise CrmError(f"{title}'s token endpoint failed: {last}; check the address (--token-url) and the network, "
                   f"then run the command again", transient=True)


def _parse(response: requests.Response, title: str, token_url: str, shape: ErrorBody = PLAIN) -> Grant:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        for key in ("access_token", "refresh_token"):
            register(body.get(key))
        expires_in = body.get("expires_in")
        crash_point("token_response")
        # Kept in memory for what the connector declares it reads from the grant (connect.grant_field,
        # connect.grant_settings, account identity `from: grant`); never stored whole.
        extra = {k: v for k, v in body.items() if k not in _TOKEN_FIELDS}
        return Grant(body["access_token"], body.get("refresh_token"),
                     time.time() + float(expires_in) if expires_in else None, extra)
    words = _crm_words(response, body, shape)
    code = str(body.get("error", "")) if isinstance(body, dict) else ""  # RFC 6749 5.2: invalid_client, ...
    if response.status_code == 401 or code == "invalid_client":
        raise GrantRejected(f"{title} rejected the OAuth client (client id or client secret): {words}",
                            "client", words)
    if response.status_code in (400, 403) or code:
        raise GrantRejected(f"{title} rejected the grant: {words}", "grant", words)
    raise CrmError(f"{title}'s token endpoint {_host(token_url)} answered HTTP {response.status_code}: {words}")


def _crm_words(response: requests.Response, body: Any, shape: ErrorBody) -> str:
    if isinstance(body, dict) and (body.get("error") or body.get("error_description")):  # OAuth 2.0's own shape
        return mask(": ".join(str(body[k]) for k in ("error", "error_description") if body.get(k)))
    return mask(shape.words(response, body))


def _host(url: str) -> str:
    return requests.utils.urlparse(url).netloc or url
