"""The app sync API with tenants connected to fake CRMs, and WatermelonDB clients against it.

Shared by the reference-client test and the randomized convergence test. The server is the appsync
tests' own (tests/integration/appsync/harness.py: the FastAPI app of ``crmsync serve`` under uvicorn on a
free loopback port, JWTs minted with PyJWT); each tenant's CRM runs are the documented ``crmsync sync
PIPELINE --project-dir <tenant folder>`` the scheduler starts; the clients are real Node (watermelon_driver).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb
import requests
import yaml
from click.testing import CliRunner

from crmsync.cli import cli
from tests.integration.appsync.harness import CONFIG, Server, token
from tests.integration.appsync.watermelon_driver import WatermelonClient


def mint(tenant: str, *, ttl: float = 900, **claims: Any) -> str:
    """A JWT for ``tenant`` signed with the configured HS256 secret; ``claims`` override (``aud=…``)."""
    return token(tenant, exp=int(time.time() + ttl), **claims)


def make_project(root: Path, pipelines: dict[str, dict[str, Any]]) -> Path:
    """A project with the app sync API on (the appsync tests' settings) and only ``pipelines`` (name → YAML changes)."""
    result = CliRunner().invoke(cli, ["init", str(root / "p")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    project = root / "p"
    for path in (project / "pipelines").glob("*.yaml"):
        if path.stem not in pipelines:
            path.unlink()
            continue
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec.update(pipelines[path.stem])
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    with (project / "config" / "config.toml").open("a", encoding="utf-8") as fh:
        fh.write(CONFIG)
    return project


class AppWorld:
    def __init__(self, server: Server, log_dir: Path) -> None:
        self.server, self.log_dir = server, log_dir
        self.clients: list[WatermelonClient] = []

    # -- HTTP as an app ------------------------------------------------------------------------------
    def app(self, method: str, path: str, tenant: str, **kw: Any) -> requests.Response:
        return self.server.call(method, path, tenant, **kw)

    def connect(self, tenant: str, fake: Any, name: str | None = None) -> None:
        """The tenant connects its CRM account through the app API (long-lived token / webhook URL)."""
        crm = fake.app.name
        body = ({"crm": crm, "name": name or crm, "base_url": fake.url, "long_lived_token": "demo-token"}
                if crm == "amocrm" else {"crm": crm, "name": name or crm, "webhook_url": fake.url + "/rest/1/demo/"})
        response = self.app("POST", "/api/sync/connection", tenant, json=body)
        assert response.status_code == 201, response.text

    def client(self, tenant: str, name: str | None = None) -> WatermelonClient:
        client = WatermelonClient(self.server.base, mint(tenant), name=name or f"{tenant}-{len(self.clients)}",
                                  log_dir=self.log_dir)
        self.clients.append(client)
        return client

    # -- the tenant's own project ----------------------------------------------------------------------
    def folder(self, tenant: str) -> Path:
        return self.server.tenant_dir(tenant)

    def crm_sync(self, tenant: str, pipeline: str, *, accept: set[int] | None = None) -> dict[str, Any]:
        """One ``crmsync sync PIPELINE`` of the tenant's project; its ``--json`` document."""
        with self.server.store_taken(tenant):  # as the scheduler's runner: the API lets go of the store first
            result = CliRunner().invoke(cli, ["sync", pipeline, "--json", "--project-dir", str(self.folder(tenant))],
                                        catch_exceptions=False)
        assert result.exit_code in (accept or {0}), f"sync {pipeline} of {tenant}: exit {result.exit_code}\n" \
                                                   f"{result.output}"
        try:
            return json.loads(result.stdout)
        except ValueError:
            return {}

    def sql(self, tenant: str, statement: str, params: list[Any] | None = None) -> list[tuple]:
        """A statement of an SQL client on the tenant's store (which it gets once the API lets go of it)."""
        with self.server.store_taken(tenant), duckdb.connect(str(self.folder(tenant) / "crmsync.duckdb")) as con:
            return con.execute(statement, params or []).fetchall()

    def canonical(self, tenant: str, table: str) -> dict[str, dict[str, Any]]:
        """The tenant's canonical rows by id, JSON columns parsed."""
        with self.server.store_taken(tenant), duckdb.connect(str(self.folder(tenant) / "crmsync.duckdb")) as con:
            cur = con.execute(f"SELECT * FROM canonical.{table}")
            names = [d[0] for d in cur.description]
            parsed = {d[0] for d in cur.description if str(d[1]).upper() == "JSON"}
            return {row[0]: {n: json.loads(v) if n in parsed and isinstance(v, str) else v
                             for n, v in zip(names, row, strict=True)} for row in cur.fetchall()}

    def links(self, tenant: str, entity: str, connection: str) -> dict[str, str]:
        """canonical id → remote id of the live links of one connection."""
        return dict(self.sql(tenant, "SELECT canonical_id, remote_id FROM sync.links WHERE entity = ? AND "
                                     "connection = ? AND remote_deleted_at IS NULL", [entity, connection]))

    def close(self) -> None:
        for client in self.clients:
            client.close()
