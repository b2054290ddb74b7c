"""The demo: the product end to end on the embedded default, against fake CRMs on loopback.

It scaffolds a project (``crmsync-demo/`` by default, reset on every run), starts fake AmoCRM and
Bitrix24 with their real rate limits, connects to both (long-lived token, webhook), and for each:
pulls into one DuckDB file through the shipped connector and mapping specs; edits a record in the
CRM and pulls again (only the change travels); edits canonical rows with SQL (a rename, a new
contact) and pushes them back, reading the CRM to show they arrived; then pushes and pulls once
more to show that nothing echoes.
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
    push: dict[str, dict[str, int]] = field(default_factory=dict)
    in_crm: list[str] = field(default_factory=list)       # what the CRM holds after the push
    quiet: dict[str, int] = field(default_factory=dict)   # writes and changes on the run after
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
    from crmsync.push import run_push
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
            demo = CrmDemo(crm, server.url, first.entities, second.entities)
            renamed = _edit_locally(project, crm)
            progress(f"edited canonical rows with SQL: renamed {renamed!r}, added 'Демо Новый'; pushing")
            demo.push = run_push(project, crm, progress=progress).entities
            demo.in_crm = _names_in_crm(server, crm, [renamed, "Демо Новый"])
            again_push = run_push(project, crm).entities
            again_pull = run_pull(project, crm).entities
            demo.quiet = {"writes": sum(c.get("created", 0) + c.get("updated", 0) for c in again_push.values()),
                          "applied": sum(c["applied"] for c in again_pull.values())}
            demo.requests, demo.limit_errors = server.stats.total, server.app.rate_limited
            out.append(demo)
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


def _edit_locally(project: Project, crm: str) -> str:
    """What a person or an app does with SQL: rename one contact, insert a new one."""
    import uuid

    from crmsync.store import open_store

    with open_store(project.store_path()) as con:
        cid, first, last = con.execute(
            "SELECT c.id, c.first_name, c.last_name FROM canonical.contacts c JOIN sync.links l "
            "ON l.canonical_id = c.id WHERE l.connection = ? AND l.entity = 'contact' AND c.first_name IS NOT NULL "
            "ORDER BY l.remote_id LIMIT 1", [crm]).fetchone()
        renamed = f"{first} (renamed in DuckDB)"
        con.execute("UPDATE canonical.contacts SET first_name = ?, name = ? WHERE id = ?",
                    [renamed, f"{renamed} {last}".strip(), cid])
        con.execute("INSERT INTO canonical.contacts (id, version, name, first_name, last_name, phones, emails) "
                    "VALUES (?, 1, 'Демо Новый', 'Демо', 'Новый', ?, ?)",
                    [str(uuid.uuid4()), json.dumps([{"value": "+79161234567", "type": "mobile"}]),
                     json.dumps([{"value": "demo.new@example.com", "type": "work"}])])
    return renamed


def _names_in_crm(server: Any, crm: str, wanted: list[str]) -> list[str]:
    """Which of ``wanted`` first names the fake CRM now holds (its admin view: no rate limit to spend)."""
    rows = requests.get(f"{server.url}/_fake/records", params={"entity": "contacts"}, timeout=30).json()["records"]
    key = "first_name" if crm == "amocrm" else "NAME"
    names = {row.get(key) for row in rows}
    return [w for w in wanted if w in names or w.split()[0] in names]
