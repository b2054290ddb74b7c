"""The one cheap API call that proves a credential works (the connector spec's ``check``).

Run before a connection is saved, and by ``crmsync connections test``. Failures name what was
rejected (the long-lived token, the webhook URL, the access token) or what could not be reached.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests

from crmsync.errors import CrmError, UserError
from crmsync.http.pacing import Pacer, Unlimited
from crmsync.secrets.masking import mask

from .session import apply_credential
from .spec import LONG_LIVED_TOKEN, WEBHOOK_URL, AuthSpec, ConnectorAuth

TIMEOUT = (10.0, 30.0)
_LABELS = {LONG_LIVED_TOKEN: "long-lived token", WEBHOOK_URL: "webhook URL", "oauth2": "new access token"}


def verify(connector: ConnectorAuth, auth: AuthSpec, base_url: str, credential: str, *,
           display_base: str | None = None, expect_subdomain: str | None = None,
           pacer: Pacer | None = None) -> dict[str, Any]:
    """Call the check endpoint; returns a small, non-secret summary of the account."""
    return verify_answer(connector, auth, base_url, credential, display_base=display_base,
                         expect_subdomain=expect_subdomain, pacer=pacer)[0]


def verify_answer(connector: ConnectorAuth, auth: AuthSpec, base_url: str, credential: str, *,
                  display_base: str | None = None, expect_subdomain: str | None = None,
                  pacer: Pacer | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`verify`, and the check call's whole answer (what the account's identity is read from)."""
    shown = display_base or base_url
    root = base_url.rstrip("/") + "/"
    url = urljoin(root, connector.check_path or connector.check_method or "")
    request = requests.Request("GET", url).prepare()
    apply_credential(request, auth, credential)
    where = connector.connect.get("hint") or "the connection's address"
    try:
        # Paced like every later call of the connection: a pull right after connect must not find
        # this call missing from the window the CRM counts.
        (pacer or Unlimited()).acquire()
        try:
            with requests.Session() as s:
                response = s.send(request, timeout=TIMEOUT)
        finally:
            (pacer or Unlimited()).done()
    except requests.RequestException as exc:
        raise UserError(f"cannot reach {connector.title} at {shown} ({type(exc).__name__}); check {where} and the "
                        f"network. Nothing was saved") from None
    label = _LABELS.get(auth.type, auth.type)
    if response.status_code in (401, 403):
        also = f" — {connector.connect['rejected_hint']}" if connector.connect.get("rejected_hint") else ""
        raise CrmError(f"{connector.title} rejected the {label} (HTTP {response.status_code}: "
                       f"{_words(connector, response)}){also}. Nothing was saved")
    if response.status_code == 404:
        raise UserError(f"there is no {connector.title} API at {shown} (HTTP 404); check {where}. Nothing was saved")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict):
        raise CrmError(f"{connector.title} at {shown} answered the check call with HTTP {response.status_code}: "
                       f"{_words(connector, response)}. Nothing was saved")
    account = summary(connector.raw, body)
    if expect_subdomain and account.get("subdomain") and account["subdomain"] != expect_subdomain:
        raise UserError(f"wrong subdomain: the credential belongs to the account '{account['subdomain']}', not "
                        f"'{expect_subdomain}'. Use --subdomain {account['subdomain']} or a token of that account. "
                        f"Nothing was saved")
    return account, body


def summary(spec: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """What a connection shows of its account (``account.summary`` of the connector spec): each part
    read from the check call's answer at its dotted ``field``, or several ``fields`` joined by spaces."""
    out: dict[str, Any] = {}
    for part in ((spec.get("account") or {}).get("summary") or []):
        paths = part.get("fields") or [part.get("field", "")]
        values = [_dig(body, p) for p in paths]
        if "fields" in part:
            value = " ".join(str(v) for v in values if v not in (None, "")).strip() or None
        else:
            value = values[0]
        if value is not None:
            out[part["name"]] = value
    return out


def _dig(body: Any, path: str) -> Any:
    for key in [k for k in path.split(".") if k]:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _words(connector: ConnectorAuth, response: requests.Response) -> str:
    return mask(connector.error_body.words(response))
