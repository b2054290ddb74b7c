"""The demo: the product end to end on the embedded default, against fake CRMs on loopback.

It scaffolds a project (``crmsync-demo/`` by default, reset on every run), starts fake AmoCRM,
Bitrix24 and HubSpot with their real rate limits, connects to each (long-lived token, webhook,
private-app token), and for each
runs the whole two-way loop through ``crmsync sync``: a first sync into one DuckDB file; then edits
on both sides — contacts changed in the CRM, a contact renamed and one added with SQL, and one
deal's amount changed on both sides (the shipped pipelines make ``deal.amount`` a manual conflict);
a sync that merges it all and holds the amount back; the conflict resolved for the local value; a
sync that sends it; and one more sync that has nothing to do. The fakes serve the same people, so
the store ends with one canonical contact per person, linked to a record in every CRM.
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

# Each fake's own names: entities for its admin endpoints, and where a stored row keeps a first name and an amount.
NATIVE = {"amocrm": {"contact": "contacts", "deal": "leads", "first_name": "first_name", "amount": "price"},
          "bitrix24": {"contact": "contact", "deal": "deals", "first_name": "NAME", "amount": "OPPORTUNITY"},
          "hubspot": {"contact": "contacts", "deal": "deals", "first_name": "props.firstname",
                      "amount": "props.amount"}}
CRMS = ("amocrm", "bitrix24", "hubspot")


@dataclass
class CrmDemo:
    crm: str
    url: str
    first_sync: dict[str, dict[str, int]]
    edit_sync: dict[str, dict[str, int]] = field(default_factory=dict)     # both sides edited
    conflict: dict[str, Any] = field(default_factory=dict)                 # the manual one, and its resolution
    resolve_sync: dict[str, dict[str, int]] = field(default_factory=dict)  # sends the decision
    in_crm: list[str] = field(default_factory=list)        # what the CRM holds at the end
    quiet: dict[str, int] = field(default_factory=dict)    # writes and changes on the sync after
    samples: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    limit_errors: int = 0


@dataclass
class DemoResult:
    project: str
    store: str
    crms: list[CrmDemo]
    canonical_rows: dict[str, int]
    # the same people in every CRM: canonical contacts linked to a record in each of them, and one of them
    in_every_crm: dict[str, Any] = field(default_factory=dict)
    serve: dict[str, str] = field(default_factory=dict)  # the command that serves this project, a key for its page

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_demo(project_dir: Path, *, seed: int = 42, contacts: int = 60, deals: int = 40, tasks: int = 50,
             progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    from crmsync.conflict_review import list_conflicts, resolve
    from crmsync.connections.connect import ConnectOptions, connect
    from crmsync.scaffold import init_project
    from crmsync.store import open_store
    from crmsync.sync import run_sync

    root = Path(project_dir).expanduser().resolve()
    for leftover in ("crmsync.duckdb", "crmsync.duckdb.wal", "crmsync.duckdb.tmp", ".crmsync"):
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
    for crm in CRMS:
        native = NATIVE[crm]
        with start_fake(crm, **sizes) as server:
            progress(f"fake {crm} listening on {server.url} (real rate limits)")
            if crm == "bitrix24":
                opts = ConnectOptions(crm=crm, name=crm, webhook_url=server.url + "/rest/1/demo/")
            else:  # the fakes' token (a long-lived or private-app token, by connector)
                opts = ConnectOptions(crm=crm, name=crm, base_url=server.url, long_lived_token="demo-token")
            connect(project, opts)
            progress(f"connected {crm}; first sync")
            demo = CrmDemo(crm, server.url, run_sync(project, crm, progress=progress).entities)
            edited = requests.post(server.url + "/_fake/touch", json={"entity": native["contact"], "count": 2},
                                   timeout=10).json()["touched"]
            renamed = _edit_locally(project, crm, avoid=[str(r.get("id", r.get("ID"))) for r in edited])
            deal = _edit_amount_both_sides(project, crm, server)
            progress(f"edited {len(edited)} contacts in {crm}; with SQL renamed {renamed!r} and added 'Демо "
                     f"Новый'; deal {deal['remote_id']} amount: {deal['local']} here, {deal['crm']} in {crm}; syncing")
            demo.edit_sync = run_sync(project, crm, progress=progress).entities
            pending = [c for c in list_conflicts(project).conflicts if c["entity"] == "deal"]
            if pending:
                resolve(project, ids=[pending[0]["conflict_id"]], take="local")
                deal["resolved"] = "local"
                progress(f"conflict {pending[0]['conflict_id']} on deal.amount resolved: keep {deal['local']}; "
                         "syncing")
            demo.conflict = deal
            demo.resolve_sync = run_sync(project, crm, progress=progress).entities
            demo.in_crm = _in_crm(server, crm, [renamed, "Демо Новый"], deal)
            again = run_sync(project, crm).entities
            demo.quiet = {"writes": sum(c["created"] + c["updated"] + c["deleted"] for c in again.values()),
                          "applied": sum(c["applied"] for c in again.values())}
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
        everywhere = con.execute(
            "SELECT c.id, any_value(c.name), any_value(c.emails) FROM canonical.contacts c JOIN sync.links l "
            "ON l.canonical_id = c.id AND l.entity = 'contact' WHERE c.deleted_at IS NULL GROUP BY c.id "
            "HAVING count(DISTINCT l.connection) = ? "
            "ORDER BY coalesce(json_array_length(any_value(c.emails)), 0) = 0, c.id", [len(out)]).fetchall()
    in_every_crm: dict[str, Any] = {"contacts": len(everywhere)}
    if everywhere:
        cid, name, emails = everywhere[0]
        in_every_crm["sample"] = {"id": cid, "name": name, "emails": [e["value"] for e in json.loads(emails or "[]")]}
    progress(f"{len(everywhere)} contacts are the same person in all {len(out)} CRMs: one canonical row each")
    _drop_unconnected_pipelines(root, {demo.crm for demo in out}, progress)
    from crmsync.serve.keys import create_key

    key = create_key(project, "demo-page", "operate")["token"]  # the project is reset on every run: no clash
    command = f"crmsync serve --project-dir {root} --with-fakes"
    return DemoResult(str(root), str(store), out, counts, in_every_crm,
                      {"command": command, "page": "http://127.0.0.1:8710/", "api_key": key})


def _drop_unconnected_pipelines(root: Path, connected: set[str], progress: Callable[[str], None]) -> None:
    """The scaffold ships a pipeline for every connector; the demo connects some. The others leave its
    project, so that `crmsync serve` on it schedules only runs that can succeed."""
    import yaml

    for path in sorted((root / "pipelines").glob("*.yaml")):
        connection = (yaml.safe_load(path.read_text()) or {}).get("connection")
        if connection not in connected:
            path.unlink()
            progress(f"pipelines/{path.name} left out of the demo project: it has no connection {connection!r}")


def _edit_amount_both_sides(project: Project, crm: str, server: Any) -> dict[str, Any]:
    """One deal's amount changed here (SQL) and in the CRM (its API) before the next sync."""
    from crmsync.store import open_store

    with open_store(project.store_path()) as con:
        cid, remote_id, amount = con.execute(
            "SELECT c.id, l.remote_id, coalesce(c.amount, 0) FROM canonical.deals c JOIN sync.links l "
            "ON l.canonical_id = c.id WHERE l.connection = ? AND l.entity = 'deal' AND l.base IS NOT NULL "
            "ORDER BY l.remote_id LIMIT 1", [crm]).fetchone()
        local, theirs = int(amount) + 500, int(amount) + 100
        con.execute("UPDATE canonical.deals SET amount = ? WHERE id = ?", [local, cid])
    from crmsync.connections.session import authorized_session

    session = authorized_session(project, crm)  # paced like crmsync's own calls: no 429 for the demo's edit
    if crm == "amocrm":
        session.patch(server.url + "/api/v4/leads", json=[{"id": int(remote_id), "price": theirs}]).raise_for_status()
    elif crm == "hubspot":
        session.patch(f"{server.url}/crm/v3/objects/deals/{remote_id}",
                      json={"properties": {"amount": str(theirs)}}).raise_for_status()
    else:
        session.post(server.url + "/rest/1/demo/crm.deal.update",
                     json={"id": remote_id, "fields": {"OPPORTUNITY": theirs}}).raise_for_status()
    return {"field": "deal.amount", "canonical_id": cid, "remote_id": remote_id, "local": local, "crm": theirs,
            "resolved": None}


