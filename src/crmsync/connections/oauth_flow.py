"""The browser half of the OAuth authorization-code flow: the consent URL and the loopback callback.

:class:`CallbackServer` listens on ``127.0.0.1`` (a random port unless one is given), accepts
exactly one redirect to its path, checks that its ``state`` is the one we sent (anti-CSRF) and
hands back the query (``code``, plus AmoCRM's ``referer`` or Bitrix24's ``domain``/``server_domain``).
For headless machines the user pastes the redirected URL (or just the code) with ``--code``; the
state of a URL printed by ``--auth-url`` is remembered in ``.crmsync/oauth/<name>.json`` for that check.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from crmsync.errors import UserError
from crmsync.secrets.masking import register

CALLBACK_PATH = "/callback"


def new_state() -> str:
    return secrets.token_urlsafe(24)


def authorize_url(base: str, params: dict[str, str]) -> str:
    parts = urlsplit(base)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


@dataclass
class Redirect:
    params: dict[str, str]

    @property
    def code(self) -> str:
        return self.params.get("code", "")


def parse_pasted(text: str) -> Redirect:
    """``--code``: either the code itself or the whole URL the browser was redirected to."""
    text = text.strip()
    if "?" in text or text.startswith(("http://", "https://")):
        params = dict(parse_qsl(urlsplit(text).query))
        if params.get("error"):
            raise UserError(f"the CRM refused the authorisation: {params['error']}")
        if not params.get("code"):
            raise UserError("the URL given to --code has no `code` parameter; paste the whole URL the browser "
                            "was redirected to, or just the code")
    else:
        params = {"code": text}
    register(params["code"])
    return Redirect(params)


def check_state(redirect: Redirect, expected: str | None) -> None:
    got = redirect.params.get("state")
    if expected is not None and got is not None and not secrets.compare_digest(got, expected):
        raise UserError("the authorisation redirect carried a different `state` than the one crmsync sent: it was "
                        "not the answer to this request (possible CSRF). Nothing was saved; run connect again")


class CallbackServer:
    def __init__(self, state: str, port: int = 0, path: str = CALLBACK_PATH) -> None:
        self.path = path
        self.expected_state = state
        self._done = threading.Event()
        self._result: Redirect | None = None
        self._problem: str | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                parts = urlsplit(self.path)
                if parts.path.rstrip("/") != outer.path.rstrip("/"):
                    self.send_error(404)
                    return
                params = dict(parse_qsl(parts.query))
                register(params.get("code"))
                ok, message = outer._accept(params)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(f"<html><body><h3>crmsync</h3><p>{html.escape(message)}</p></body></html>".encode())

            def log_message(self, *args: object) -> None:  # the query holds the code: never log it
                return

        try:
            self.httpd = HTTPServer(("127.0.0.1", port), Handler)
        except OSError as exc:
            raise UserError(f"cannot listen for the OAuth redirect on 127.0.0.1:{port}: {exc.strerror}; "
                            f"pick another --redirect-port") from None
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{self.path}"

    def _accept(self, params: dict[str, str]) -> tuple[bool, str]:
        if self._done.is_set():
            return False, "This authorisation was already received; you can close this window."
        if params.get("state") != self.expected_state:
            self._problem = ("the authorisation redirect carried a different `state` than the one crmsync sent: it "
                             "was not the answer to this request (possible CSRF). Nothing was saved; run connect again")
            self._done.set()
            return False, "Rejected: the state parameter does not match. Run crmsync connect again."
        if params.get("error"):
            self._problem = f"the CRM refused the authorisation: {params['error']}"
            self._done.set()
            return False, f"The CRM refused the authorisation ({params['error']})."
        if not params.get("code"):
            return False, "This redirect has no code; waiting for the real one."
        self._result = Redirect(params)
        self._done.set()
        return True, "Connected. You can close this window and return to the terminal."

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait(self, timeout: float) -> Redirect:
        if not self._done.wait(timeout):
            raise UserError(f"no authorisation arrived at {self.redirect_uri} within {timeout:.0f} s; nothing was "
                            f"saved. Open the printed URL in a browser, or use --code on a machine without one")
        if self._problem:
            raise UserError(self._problem)
        assert self._result is not None
        return self._result


def pending_path(state_dir: Path, name: str) -> Path:
    return state_dir / "oauth" / f"{name}.json"


def remember_pending(state_dir: Path, name: str, state: str, redirect_uri: str) -> None:
    path = pending_path(state_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"state": state, "redirect_uri": redirect_uri, "created_at": time.time()}))


def take_pending(state_dir: Path, name: str) -> dict[str, str] | None:
    path = pending_path(state_dir, name)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def forget_pending(state_dir: Path, name: str) -> None:
    pending_path(state_dir, name).unlink(missing_ok=True)
