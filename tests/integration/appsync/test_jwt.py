"""Every token the app routes must refuse gets a 401 and nothing is read or written; RS256/ES256 keys come
from a JWKS file."""

import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.integration.appsync.harness import AUDIENCE, ISSUER, SECRET, token

ROUTES = [("GET", "/api/sync/initial", None), ("GET", "/api/sync/incremental?last_pulled_at=0", None),
          ("POST", "/api/sync/outgoing?last_pulled_at=0",
           {"changes": {"contacts": {"created": [{"id": "x1", "first_name": "Eve"}], "updated": [], "deleted": []}}}),
          ("GET", "/api/sync/status", None), ("GET", "/api/sync/schema", None),
          ("GET", "/api/sync/connection", None),
          ("POST", "/api/sync/connection", {"crm": "amocrm", "name": "amocrm", "long_lived_token": "t",
                                            "base_url": "http://127.0.0.1:9"}),
          ("DELETE", "/api/sync/connection/amocrm", None),
          ("GET", "/api/sync/connection/auth-url?name=a&crm=amocrm&client_id=c", None)]


def _none_alg(claims):
    header = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).decode()
    body = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{body}."


def bad_tokens():
    now = int(time.time())
    good = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "tenant": "acme"}
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "garbage": "not-a-jwt",
        "expired": token("acme", exp=now - 120),          # past the 10 s leeway
        "no exp": token("acme", exp=None),
        "wrong signature": token("acme", key="another-secret-" + "y" * 40),
        "wrong issuer": token("acme", iss="https://evil.example"),
        "wrong audience": token("acme", aud="someone-else"),
        "alg none": _none_alg(good),
        "alg none, no signature part": _none_alg(good)[:-1],
        "RS256 not configured": jwt.encode(good, other_rsa, algorithm="RS256"),
        "no tenant claim": token(None),
        "empty tenant": token(""),
        "tenant not a string": jwt.encode({**good, "tenant": ["acme"]}, SECRET, algorithm="HS256"),
    }


def test_every_refused_token_is_a_401_and_nothing_happens(app_server):
    server = app_server()
    tenants_root = server.project / ".crmsync" / "tenants"
    cases = {**bad_tokens(), "no token": None, "basic auth": "Basic"}
    for method, path, body in ROUTES:
        for why, bearer in cases.items():
            headers = {"Authorization": "Basic dXNlcjpwdw=="} if bearer == "Basic" else {}
            response = server.call(method, path, bearer=None if bearer == "Basic" else bearer, json=body,
                                   headers=headers)
            assert response.status_code == 401, (method, path, why, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
            assert "WWW-Authenticate" in response.headers
    assert not tenants_root.exists()  # no tenant folder, no store: nothing read or written
    # and the same server answers a good token
    assert server.call("GET", "/api/sync/schema", "acme").status_code == 200


def test_the_leeway_lets_a_just_expired_token_through(app_server):
    server = app_server()
    assert server.call("GET", "/api/sync/schema", bearer=token("acme", exp=int(time.time()) - 3)).status_code == 200


def test_an_api_key_is_not_a_jwt(app_server):
    from tests.integration.test_pull_cli import run_here

    server = app_server()
    key = json.loads(run_here(server.project, "api-keys", "create", "ops", "--scope", "admin", "--json"))["token"]
    assert server.call("GET", "/api/sync/initial", bearer=key).status_code == 401
    assert server.call("GET", "/api/status", bearer=token("acme")).status_code == 401  # and a JWT is no API key


def _jwks(*keys):
    out = []
    for kid, key in keys:
        alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
        algo = jwt.algorithms.RSAAlgorithm if alg == "RS256" else jwt.algorithms.ECAlgorithm
        jwk = json.loads(algo.to_jwk(key.public_key()))
        out.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
    return json.dumps({"keys": out})


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rs256_and_es256_with_a_jwks_file(app_server, tmp_path, alg):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" else \
        ec.generate_private_key(ec.SECP256R1())
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048) if alg == "RS256" else \
        ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(_jwks(("k1", key)))
    config = f"""
[app_sync.jwt]
algorithms = ["{alg}"]
jwks_file = "{jwks}"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
tenant_claim = "org"
"""
    server = app_server(config=config)
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "org": "acme"}
    good = jwt.encode(claims, key, algorithm=alg, headers={"kid": "k1"})
    assert server.call("GET", "/api/sync/initial", bearer=good).status_code == 200
    for bearer in (jwt.encode(claims, stranger, algorithm=alg, headers={"kid": "k1"}),
                   jwt.encode(claims, stranger, algorithm=alg, headers={"kid": "k2"}),
                   jwt.encode(claims, SECRET, algorithm="HS256")):  # HS256 is not configured here
        assert server.call("GET", "/api/sync/initial", bearer=bearer).status_code == 401
