"""A served project with the app sync API on, tenants connected to fake CRMs, and WatermelonDB clients.

Shared by the reference-client test and the randomized convergence test: real ``crmsync serve`` on a
free loopback port, JWTs minted here with PyJWT (HS256 with the secret the server is given), each
tenant's CRM runs as the documented ``crmsync sync PIPELINE --project-dir <tenant folder>`` (in this
process, so no interpreter start per run), and the real Node client (watermelon_driver).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import jwt
import requests
import yaml
from click.testing import CliRunner

from crmsync.appsync.tenants import folder_key
from crmsync.cli import cli
from tests.integration.appsync.watermelon_driver import WatermelonClient
from tests.integration.serve.served import Served, start_serve

SECRET = "watermelon-test-secret-of-at-least-32-bytes"
ISSUER, AUDIENCE = "https://id.example.test/", "crmsync-app"
ACCEPTED_EXIT = {0, 3, 5}  # 3: a CRM kept failing (faults on purpose); 5: records set aside or held


def mint(tenant: str, *, ttl: float = 900, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": tenant, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + int(ttl), **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


def make_app_project(tmp_path: Path, *, pipelines: dict[str, dict[str, Any]]) -> Path:
    """A project whose app sync API is on, keeping only ``pipelines`` (name → changes to its YAML)."""
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "p")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    project = tmp_path / "p"
    for path in (project / "pipelines").glob("*.yaml"):
        if path.stem not in pipelines:
            path.unlink()
            continue
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec.update(pipelines[path.stem])
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with (project / "config" / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'\n[app_sync]\nenabled = true\n\n[app_sync.jwt]\nalgorithms = ["HS256"]\n'
                 f'issuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n')
    return project


class AppWorld:
    def __init__(self, project: Path, served: Served, log_dir: Path) -> None:
        self.project, self.served, self.log_dir = project, served, log_dir
        self.clients: list[WatermelonClient] = []

    # -- HTTP as an app ------------------------------------------------------------------------------
    def app(self, method: str, path: str, tenant: str, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {mint(tenant)}"}
        return requests.request(method, self.served.base + path, headers=headers, timeout=60, **kw)

    def connect(self, tenant: str, fake: Any, name: str | None = None) -> None:
        """The tenant connects its CRM account through the app API (long-lived token / webhook URL)."""
        crm = fake.app.name
        body = ({"crm": crm, "name": name or crm, "base_url": fake.url, "long_lived_token": "demo-token"}
                if crm == "amocrm" else {"crm": crm, "name": name or crm, "webhook_url": fake.url + "/rest/1/demo/"})
        response = self.app("POST", "/api/sync/connection", tenant, json=body)
        assert response.status_code == 201, response.text

    def client(self, tenant: str, name: str | None = None) -> WatermelonClient:
        client = WatermelonClient(self.served.base, mint(tenant), name=name or f"{tenant}-{len(self.clients)}",
                                  log_dir=self.log_dir)
        self.clients.append(client)
        return client

    # -- the tenant's own project ----------------------------------------------------------------------
    def folder(self, tenant: str) -> Path:
        return self.project / ".crmsync" / "tenants" / folder_key(tenant)

    def crm_sync(self, tenant: str, pipeline: str, *, accept: set[int] | None = None) -> dict[str, Any]:
        """One ``crmsync sync PIPELINE`` of the tenant's project; its ``--json`` document."""
        result = CliRunner().invoke(cli, ["sync", pipeline, "--json", "--project-dir", str(self.folder(tenant))],
                                    catch_exceptions=False)
        assert result.exit_code in (accept or {0}), f"sync {pipeline} of {tenant}: exit {result.exit_code}\n" \
                                                   f"{result.output}"
        try:
            return json.loads(result.stdout)
        except ValueError:
            return {}

    def sql(self, tenant: str, statement: str, params: list[Any] | None = None) -> list[tuple]:
        con = duckdb.connect(str(self.folder(tenant) / "crmsync.duckdb"), read_only=True)
        try:
            return con.execute(statement, params or []).fetchall()
        finally:
            con.close()

    def canonical(self, tenant: str, table: str, columns: str = "*") -> dict[str, dict[str, Any]]:
        con = duckdb.connect(str(self.folder(tenant) / "crmsync.duckdb"), read_only=True)
        try:
            cur = con.execute(f"SELECT {columns} FROM canonical.{table}")
            names = [d[0] for d in cur.description]
            return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}
        finally:
            con.close()

    def links(self, tenant: str, entity: str, connection: str) -> dict[str, str]:
        """canonical id → remote id of the live links of one connection."""
        return dict(self.sql(tenant, "SELECT canonical_id, remote_id FROM sync.links WHERE entity = ? AND "
                                     "connection = ? AND remote_deleted_at IS NULL", [entity, connection]))

    def close(self) -> None:
        for client in self.clients:
            client.close()


def start_world(tmp_path: Path, project: Path, serve: Any) -> AppWorld:
    served = serve(project, env={"CRMSYNC_APP_JWT_SECRET": SECRET})
    logs = tmp_path / "client-logs"
    logs.mkdir(exist_ok=True)
    return AppWorld(project, served, logs)
