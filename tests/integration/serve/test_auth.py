"""Every route of the operations API refuses a request without a key, with a wrong or revoked key,
and with a key whose scope is too narrow — 401/403 with a JSON error, and nothing changed."""

import json

import pytest
from fastapi.testclient import TestClient

from tests.integration.test_cli import run
from tests.integration.test_pull_cli import run_here

# (method, path, body, scope it needs); test_every_route_is_listed keeps this complete
ROUTES = [
    ("GET", "/metrics", None, "read"),
    ("GET", "/api/pipelines", None, "read"),
    ("GET", "/api/pipelines/amocrm", None, "read"),
    ("POST", "/api/pipelines/amocrm/runs", {"kind": "sync"}, "operate"),
    ("GET", "/api/jobs", None, "read"),
    ("GET", "/api/jobs/job-x", None, "read"),
    ("GET", "/api/runs", None, "read"),
    ("GET", "/api/status", None, "read"),
    ("GET", "/api/conflicts", None, "read"),
    ("POST", "/api/conflicts/resolve", {"all": True, "take": "crm"}, "operate"),
    ("GET", "/api/connections", None, "read"),
    ("POST", "/api/connections", {"crm": "amocrm", "name": "x", "long_lived_token": "t",
                                  "base_url": "http://127.0.0.1:9"}, "admin"),
    ("DELETE", "/api/connections/amocrm", None, "admin"),
    ("GET", "/api/connections/x/auth-url?crm=amocrm&client_id=c", None, "admin"),
]
NARROWER = {"operate": "read", "admin": "operate"}


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    from crmsync.project import Project
    from crmsync.serve.app import create_app

    root = tmp_path_factory.mktemp("auth")
    run_here(root, "init", str(root / "p"))
    project = root / "p"
    keys = {scope: json.loads(run_here(project, "api-keys", "create", scope, "--scope", scope, "--json"))["token"]
            for scope in ("read", "operate", "admin")}
    keys["revoked"] = json.loads(run_here(project, "api-keys", "create", "old", "--scope", "admin", "--json"))["token"]
    run_here(project, "api-keys", "revoke", "old")
    app = create_app(Project.at(project), schedule=False)
    with TestClient(app) as client:
        yield client, keys, app


def call(client, method, path, body, key):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.request(method, path, json=body, headers=headers)


def test_every_route_is_listed(api):
    client, _, _ = api
    documented = {(m.upper(), p) for p, ops in client.get("/openapi.json").json()["paths"].items() for m in ops}
    listed = {(m, p.split("?")[0].replace("amocrm", "{name}").replace("/x/", "/{name}/").replace("job-x", "{job_id}"))
              for m, p, _, _ in ROUTES}
    app_sync = {(m, p) for m, p in documented if p.startswith("/api/sync/")}  # JWT routes: tests/integration/appsync
    assert documented - {("GET", "/healthz")} - app_sync == listed


@pytest.mark.parametrize(("method", "path", "body", "scope"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_refused_without_the_right_key(api, method, path, body, scope):
    client, keys, app = api
    for key, why in ((None, "no key"), ("crmsync_wrong", "wrong key"), (keys["revoked"], "revoked key")):
        response = call(client, method, path, body, key)
        assert response.status_code == 401, (why, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    if scope in NARROWER:
        response = call(client, method, path, body, keys[NARROWER[scope]])
        assert response.status_code == 403, response.text
        assert scope in response.json()["error"]["message"]
    assert app.state.runner.jobs() == []  # nothing started
    assert client.get("/api/connections", headers={"Authorization": f"Bearer {keys['read']}"}).json() == \
        {"connections": []}  # nothing created


def test_the_right_scope_gets_through(api):
    client, keys, _ = api
    for method, path, body, scope in ROUTES:
        if method != "GET":
            continue
        response = call(client, method, path, body, keys[scope])
        assert response.status_code not in (401, 403), (path, response.text)


def test_healthz_needs_no_key_and_says_nothing(api):
    client, _, _ = api
    assert client.get("/healthz").json() == {"status": "ok"}


def test_keys_are_shown_once_and_stored_as_hashes(tmp_path):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    made = run(*["api-keys", "create", "ci", "--scope", "operate", "--project-dir", str(project)])
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("crmsync_") and "not shown again" in made.stderr
    stored = (project / ".crmsync" / "api-keys.json").read_text()
    assert token not in stored and "crmsync_" not in stored
    listed = run_here(project, "api-keys", "list")
    assert "ci" in listed and "operate" in listed and token not in listed
    again = run("api-keys", "create", "ci", "--project-dir", str(project))
    assert again.returncode == 2 and "exists" in again.stderr
    bad = run("api-keys", "create", "x", "--scope", "root", "--project-dir", str(project))
    assert bad.returncode == 2 and "read" in bad.stderr
    assert "revoked ci" in run_here(project, "api-keys", "revoke", "ci")
    assert "revoked" in run_here(project, "api-keys", "list")


def test_listening_beyond_loopback_needs_a_flag(tmp_path):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    refused = run("serve", "--host", "0.0.0.0", "--project-dir", str(tmp_path / "p"))
    assert refused.returncode == 2
    assert "--allow-remote" in refused.stderr
