"""JWT checks for the app routes (PyJWT): which tenant a request speaks for, or a 401.

HS256 verifies with the secret in the environment variable ``jwt.secret_env``; RS256/ES256 with the
key of the token's ``kid`` in a JWKS file or URL. The algorithm comes from the configuration, never
from the token (so ``alg: none`` and an RS256 public key used as an HS256 secret are refused); issuer
and audience are checked when configured; ``exp`` is required and enforced with ``leeway_seconds``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from crmsync.errors import UserError

from .settings import JwtSettings


class TokenRefused(Exception):
    """The token cannot be trusted; the message says why (without echoing the token)."""


@dataclass(frozen=True)
class Claims:
    tenant: str
    subject: str | None
    claims: dict[str, Any]


class Verifier:
    def __init__(self, settings: JwtSettings, project_root: Path) -> None:
        self.settings = settings
        self._secret: str | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_client: jwt.PyJWKClient | None = None
        if "HS256" in settings.algorithms:
            self._secret = os.environ.get(settings.secret_env) or None
            if not self._secret:
                raise UserError(f"app sync: HS256 is configured but the environment variable {settings.secret_env} "
                                "(jwt.secret_env) is not set", hint="export the shared secret there, or configure "
                                "algorithms = [\"RS256\"] with jwt.jwks_file or jwt.jwks_url")
            if len(self._secret) < 32:
                raise UserError(f"app sync: the HS256 secret in {settings.secret_env} is {len(self._secret)} "
                                "characters; use at least 32 random ones")
        if {"RS256", "ES256"} & set(settings.algorithms):
            if settings.jwks_file:
                path = Path(settings.jwks_file)
                path = path if path.is_absolute() else project_root / path
                try:
                    self._jwks = jwt.PyJWKSet.from_json(path.read_text(encoding="utf-8"))
                except (OSError, ValueError, jwt.PyJWTError) as exc:
                    raise UserError(f"app sync: jwt.jwks_file {path} cannot be used: {exc}") from None
            elif settings.jwks_url:
                self._jwks_client = jwt.PyJWKClient(settings.jwks_url, cache_keys=True, lifespan=300)
            else:
                raise UserError("app sync: RS256/ES256 needs jwt.jwks_file or jwt.jwks_url in [app_sync.jwt]")

    def _key(self, header: dict[str, Any], token: str) -> Any:
        alg = header.get("alg")
        if alg == "HS256":
            return self._secret
        if self._jwks is not None:
            kid = header.get("kid")
            keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
            if not keys:
                raise TokenRefused("the token's key id is not in the configured JWKS")
            return keys[0].key
        assert self._jwks_client is not None
        try:
            return self._jwks_client.get_signing_key_from_jwt(token).key
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the token's signing key cannot be found in the JWKS: {exc}") from None

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRefused("the token is not a JWT") from None
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise TokenRefused(f"the token's algorithm {str(alg)[:10]!r} is not accepted "
                               f"(allowed: {', '.join(self.settings.algorithms)})")
        key = self._key(header, token)
        options = {"require": ["exp"], "verify_aud": self.settings.audience is not None,
                   "verify_iss": self.settings.issuer is not None}
        try:
            claims = jwt.decode(token, key, algorithms=[alg], audience=self.settings.audience,
                                issuer=self.settings.issuer, leeway=self.settings.leeway_seconds, options=options)
        except jwt.ExpiredSignatureError:
            raise TokenRefused("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("the token is not meant for this audience") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("the token comes from another issuer") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenRefused(f"the token is not valid: {exc}") from None
        tenant = claims.get(self.settings.tenant_claim)
        if isinstance(tenant, int) and not isinstance(tenant, bool):
            tenant = str(tenant)
        if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > 256:
            raise TokenRefused(f"the token has no tenant claim {self.settings.tenant_claim!r} (a non-empty string)")
        if re.search(r"[\x00-\x1f]", tenant):
            raise TokenRefused("the tenant claim holds control characters")
        return Claims(tenant, claims.get("sub"), claims)

