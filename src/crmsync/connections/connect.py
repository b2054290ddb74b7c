"""``crmsync connect``: create (or re-authorise) a connection, checked with one API call before it is saved.

Three ways in, per the connector spec's ``auth`` list: OAuth 2.0 authorization code (browser +
loopback callback, or ``--code`` on a headless machine), a long-lived token, an inbound webhook URL.
Where the account's API address comes from is the spec's ``connect`` block: the account's host
(``--subdomain`` under the connector's ``domain``, ``--base-url``, or the OAuth redirect's
``host_param``), or a field of the OAuth grant (``grant_field``).

``--replace`` re-authorises an existing connection and reuses its stored
settings (client id and secret, URLs) for anything not given again.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import webbrowser
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

from crmsync.errors import UserError
from crmsync.http.pacing import Pacer
from crmsync.project import Project
from crmsync.secrets.masking import register
from crmsync.secrets.vault import Vault, vault_for

from . import binding, repository
from . import oauth_flow as flow
from .check import verify_answer
from .grants import request_tokens
from .model import OK, Connection
from .session import shared_pacer
from .spec import LONG_LIVED_TOKEN, OAUTH2, WEBHOOK_URL, ConnectorAuth, load_connector_auth

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass
class ConnectOptions:
    crm: str
    name: str
    base_url: str | None = None
    subdomain: str | None = None
    domain: str | None = None        # --subdomain's parent domain; None: the connector's connect.domain
    portal: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    redirect_port: int = 0
    redirect_uri: str | None = None
    no_browser: bool = False
    code: str | None = None
    timeout: float = 300.0
    long_lived_token: str | None = None
    webhook_url: str | None = None
    replace: bool = False
    new_account: bool = False        # with replace: re-point the connection at another account (or CRM)


@dataclass
class ConnectResult:
    name: str
    crm: str
    auth: str
    base_url: str
    status: str
    account: dict[str, Any]
    detached: dict[str, int] | None = None   # --new-account: the old account's links and open writes set aside

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AuthUrlResult:
    name: str
    crm: str
    url: str
    redirect_uri: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def connect(project: Project, opts: ConnectOptions, *, on_url: Callable[[str], None] = lambda _: None) -> ConnectResult:
    """Create the connection ``opts.name``; ``on_url`` is told the consent URL of an interactive OAuth flow."""
    if not _NAME.match(opts.name):
        raise UserError(f"--name {opts.name!r}: use letters, digits, '_', '-' or '.' (at most 64, no spaces)")
    register(opts.webhook_url)  # whole: masked before anything could print it, whatever the CRM
    connector = load_connector_auth(project, opts.crm)
    kinds = [k for k, v in ((LONG_LIVED_TOKEN, opts.long_lived_token), (WEBHOOK_URL, opts.webhook_url)) if v]
    if len(kinds) > 1:
        raise UserError("give one of --long-lived-token and --webhook-url, not both")
    kind = kinds[0] if kinds else OAUTH2
    connector.auth(kind)  # says which auth kinds this CRM has if it has not this one
    exists = repository.exists(project, opts.name)
    if exists and not opts.replace:
        raise UserError(f"a connection named {opts.name!r} already exists; pass --replace to re-authorise it, "
                        f"or pick another --name")
    if opts.new_account and not exists:
        raise UserError(f"--new-account re-points an existing connection (with --replace); there is no "
                        f"connection named {opts.name!r}")
    old = repository.get(project, opts.name) if exists else None
    if old is not None and old.crm != opts.crm and not opts.new_account:  # refused before any call is made
        binding.check_replace(old, Connection(opts.name, opts.crm, kind, ""), new_account=False,
                              title=connector.title)
    vault = vault_for(project.state_dir)
    pacer = shared_pacer(project, opts.name, connector.raw.get("rate_limit"))
    if kind == LONG_LIVED_TOKEN:
        conn = _long_lived(connector, opts, pacer)
    elif kind == WEBHOOK_URL:
        conn = _webhook(connector, opts, pacer)
    else:
        conn = _oauth(project, connector, _with_stored(project, vault, opts), on_url, pacer)
    conn.last_ok_at = time.time()
    if old is not None:
        binding.check_replace(old, conn, new_account=opts.new_account, title=connector.title)
    detach = (old.settings.get(binding.IDENTITY_KEY) or {"crm": old.crm}) if old and opts.new_account else None
    detached = repository.insert(project, vault, conn, replace=opts.replace, detach_account=detach)
    if detached is not None:
        binding.forget_read_state(project, opts.name)
    flow.forget_pending(project.state_dir, opts.name)
    return ConnectResult(conn.name, conn.crm, conn.auth_type, conn.base_url, "ok", conn.settings.get("account", {}),
                         detached)


def auth_url(project: Project, opts: ConnectOptions) -> AuthUrlResult:
    """Only the consent URL (for another machine's browser); its state is remembered for ``--code``."""
    connector = load_connector_auth(project, opts.crm)
    opts = _with_stored(project, vault_for(project.state_dir), opts, need_secret=False)
    redirect = opts.redirect_uri or f"http://127.0.0.1:{opts.redirect_port or 8765}{flow.CALLBACK_PATH}"
    state = flow.new_state()
    url = _consent_url(connector, opts, state, redirect)
    flow.remember_pending(project.state_dir, opts.name, state, redirect)
    return AuthUrlResult(opts.name, opts.crm, url, redirect)


# -- the three ways in -------------------------------------------------------------------------------
def _long_lived(connector: ConnectorAuth, opts: ConnectOptions, pacer: Pacer) -> Connection:
    register(opts.long_lived_token)
    base = _host_base(connector, opts)
    account, body = verify_answer(connector, connector.auth(LONG_LIVED_TOKEN), base, opts.long_lived_token or "",
                                  expect_subdomain=opts.subdomain, pacer=pacer)
    return Connection(opts.name, opts.crm, LONG_LIVED_TOKEN, base,
                      {"account": account, **_bound(connector, body=body, base_url=base)},
                      {"token": opts.long_lived_token})


def _webhook(connector: ConnectorAuth, opts: ConnectOptions, pacer: Pacer) -> Connection:
    url = (opts.webhook_url or "").strip()
    register(url)
    shape = connector.webhook_shape()
    match = shape.match(url)
    if not match:
        what = shape.help or f"an inbound webhook URL of {connector.title} (pattern: {shape.pattern.pattern})"
        raise UserError(f"--webhook-url is not {what}. Nothing was saved")
    for secret in shape.secrets(match):
        register(secret)
    base = url.rstrip("/") + "/"   # method paths are joined to it
    shown = shape.masked(match).rstrip("/") + "/"
    account, body = verify_answer(connector, connector.auth(WEBHOOK_URL), url, url, display_base=shown,
                                  pacer=pacer)
    return Connection(opts.name, opts.crm, WEBHOOK_URL, shown,
                      {**shape.settings(match), "account": account, **_bound(connector, body=body, base_url=url)},
                      {"webhook_url": base})


def _oauth(project: Project, connector: ConnectorAuth, opts: ConnectOptions,
           on_url: Callable[[str], None], pacer: Pacer) -> Connection:
    auth = connector.auth(OAUTH2)
    if not opts.client_id or not opts.client_secret:
        others = [f"--{k.replace('_', '-')}" for k in connector.auths if k != OAUTH2]
        raise UserError("OAuth needs the integration's --client-id and --client-secret (or "
                        "CRMSYNC_CLIENT_SECRET)" + (f"; for no OAuth use {' or '.join(others)}" if others else ""))
    register(opts.client_secret)
    if opts.code:
        pending = flow.take_pending(project.state_dir, opts.name) or {}
        redirect = flow.parse_pasted(opts.code)
        flow.check_state(redirect, pending.get("state"))
        redirect_uri = opts.redirect_uri or pending.get("redirect_uri") or \
            f"http://127.0.0.1:{opts.redirect_port or 8765}{flow.CALLBACK_PATH}"
    else:
        state = flow.new_state()
        with flow.CallbackServer(state, opts.redirect_port) as server:
            redirect_uri = opts.redirect_uri or server.redirect_uri
            url = _consent_url(connector, opts, state, redirect_uri)
            on_url(url)
            if not opts.no_browser:
                _open_browser(url)
            redirect = server.wait(opts.timeout)
    token_url = _token_url(connector, opts, redirect.params)
    grant_body = {"client_id": opts.client_id, "client_secret": opts.client_secret,
                  "grant_type": "authorization_code", "code": redirect.code}
    if auth.token_request != "query":  # RFC 6749 4.1.3: the same redirect_uri as the consent; a GET grant has none
        grant_body["redirect_uri"] = redirect_uri
    grant = request_tokens(auth, token_url, grant_body, title=connector.title, words=connector.token_error_body)
    base = (grant.extra.get(connector.connect.get("grant_field", "")) if _from_grant(connector)
            else _host_base(connector, opts, redirect.params))
    if not base:
        raise UserError(f"{connector.title} did not say which address to call; pass --base-url")
    account, body = verify_answer(connector, auth, base, grant.access_token, expect_subdomain=opts.subdomain,
                                  pacer=pacer)
    settings = {**_bound(connector, body=body, grant=grant.extra, base_url=base),
                "client_id": opts.client_id, "token_url": token_url, "redirect_uri": redirect_uri,
                "authorize_url": _authorize_base(connector, opts), "account": account,
                **{k: v for k, v in (("portal", opts.portal), ("subdomain", opts.subdomain)) if v},
                **{k: grant.extra[k] for k in connector.connect.get("grant_settings") or [] if k in grant.extra}}
    return Connection(opts.name, opts.crm, OAUTH2, base, settings,
                      {"client_secret": opts.client_secret, "access_token": grant.access_token,
                       "refresh_token": grant.refresh_token}, token_expires_at=grant.expires_at, status=OK)


def _bound(connector: ConnectorAuth, *, body: Any, base_url: str, grant: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """The settings that bind a new connection to the account it reaches (connector spec ``account``)."""
    identity = binding.observe(binding.identity_parts(connector.raw), check_body=body, grant=grant,
                               base_url=base_url)
    return {binding.IDENTITY_KEY: identity, "bound_at": time.time()} if identity else {}


# -- URLs ------------------------------------------------------------------------------------------
def _from_grant(connector: ConnectorAuth) -> bool:
    """Whether the OAuth grant names the account's API address (``connect.address: grant``)."""
    return connector.connect.get("address") == "grant"


def _host_base(connector: ConnectorAuth, opts: ConnectOptions, redirect: dict[str, str] | None = None) -> str:
    """The account's API address from --base-url, --subdomain (under the connector's domain) or the
    host the OAuth redirect names (``connect.host_param``); a contradiction between them is refused."""
    param = connector.connect.get("host_param")
    referer = (redirect or {}).get(param) if param else None
    if opts.base_url:
        base = opts.base_url.rstrip("/")
        if referer and urlsplit(base).netloc != referer and not opts.subdomain:
            raise UserError(f"wrong subdomain: you authorised the account at {referer}, but --base-url is {base}. "
                            f"Nothing was saved")
        return base
    domain = opts.domain or connector.connect.get("domain")
    if opts.subdomain and domain:
        host = f"{opts.subdomain}.{domain}"
        if referer and referer != host:
            raise UserError(f"wrong subdomain: you authorised the account at {referer}, not {host}; use "
                            f"--subdomain {referer.split('.')[0]}. Nothing was saved")
        return f"https://{host}"
    if referer:
        return f"https://{referer}"
    if opts.subdomain:
        raise UserError(f"--subdomain needs --domain: {connector.title} declares no default domain; or pass --base-url")
    example = f" (e.g. acme for acme.{domain})" if domain else ""
    raise UserError(f"which account? pass --subdomain{example} or --base-url")


def _authorize_base(connector: ConnectorAuth, opts: ConnectOptions) -> str:
    if opts.authorize_url:
        return opts.authorize_url
    template = connector.auth(OAUTH2).authorize_url or ""
    if "{domain}" in template:  # one API under several brands' domains: the consent page is on the account's
        template = template.replace("{domain}", opts.domain or connector.connect.get("domain") or "")
    if "{portal_url}" in template:
        if not opts.portal:
            raise UserError(f"{connector.title} OAuth needs --portal (the account's address): the consent page "
                            "is on the portal")
        template = template.replace("{portal_url}", opts.portal.rstrip("/"))
    return template


def _consent_url(connector: ConnectorAuth, opts: ConnectOptions, state: str, redirect_uri: str) -> str:
    if not opts.client_id:
        raise UserError("OAuth needs the integration's --client-id")
    params = {"client_id": opts.client_id, "state": state, **connector.auth(OAUTH2).authorize_params,
              "redirect_uri": redirect_uri}
    return flow.authorize_url(_authorize_base(connector, opts), params)


def _token_url(connector: ConnectorAuth, opts: ConnectOptions, redirect: dict[str, str]) -> str:
    if opts.token_url:
        return opts.token_url
    token_host = connector.connect.get("token_host_param")
    if token_host and redirect.get(token_host):  # the redirect names the host that exchanges this account's codes
        scheme = urlsplit(opts.portal or "https://x").scheme or "https"   # a fake portal is http on loopback
        return f"{scheme}://{redirect[token_host]}/{str(connector.connect.get('token_path', '')).lstrip('/')}"
    template = connector.auth(OAUTH2).token_url or ""
    if "{base_url}" in template:
        template = template.replace("{base_url}", _host_base(connector, opts, redirect))
    return template


def _open_browser(url: str) -> None:
    # On Linux without a display, webbrowser may run a text browser in this terminal: print the URL only.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return
    with contextlib.suppress(webbrowser.Error):
        webbrowser.open(url)


def _with_stored(project: Project, vault: Vault, opts: ConnectOptions, need_secret: bool = True) -> ConnectOptions:
    """For --replace: fill what was not given from the stored connection (re-authorisation in one command)."""
    if not opts.replace or not repository.exists(project, opts.name):
        return opts
    stored = repository.get(project, opts.name)
    if stored.crm != opts.crm:  # --new-account to another CRM: nothing of the old one applies
        return opts
    s = stored.settings
    filled = ConnectOptions(**asdict(opts))
    filled.client_id = opts.client_id or s.get("client_id")
    filled.token_url = opts.token_url or s.get("token_url")
    filled.authorize_url = opts.authorize_url or s.get("authorize_url")
    filled.portal = opts.portal or s.get("portal")
    filled.subdomain = opts.subdomain or s.get("subdomain")
    if not _from_grant(load_connector_auth(project, stored.crm)) and not (opts.base_url or opts.subdomain):
        filled.base_url = stored.base_url  # the address was the user's to give: it stays
    if need_secret and not opts.client_secret and stored.auth_type == OAUTH2:
        filled.client_secret = repository.get(project, opts.name, vault).credentials.get("client_secret")
    return filled
