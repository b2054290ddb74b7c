import base64
import json

import pytest

from crmsync.fakes.clock import Clock
from crmsync.fakes.oauth import EXPIRED, GRACE, INVALIDATE, UNKNOWN, VALID, OAuthBook, OAuthError


def book(policy, style="opaque", clock=None):
    return OAuthBook(client_id="cid", client_secret="sec", clock=clock or Clock(), access_ttl=60,
                     refresh_ttl=3600, code_ttl=30, old_refresh=policy, token_style=style, claims={"account_id": 7})


def test_code_is_single_use_and_checks_client_and_redirect():
    b = book(GRACE)
    code = b.issue_code("http://127.0.0.1:9/cb")
    with pytest.raises(OAuthError, match="Client authentication failed"):
        b.exchange_code("cid", "wrong", code, "http://127.0.0.1:9/cb")
    with pytest.raises(OAuthError, match="redirect_uri"):
        b.exchange_code("cid", "sec", code, "http://127.0.0.1:9/other")
    pair = b.exchange_code("cid", "sec", code, "http://127.0.0.1:9/cb")
    assert b.check(pair.access_token) == VALID
    with pytest.raises(OAuthError, match="revoked"):
        b.exchange_code("cid", "sec", code, "http://127.0.0.1:9/cb")


def test_code_expires():
    clock = Clock()
    clock.freeze(1000)
    b = book(GRACE, clock=clock)
    code = b.issue_code(None)
    clock.advance(31)
    with pytest.raises(OAuthError, match="expired"):
        b.exchange_code("cid", "sec", code)


def test_grace_policy_old_refresh_works_until_new_one_is_used():
    b = book(GRACE)
    p0 = b.exchange_code("cid", "sec", b.issue_code(None))
    p1 = b.refresh("cid", "sec", p0.refresh_token)
    # The response carrying p1 was "lost": the old token still works...
    p1b = b.refresh("cid", "sec", p0.refresh_token)
    # ...until a newer one is used, which retires its ancestors.
    b.refresh("cid", "sec", p1b.refresh_token)
    with pytest.raises(OAuthError, match="revoked"):
        b.refresh("cid", "sec", p0.refresh_token)
    assert p1.refresh_token != p1b.refresh_token
    assert b.refresh_count == 3


def test_invalidate_policy_kills_old_pair_at_once():
    b = book(INVALIDATE)
    p0 = b.exchange_code("cid", "sec", b.issue_code(None))
    p1 = b.refresh("cid", "sec", p0.refresh_token)
    assert b.check(p0.access_token) == UNKNOWN
    assert b.check(p1.access_token) == VALID
    with pytest.raises(OAuthError, match="revoked"):
        b.refresh("cid", "sec", p0.refresh_token)


def test_access_token_expiry_and_jwt_claims():
    clock = Clock()
    clock.freeze(10_000)
    b = book(GRACE, style="jwt", clock=clock)
    pair = b.exchange_code("cid", "sec", b.issue_code(None))
    header, payload, _sig = pair.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["exp"] == 10_060 and claims["account_id"] == 7 and claims["aud"] == "cid"
    clock.advance(61)
    assert b.check(pair.access_token) == EXPIRED
    assert b.check("nonsense") == UNKNOWN
    b.add_static_token("long-lived")
    assert b.check("long-lived") == VALID
