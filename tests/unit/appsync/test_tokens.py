"""The verifier refuses to start half-configured, and pins the algorithm."""

import time

import jwt
import pytest

from crmsync.appsync.settings import JwtSettings
from crmsync.appsync.tokens import TokenRefused, Verifier
from crmsync.errors import UserError

SECRET = "s" * 40


def test_hs256_without_its_secret_does_not_start(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_SECRET", raising=False)
    with pytest.raises(UserError, match="NO_SUCH_SECRET"):
        Verifier(JwtSettings(secret_env="NO_SUCH_SECRET"), tmp_path)


def test_a_short_secret_does_not_start(tmp_path, monkeypatch):
    monkeypatch.setenv("SHORT_SECRET", "abc")
    with pytest.raises(UserError, match="at least 32"):
        Verifier(JwtSettings(secret_env="SHORT_SECRET"), tmp_path)


def test_rs256_needs_a_jwks(tmp_path):
    with pytest.raises(UserError, match="jwks_file or jwt.jwks_url"):
        Verifier(JwtSettings(algorithms=("RS256",)), tmp_path)


def test_the_tenant_claim_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("GOOD_SECRET", SECRET)
    verifier = Verifier(JwtSettings(secret_env="GOOD_SECRET", tenant_claim="org"), tmp_path)
    good = jwt.encode({"org": "acme", "sub": "u1", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    assert verifier.verify(good).tenant == "acme"
    with pytest.raises(TokenRefused, match="tenant claim 'org'"):
        verifier.verify(jwt.encode({"sub": "u1", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"))