def _edit_locally(project: Project, crm: str, avoid: list[str]) -> str:
    """What a person or an app does with SQL: rename one contact (not one the CRM side edits), insert one."""
    import uuid

    from crmsync.store import open_store

    with open_store(project.store_path()) as con:
        cid, first, last = con.execute(
            "SELECT c.id, c.first_name, c.last_name FROM canonical.contacts c JOIN sync.links l "
            "ON l.canonical_id = c.id WHERE l.connection = ? AND l.entity = 'contact' AND c.first_name IS NOT NULL "
            "AND l.remote_id NOT IN (SELECT unnest(?)) ORDER BY l.remote_id LIMIT 1", [crm, avoid or [""]]).fetchone()
        renamed = f"{first} (renamed in DuckDB)"
        con.execute("UPDATE canonical.contacts SET first_name = ?, name = ? WHERE id = ?",
                    [renamed, f"{renamed} {last}".strip(), cid])
        con.execute("INSERT INTO canonical.contacts (id, version, name, first_name, last_name, phones, emails) "
                    "VALUES (?, 1, 'Демо Новый', 'Демо', 'Новый', ?, ?)",
                    [str(uuid.uuid4()), json.dumps([{"value": "+79161234567", "type": "mobile"}]),
                     json.dumps([{"value": f"demo.new.{crm}@example.com", "type": "work"}])])
    return renamed


def _in_crm(server: Any, crm: str, names: list[str], deal: dict[str, Any]) -> list[str]:
    """What the fake CRM now holds of our edits (its admin view: no rate limit to spend)."""
    native = NATIVE[crm]
    rows = requests.get(f"{server.url}/_fake/records", params={"entity": "contacts"}, timeout=30).json()["records"]
    held = {_at(row, native["first_name"]) for row in rows}
    found = [n for n in names if n in held or n.split()[0] in held]
    deals = requests.get(f"{server.url}/_fake/records", params={"entity": native["deal"]}, timeout=30).json()
    for row in deals["records"]:
        if str(row.get("id", row.get("ID"))) == str(deal["remote_id"]) and \
                float(_at(row, native["amount"]) or 0) == deal["local"]:
            found.append(f"deal {deal['remote_id']} amount {deal['local']}")
    return found


def _at(row: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row
