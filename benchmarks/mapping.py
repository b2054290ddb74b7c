"""Scenario: the mapping engine alone — canonical records per second, forward (pull) and inverse (push)."""

from __future__ import annotations

import time
from typing import Any

import requests

from crmsync.fakes import start_fake
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
    out: dict[str, Any] = {"scenario": "mapping engine (AmoCRM)", "records": n}
    with start_fake("amocrm", contacts=n, deals=n, tasks=n, rate_limit=False) as server:
        session = CrmSession.from_connector(connector, Unlimited())
        session.headers["Authorization"] = "Bearer demo-token"
        metadata = fetch_metadata(connector, session, server.url)
        for entity, path in PATHS.items():
            raws = _all(server.url, path)
            mapper = Mapper(load_mapping(root / "mappings" / "amocrm" / f"{entity}.yaml"),
                            build_catalog("amocrm", metadata, entity), KeyResolver(),
                            load_canonical(root).get(entity))
            start = time.perf_counter()
            canon = [mapper.pull(r) for r in raws]
            forward = time.perf_counter() - start
            start = time.perf_counter()
            for c, r in zip(canon, raws, strict=True):
                mapper.push(c, current=r)
            inverse = time.perf_counter() - start
            out[entity] = {"forward_per_second": round(len(raws) / forward),
                           "inverse_per_second": round(len(raws) / inverse)}
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
