"""The app sync API over real HTTP: ``crmsync serve``'s FastAPI app under uvicorn on a free loopback port,
a project made by ``crmsync init`` with an ``[app_sync]`` section, JWTs minted with PyJWT, and a tenant's
connection to a fake CRM made through the API itself. The tests run in the server's process, so they open a
tenant's store read-write as the server does (DuckDB refuses a second configuration of one file in a process)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import jwt
import requests
import uvicorn
import yaml

from tests.integration.serve.served import free_port
from tests.integration.test_pull_cli import run_here

SECRET = "test-secret-" + "x" * 40
ISSUER, AUDIENCE = "https://id.example.test", "crmsync-app"
CONFIG = f"""
[app_sync]
push_now = false

[app_sync.jwt]
algorithms = ["HS256"]
secret_env = "CRMSYNC_APP_JWT_SECRET"
issuer = "{ISSUER}"
audience = "{AUDIENCE}"
leeway_seconds = 10
tenant_claim = "tenant"
"""


def make_project(root: Path, *, schedule: str = "manual", conflicts: dict[str, Any] | None = None,
                 entities: list[str] | None = None, config: str = CONFIG) -> Path:
    run_here(root, "init", str(root / "p"))
    project = root / "p"
    (project / "pipelines" / "bitrix24.yaml").unlink()
    path = project / "pipelines" / "amocrm.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec.update(schedule=schedule, entities=entities or ["contact"],
                conflicts=conflicts or {"default": "crm_wins", "clock_skew_seconds": 5})
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with (project / "config" / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write(config)
    return project


def token(tenant: str | None, *, key: Any = SECRET, alg: str = "HS256", **claims: Any) -> str:
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600, "sub": f"user-of-{tenant}"}
    if tenant is not None:
        body["tenant"] = tenant
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, key, algorithm=alg)


class Server:
    def __init__(self, project: Path, *, time_scale: float | None = None) -> None:
        from crmsync.project import Project
        from crmsync.serve.app import create_app
        from crmsync.serve.clock import Clock

        self.project = project
        clock = Clock(scale=time_scale) if time_scale else None
        self.app = create_app(Project.at(project), schedule=time_scale is not None, clock=clock, stop_grace=5)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> Server:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    # -- a client -------------------------------------------------------------------------------------
    def call(self, method: str, path: str, tenant: str | None = None, *, bearer: str | None = None,
             **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if bearer is None and tenant is not None:
            bearer = token(tenant)
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        return requests.request(method, self.base + path, headers=headers, timeout=120, **kw)

    def ok(self, method: str, path: str, tenant: str, **kw: Any) -> Any:
        response = self.call(method, path, tenant, **kw)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def pull(self, tenant: str, since: int | None = None) -> dict[str, Any]:
        if since is None:
            return self.ok("GET", "/api/sync/initial", tenant)
        return self.ok("GET", f"/api/sync/incremental?last_pulled_at={since}", tenant)

    def push(self, tenant: str, changes: dict[str, Any], since: int | None) -> dict[str, Any]:
        query = "" if since is None else f"?last_pulled_at={since}"
        return self.ok("POST", "/api/sync/outgoing" + query, tenant, json={"changes": changes})

    def tenant_dir(self, tenant: str) -> Path:
        return self.app.state.app_sync.state(tenant).tenant.project.root

    def connect(self, tenant: str, fake: Any, name: str = "amocrm") -> dict[str, Any]:
        return self.ok("POST", "/api/sync/connection", tenant,
                       json={"crm": "amocrm", "name": name, "base_url": fake.url, "long_lived_token": "demo-token"})

    def sync(self, tenant: str, pipeline: str = "amocrm") -> str:
        """The tenant's run of the pipeline, as the scheduler starts it (the CLI on the tenant's folder, after
        the runner has taken the store from the API)."""
        with self.store_taken(tenant):
            return run_here(self.tenant_dir(tenant), "sync", pipeline, "--json")

    def sql(self, tenant: str, sql: str, *args: Any) -> list[Any]:
        """An SQL client's statement on the tenant's store (it gets the file once the API has let go of it)."""
        with self.store_taken(tenant), duckdb.connect(str(self.tenant_dir(tenant) / "crmsync.duckdb")) as con:
            return con.execute(sql, list(args)).fetchall()

    @contextlib.contextmanager
    def store_taken(self, tenant: str) -> Iterator[None]:
        state = self.app.state.app_sync.state(tenant)
        with state.runner.store_lock:
            state.close()
            yield


def changes_of(answer: dict[str, Any], table: str = "contacts") -> dict[str, list[Any]]:
    return answer["changes"][table]
