"""OAuth through the server, for the operations API and the app sync API alike.

A client asks for the CRM's consent URL (:class:`ConsentQuery` is the request); its redirect is the
server's own callback. Between the two, the options (client secret included) wait in memory under the
consent's one-time ``state``, with whoever asked (:class:`PendingConsents`), for at most ``seconds``.
The callback takes them back once and finishes the connection as ``crmsync connect`` would.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Depends, Header, Query, Request
from fastapi.responses import HTMLResponse

from crmsync.serve.errors import ApiError

PENDING_SECONDS = 900


@dataclass
class ConsentQuery:
    """The consent request's parameters (a FastAPI dependency, so both APIs document them alike)."""

    crm: str = Query(description="The connector: a file in connectors/")
    client_id: str = Query(description="The integration's client id")
    x_client_secret: str | None = Header(None, description="The integration's secret (a header, so it is never "
                                                            "in a URL or a log)")
    base_url: str | None = None
    subdomain: str | None = None
    portal: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    replace: bool = False

    def options(self, request: Request, name: str, callback: str) -> Any:
        """``ConnectOptions`` whose redirect is this server's ``callback`` path."""
        from crmsync.connections.connect import ConnectOptions

        if not self.x_client_secret:
            raise ApiError(400, "bad_request", "send the integration's client secret in the X-Client-Secret header")
        return ConnectOptions(crm=self.crm, name=name, client_id=self.client_id, client_secret=self.x_client_secret,
                              base_url=self.base_url, subdomain=self.subdomain, portal=self.portal,
                              authorize_url=self.authorize_url, token_url=self.token_url,
                              redirect_uri=str(request.base_url).rstrip("/") + callback, replace=self.replace)


CONSENT = Depends(ConsentQuery)


class PendingConsents:
    """Consent URLs handed out and not yet come back: ``state`` → (when, who asked, options)."""

    def __init__(self, seconds: float = PENDING_SECONDS) -> None:
        self.seconds = seconds
        self._items: dict[str, tuple[float, Any, Any]] = {}
        self._lock = threading.Lock()

    def start(self, opts: Any, owner: Any, consent: Callable[[Any], Any]) -> dict[str, Any]:
        """Ask for the consent URL (``consent(opts)``: the library's ``auth_url`` under the caller's store
        guard) and keep ``opts`` for its callback; the answer is the library's, with ``expires_in``."""
        result = consent(opts)
        state = dict(parse_qsl(urlsplit(result.url).query)).get("state", "")
        with self._lock:
            now = time.monotonic()
            for old in [s for s, (at, _, _) in self._items.items() if now - at > self.seconds]:
                del self._items[old]
            self._items[state] = (now, owner, opts)
        return {**result.to_dict(), "expires_in": int(self.seconds)}

    def take(self, request: Request) -> tuple[Any, Any] | None:
        """(who asked, the options with the CRM's code) for the callback's ``state``, once; None when the
        state is unknown, used or expired."""
        with self._lock:
            entry = self._items.pop(request.query_params.get("state", ""), None)
        if entry is None or time.monotonic() - entry[0] > self.seconds:
            return None
        _, owner, opts = entry
        opts.code = str(request.url)
        return owner, opts


def page(status: int, message: str) -> HTMLResponse:
    """The small page the browser lands on after the CRM's consent."""
    return HTMLResponse(f"<!doctype html><html><head><meta charset=utf-8><title>crmsync</title></head><body>"
                        f"<h3>crmsync</h3><p id=message>{html.escape(message)}</p></body></html>", status_code=status)
