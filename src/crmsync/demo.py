"""The demo: the product end to end on the embedded default, against fake CRMs on loopback.

It scaffolds a project (``crmsync-demo/`` by default, reset on every run), starts fake AmoCRM and
Bitrix24 with their real rate limits, connects to both (long-lived token, webhook), pulls both into
one DuckDB file through the shipped connector and mapping specs, shows what landed in the canonical
tables, edits a record on the CRM side and pulls again to show that only the change travels.
Write-back (push) joins the demo with the two-way sync milestone.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests

from crmsync.fakes import start_fake
from crmsync.project import Project

NATIVE_CONTACTS = {"amocrm": "contacts", "bitrix24": "contact"}


@dataclass
class CrmDemo:
    crm: str
    url: str
    first_pull: dict[str, dict[str, int]]
    second_pull: dict[str, dict[str, int]]
    samples: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    limit_errors: int = 0


@dataclass
class DemoResult:
    project: str
    store: str
    crms: list[CrmDemo]
    canonical_rows: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_demo(project_dir: Path, *, seed: int = 42, contacts: int = 60, deals: int = 40, tasks: int = 50,
             progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    from crmsync.connections.connect import ConnectOptions, connect
    from crmsync.pull import run_pull
    from crmsync.scaffold import init_project
    from crmsync.store import open_store

    root = Path(project_dir).expanduser().resolve()
    for leftover in ("crmsync.duckdb", "crmsync.duckdb.wal", ".crmsync"):
        target = root / leftover
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    init_project(root, force=True)
    project = Project.at(root)
    progress(f"project {root}")
    sizes = {"seed": seed, "contacts": contacts, "deals": deals, "tasks": tasks}
    out = []
    for crm in ("amocrm", "bitrix24"):
        with start_fake(crm, **sizes) as server:
            progress(f"fake {crm} listening on {server.url} (real rate limits)")
            if crm == "amocrm":
                opts = ConnectOptions(crm=crm, name=crm, base_url=server.url, long_lived_token="demo-token")
            else:
                opts = ConnectOptions(crm=crm, name=crm, webhook_url=server.url + "/rest/1/demo/")
            connect(project, opts)
            progress(f"connected {crm}; pulling")
            first = run_pull(project, crm, progress=progress)
            edited = requests.post(server.url + "/_fake/touch", json={"entity": NATIVE_CONTACTS[crm], "count": 2},
                                   timeout=10).json()["touched"]
            progress(f"edited {len(edited)} contacts in {crm}; pulling again")
            second = run_pull(project, crm, progress=progress)
            out.append(CrmDemo(crm, server.url, first.entities, second.entities, requests=server.stats.total,
                               limit_errors=server.app.rate_limited))
        progress(f"fake {crm} stopped")
    store = project.store_path()
    with open_store(store, read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM canonical.{t}").fetchone()[0]
                  for t in ("contacts", "deals", "tasks")}
        for demo in out:
            rows = con.execute(
                "SELECT c.name, c.phones, c.emails, c.company, c.version FROM canonical.contacts c "
                "JOIN sync.links l ON l.canonical_id = c.id WHERE l.connection = ? AND l.entity = 'contact' "
                "ORDER BY c.version DESC, c.name LIMIT 3", [demo.crm]).fetchall()
            demo.samples = [{"name": r[0], "phones": [p["value"] for p in json.loads(r[1] or "[]")],
                             "emails": [e["value"] for e in json.loads(r[2] or "[]")], "company": r[3],
                             "version": r[4]} for r in rows]
    return DemoResult(str(root), str(store), out, counts)
