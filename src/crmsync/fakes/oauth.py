"""OAuth 2.0 authorization-code grant with rotating refresh tokens, as the two CRMs run it.

The CRM-specific parts (URLs, request and error formats) live in each fake; this module keeps the
token book: codes, access tokens with a lifetime, refresh tokens that rotate, and what happens to
the *old* refresh token after a refresh:

* ``grace`` (AmoCRM): the old refresh token keeps working until the new one is used once, so a
  client that lost the refresh response can retry with the old token.
* ``invalidate`` (Bitrix24): the old refresh token, and the access token issued with it, die at once.
* ``keep`` (HubSpot): refresh tokens do not rotate; a refresh returns a new access token and the same
  refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field

from .clock import Clock

GRACE = "grace"
INVALIDATE = "invalidate"
KEEP = "keep"


class OAuthError(Exception):
    """A rejected grant; ``reason`` is one of the constants below, ``hint`` is human text."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(hint)
        self.reason = reason
        self.hint = hint


INVALID_CLIENT = "invalid_client"
INVALID_GRANT = "invalid_grant"
INVALID_REQUEST = "invalid_request"

VALID = "valid"
EXPIRED = "expired"
UNKNOWN = "unknown"


@dataclass
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    expires_at: float
    issued_at: float


@dataclass
class _Refresh:
    token: str
    access_token: str
    issued_at: float
    parent: str | None = None
    used: bool = False
    revoked: bool = False
    children: list[str] = field(default_factory=list)


@dataclass
class _Code:
    code: str
    redirect_uri: str | None
    issued_at: float
    used: bool = False


class OAuthBook:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        clock: Clock,
        access_ttl: int,
        refresh_ttl: int,
        code_ttl: int,
        old_refresh: str,
        token_style: str = "opaque",
        claims: dict | None = None,
    ) -> None:
        if old_refresh not in (GRACE, INVALIDATE, KEEP):
            raise ValueError(f"old_refresh must be {GRACE!r}, {INVALIDATE!r} or {KEEP!r}")
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.old_refresh = old_refresh
        self.token_style = token_style
        self.claims = dict(claims or {})
        self._signing_key = secrets.token_bytes(32)
        self._codes: dict[str, _Code] = {}
        self._access: dict[str, float] = {}  # token -> expires_at
        self._refresh: dict[str, _Refresh] = {}
        self._static: set[str] = set()
        self._lock = threading.Lock()
        self.refresh_count = 0
        self.exchange_count = 0

    # -- tokens that never expire (AmoCRM long-lived token, test helpers) ---------------------
    def add_static_token(self, token: str) -> None:
        with self._lock:
            self._static.add(token)

    # -- authorization code ---------------------------------------------------------------------
    def issue_code(self, redirect_uri: str | None) -> str:
        code = secrets.token_hex(24)
        with self._lock:
            self._codes[code] = _Code(code, redirect_uri, self.clock.now())
        return code

    def _check_client(self, client_id: str | None, client_secret: str | None) -> None:
        if client_id != self.client_id or not hmac.compare_digest(str(client_secret or ""), self.client_secret):
            raise OAuthError(INVALID_CLIENT, "Client authentication failed")

    def exchange_code(self, client_id: str | None, client_secret: str | None, code: str | None,
                      redirect_uri: str | None = None, check_redirect: bool = True) -> TokenPair:
        self._check_client(client_id, client_secret)
        with self._lock:
            entry = self._codes.get(code or "")
            if entry is None:
                raise OAuthError(INVALID_GRANT, "Cannot decrypt the authorization code")
            if entry.used:
                raise OAuthError(INVALID_GRANT, "Authorization code has been revoked")
            if self.clock.now() - entry.issued_at > self.code_ttl:
                raise OAuthError(INVALID_GRANT, "Authorization code has expired")
            if check_redirect and entry.redirect_uri and redirect_uri and redirect_uri != entry.redirect_uri:
                raise OAuthError(INVALID_GRANT, "redirect_uri does not match the one the code was issued for")
            entry.used = True
            self.exchange_count += 1
            return self._issue(parent=None)

    def refresh(self, client_id: str | None, client_secret: str | None, refresh_token: str | None) -> TokenPair:
        self._check_client(client_id, client_secret)
        with self._lock:
            entry = self._refresh.get(refresh_token or "")
            if entry is None:
                raise OAuthError(INVALID_GRANT, "Invalid refresh token")
            if entry.revoked:
                raise OAuthError(INVALID_GRANT, "Token has been revoked")
            if self.clock.now() - entry.issued_at > self.refresh_ttl:
                raise OAuthError(INVALID_GRANT, "Refresh token has expired")
            if self.old_refresh == KEEP:
                now = self.clock.now()
                entry.access_token = self._make_access(now)
                self._access[entry.access_token] = now + self.access_ttl
                self.refresh_count += 1
                return TokenPair(entry.access_token, entry.token, self.access_ttl, now + self.access_ttl, now)
            # Using this token proves its predecessors' responses arrived: they are done for.
            parent = entry.parent
            while parent:
                p = self._refresh[parent]
                p.revoked = True
                parent = p.parent
            entry.used = True
            if self.old_refresh == INVALIDATE:
                entry.revoked = True
                self._access.pop(entry.access_token, None)
            self.refresh_count += 1
            pair = self._issue(parent=entry.token)
            entry.children.append(pair.refresh_token)
            return pair

    def _issue(self, parent: str | None) -> TokenPair:
        now = self.clock.now()
        access = self._make_access(now)
        refresh = secrets.token_hex(32) if self.token_style == "jwt" else secrets.token_hex(16)
        self._access[access] = now + self.access_ttl
        self._refresh[refresh] = _Refresh(refresh, access, now, parent=parent)
        return TokenPair(access, refresh, self.access_ttl, now + self.access_ttl, now)

    def _make_access(self, now: float) -> str:
        if self.token_style != "jwt":
            return secrets.token_hex(16)
        header = {"typ": "JWT", "alg": "HS256", "jti": secrets.token_hex(20)}
        payload = {
            **self.claims,
            "aud": self.client_id,
            "jti": header["jti"],
            "iat": int(now),
            "nbf": int(now),
            "exp": int(now + self.access_ttl),
        }
        signing_input = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
        sig = hmac.new(self._signing_key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(sig)

    # -- checking a bearer ----------------------------------------------------------------------
    def check(self, token: str | None) -> str:
        if not token:
            return UNKNOWN
        with self._lock:
            if token in self._static:
                return VALID
            expires_at = self._access.get(token)
        if expires_at is None:
            return UNKNOWN
        return VALID if self.clock.now() < expires_at else EXPIRED

    def expires_at(self, token: str) -> float | None:
        """When an issued access token expires (None for unknown and never-expiring tokens)."""
        with self._lock:
            return self._access.get(token)

    def revoke_all(self) -> None:
        with self._lock:
            self._access.clear()
            for r in self._refresh.values():
                r.revoked = True
            self._static.clear()

    def expire_access_tokens(self) -> None:
        """Test helper: every issued access token is now expired (refresh tokens still work)."""
        with self._lock:
            for t in self._access:
                self._access[t] = 0.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
