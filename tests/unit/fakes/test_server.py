"""The shared HTTP server, exercised over real loopback HTTP with a minimal echo app."""

import http.client
import json
import time

import pytest
import requests

from crmsync.fakes.faults import FaultPlan
from crmsync.fakes.server import FakeServer, Request, Response


class EchoApp:
    name = "echo"

    def __init__(self):
        self.resets = 0

    def handle(self, request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("bug in a handler")
        return Response.json(200, {"method": request.method, "path": request.path, "query": request.query,
                                   "body": request.body_params(), "bearer": request.bearer(), "pad": "x" * 200})

    def fault_response(self, status: int, request: Request) -> Response:
        return Response.json(status, {"fault": status})

    def admin(self, request, action):
        return Response.json(200, {"custom": action}) if action == "custom" else None

    def reset(self):
        self.resets += 1

    def snapshot(self):
        return {"resets": self.resets}


@pytest.fixture
def server():
    with FakeServer(EchoApp(), faults=FaultPlan()) as s:
        yield s


def test_parses_query_json_form_and_bearer(server):
    r = requests.get(server.url + "/a?filter[id][]=1&filter[id][]=2", headers={"Authorization": "Bearer t0k"})
    assert r.json()["query"] == {"filter": {"id": {"0": "1", "1": "2"}}} and r.json()["bearer"] == "t0k"
    r = requests.post(server.url + "/b", json={"x": [1, 2]})
    assert r.json()["body"] == {"x": [1, 2]}
    r = requests.post(server.url + "/c", data={"fields[NAME]": "Ann", "fields[PHONE][0][VALUE]": "+7"})
    assert r.json()["body"] == {"fields": {"NAME": "Ann", "PHONE": {"0": {"VALUE": "+7"}}}}
    r = requests.post(server.url + "/d", files={"fields[TITLE]": (None, "Deal")})
    assert r.json()["body"] == {"fields": {"TITLE": "Deal"}}


def test_chunked_body(server):
    def gen():
        yield b'{"a":'
        yield b"1}"
    r = requests.post(server.url + "/chunked", data=gen(), headers={"Content-Type": "application/json"})
    assert r.json()["body"] == {"a": 1}


def test_keep_alive_reuses_one_connection(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    for _ in range(3):
        conn.request("GET", "/ping")
        assert conn.getresponse().read()
    conn.close()
    assert server.stats.total == 3


def test_status_faults_use_the_apps_body_then_recover(server):
    server.faults.add(503, count=2)
    codes = [requests.get(server.url + "/x").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert requests.get(server.url + "/_fake/stats").json()["faults_injected"] == {"503": 2}


def test_drop_and_truncate_break_the_connection(server):
    server.faults.add("drop", count=1)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/x")
    server.faults.add("truncate", count=1)
    with pytest.raises((requests.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        requests.get(server.url + "/x").json()
    assert requests.get(server.url + "/x").status_code == 200


def test_hang_outlasts_a_client_timeout(server):
    server.faults.add("hang", count=1, hang_seconds=2)
    start = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(server.url + "/x", timeout=0.3)
    assert time.monotonic() - start < 1.5


def test_handler_bug_becomes_a_500_not_a_dead_server(server, capsys):
    assert requests.get(server.url + "/boom").status_code == 500
    assert "bug in a handler" in capsys.readouterr().err
    assert requests.get(server.url + "/x").status_code == 200


def test_admin_routes(server):
    base = server.url + "/_fake/"
    assert requests.post(base + "faults", json={"spec": "429:x1"}).json()["rules"][0]["kind"] == "429"
    assert requests.post(base + "faults", json={"spec": "bogus"}).status_code == 400
    assert requests.get(server.url + "/x").status_code == 429
    assert requests.delete(base + "faults").json() == {"rules": []}
    assert requests.post(base + "reset").json() == {"resets": 1}
    assert requests.get(base + "state").json() == {"resets": 1}
    assert requests.get(base + "custom").json() == {"custom": "custom"}
    assert requests.get(base + "nope").status_code == 404


def test_refuses_non_loopback_bind():
    with pytest.raises(ValueError, match="loopback"):
        FakeServer(EchoApp(), host="0.0.0.0")


def test_stop_is_prompt_even_with_a_hanging_request():
    s = FakeServer(EchoApp()).start()
    s.faults.add("hang", count=1, hang_seconds=30)
    conn = http.client.HTTPConnection(s.host, s.port, timeout=10)
    conn.request("GET", "/x")
    time.sleep(0.2)
    start = time.monotonic()
    s.stop()
    assert time.monotonic() - start < 3
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        json.loads(conn.getresponse().read())


def test_tls_mode_serves_https_with_a_certificate_clients_can_pin(tmp_path):
    with FakeServer(EchoApp(), tls=tmp_path) as s:
        assert s.url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(s.url + "/x", timeout=5)  # untrusted by default, as it should be
        r = requests.get(s.url + "/x?a=1", verify=str(s.cert_path), timeout=5)
        assert r.json()["query"] == {"a": "1"}
        r = requests.get(s.url.replace("127.0.0.1", "localhost") + "/y", verify=str(s.cert_path), timeout=5)
        assert r.status_code == 200
    assert all(k.stat().st_mode & 0o077 == 0 for k in tmp_path.glob("*.key"))
    assert list(tmp_path.glob("*.key"))


def test_tls_true_uses_a_temporary_certificate_removed_on_stop():
    s = FakeServer(EchoApp(), tls=True).start()
    cert = s.cert_path
    assert requests.get(s.url + "/x", verify=str(cert), timeout=5).status_code == 200
    s.stop()
    assert not cert.exists()


def test_tls_fake_answers_connect_for_any_host_and_never_forwards(tmp_path):
    with FakeServer(EchoApp(), tls=tmp_path) as s:
        proxies = {"https": s.url.replace("https://", "http://")}
        r = requests.get("https://demo.amocrm.ru/api/v4/contacts?page=2", proxies=proxies,
                         verify=str(s.cert_path), timeout=5)
        assert r.json()["path"] == "/api/v4/contacts" and r.json()["query"] == {"page": "2"}
        with requests.Session() as http:  # keep-alive inside the tunnel
            for _ in range(3):
                assert http.get("https://portal.bitrix24.ru/rest/x", proxies=proxies, verify=str(s.cert_path),
                                timeout=5).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get("https://demo.amocrm.ru/", proxies=proxies, timeout=5)  # untrusted without the CA


def test_connect_without_tls_is_refused(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("CONNECT", "demo.amocrm.ru:443")
    assert conn.getresponse().status == 501
