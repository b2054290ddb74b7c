"""The token endpoint over real HTTP on loopback: the grant sent as the connector says, the answer's
other fields kept for what the connector reads from it, a refusal in the CRM's words."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from crmsync.connections.grants import GrantRejected, request_tokens
from crmsync.connections.spec import AuthSpec
from crmsync.http.error_body import ErrorBody


class TokenEndpoint:
    """Records each request (method, content type, parameters) and answers with ``self.answer``."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        self.answer: tuple[int, dict] = (200, {})
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                ctype = self.headers.get("Content-Type") or ""
                if ctype.startswith("application/json"):
                    params = json.loads(raw)
                else:
                    params = {k: v[0] for k, v in parse_qs(raw or urlsplit(self.path).query).items()}
                outer.seen.append((self.command, ctype, params))
                status, body = outer.answer
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth/token"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def endpoint():
    server = TokenEndpoint()
    yield server
    server.server.shutdown()
    server.server.server_close()


GRANT = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "csecret-123",
         "refresh_token": "r-1234567"}


@pytest.mark.parametrize("kind, method, ctype", [
    ("json", "POST", "application/json"),
    ("form", "POST", "application/x-www-form-urlencoded"),
    ("query", "GET", ""),
])
def test_the_grant_is_sent_as_the_connector_says(endpoint, kind, method, ctype):
    endpoint.answer = (200, {"access_token": "a-7654321", "refresh_token": "r-7654321", "expires_in": 1800,
                             "token_type": "bearer", "hub_id": 42, "api_domain": "api.example.test"})
    grant = request_tokens(AuthSpec(type="oauth2", token_request=kind), endpoint.url, GRANT, title="Acorn")
    assert [(m, c) for m, c, _ in endpoint.seen] == [(method, ctype)]
    assert endpoint.seen[0][2] == GRANT
    assert grant.access_token == "a-7654321" and grant.refresh_token == "r-7654321"
    assert grant.extra == {"hub_id": 42, "api_domain": "api.example.test"}  # no token among them


def test_a_refusal_in_the_crms_own_words(endpoint):
    endpoint.answer = (400, {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"})
    words = ErrorBody.from_spec({"code": "status", "message": "message"})
    with pytest.raises(GrantRejected) as exc:
        request_tokens(AuthSpec(type="oauth2", token_request="form"), endpoint.url, GRANT, title="Acorn", words=words)
    assert str(exc.value) == "Acorn rejected the grant: BAD_REFRESH_TOKEN: missing or unknown refresh token"
    endpoint.answer = (401, {"error": "invalid_client", "error_description": "Client authentication failed"})
    with pytest.raises(GrantRejected) as exc:  # OAuth 2.0's own error shape is read whatever the connector says
        request_tokens(AuthSpec(type="oauth2"), endpoint.url, GRANT, title="Acorn", words=words)
    assert exc.value.part == "client" and "invalid_client: Client authentication failed" in str(exc.value)
