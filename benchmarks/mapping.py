"""Scenario 6: the mapping engine alone — canonical records per second, forward (pull) and inverse (push).

Raw records come from the fake AmoCRM (in its own process) first; only the mapping is timed.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from benchmarks.common import FakeProcess
from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import KeyResolver, Mapper, build_catalog, load_canonical, load_mapping
from crmsync.project import builtin_project_dir
from crmsync.read.metadata import fetch_metadata
from crmsync.specs.yamlload import load_yaml

PATHS = {"contact": "contacts", "deal": "leads", "task": "tasks"}


def run(n: int) -> dict[str, Any]:
    root = builtin_project_dir()
    connector = load_yaml(root / "connectors" / "amocrm.yaml")
    out: dict[str, Any] = {"scenario": "mapping engine alone (AmoCRM)", "records": n, "rows": []}
    with FakeProcess("amocrm", n, deals=n, tasks=n) as fake:
        session = CrmSession.from_connector(connector, Unlimited())
        session.headers["Authorization"] = "Bearer demo-token"
        metadata = fetch_metadata(connector, session, fake.url)
        raws = {entity: _all(fake.url, path) for entity, path in PATHS.items()}
    canonical = load_canonical(root)
    for entity, rows in raws.items():
        mapper = Mapper(load_mapping(root / "mappings" / "amocrm" / f"{entity}.yaml"),
                        build_catalog("amocrm", metadata, entity), KeyResolver(), canonical.get(entity))
        start = time.perf_counter()
        canon = [mapper.pull(r) for r in rows]
        forward = time.perf_counter() - start
        start = time.perf_counter()
        for c, r in zip(canon, rows, strict=True):
            mapper.push(c, current=r)
        inverse = time.perf_counter() - start
        out["rows"].append({"entity": entity, "records": len(rows), "forward_per_s": round(len(rows) / forward),
                            "inverse_per_s": round(len(rows) / inverse)})
    return out


def _all(url: str, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with requests.Session() as http:
        http.headers["Authorization"] = "Bearer demo-token"
        page = 1
        while True:
            r = http.get(f"{url}/api/v4/{path}", params={"page": page, "limit": 250, "with": "contacts"})
            if r.status_code == 204:
                return rows
            rows += r.json()["_embedded"][path]
            page += 1
