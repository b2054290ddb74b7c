"""Scenario: unthrottled pull of N AmoCRM contacts into DuckDB — crmsync against the baselines a
data engineer would pick instead, all measured in the same run against the same fake.

* ``crmsync``: the real pull (dlt rest_api read + mapping + canonical apply).
* ``dlt defaults``: dlt rest_api → DuckDB with merge, as the dlt docs show it (insert_values).
* ``dlt tuned``: the same with jsonl, no compression, nesting 0 (shared/reference/dlt-notes.md).
* ``requests loop``: pages with requests, rows appended to NDJSON, one DuckDB ``read_json`` insert.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from crmsync.fakes import start_fake
from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import load_canonical, load_mapping
from crmsync.project import Project, builtin_project_dir
from crmsync.pull import pull_connection
from crmsync.specs.yamlload import load_yaml


def _project(root: Path) -> Project:
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, root / folder)
    return Project(root)


def crmsync_pull(url: str, root: Path) -> float:
    project = _project(root)
    connector = load_yaml(project.connectors_dir / "amocrm.yaml")
    session = CrmSession.from_connector(connector, Unlimited())
    session.headers["Authorization"] = "Bearer demo-token"
    start = time.perf_counter()
    pull_connection(project, pipeline="amocrm", connection="amocrm", crm="amocrm", connector=connector,
                    mappings={"contact": load_mapping(project.mappings_dir / "amocrm" / "contact.yaml")},
                    canonical=load_canonical(project.root), entities=["contact"], session=session, base_url=url,
                    store="crmsync.duckdb")
    return time.perf_counter() - start


def dlt_pull(url: str, root: Path, tuned: bool) -> float:
    import dlt
    from dlt.sources.rest_api import rest_api_source

    source = rest_api_source({
        "client": {"base_url": url + "/api/v4/", "auth": {"type": "bearer", "token": "demo-token"},
                   "paginator": {"type": "page_number", "base_page": 1, "total_path": None}},
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": [{"name": "contacts", "endpoint": {
            "path": "contacts", "params": {"limit": 250}, "data_selector": "_embedded.contacts",
            "response_actions": [{"status_code": 204, "action": "ignore"}]}}],
    }, name="baseline")
    if tuned:
        source.max_table_nesting = 0
    pipeline = dlt.pipeline(pipeline_name=f"bench_{'tuned' if tuned else 'default'}", pipelines_dir=str(root / "dlt"),
                            destination=dlt.destinations.duckdb(str(root / "baseline.duckdb")), dataset_name="bench")
    start = time.perf_counter()
    pipeline.run(source, **({"loader_file_format": "jsonl"} if tuned else {}))
    return time.perf_counter() - start


def requests_loop(url: str, root: Path) -> float:
    import duckdb

    start = time.perf_counter()
    path = root / "rows.jsonl"
    with requests.Session() as http, path.open("w", encoding="utf-8") as out:
        http.headers["Authorization"] = "Bearer demo-token"
        page = 1
        while True:
            r = http.get(f"{url}/api/v4/contacts", params={"page": page, "limit": 250})
            if r.status_code == 204:
                break
            for row in r.json()["_embedded"]["contacts"]:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            page += 1
    con = duckdb.connect(str(root / "loop.duckdb"))
    con.execute(f"CREATE OR REPLACE TABLE contacts AS SELECT * FROM read_json('{path}', format='newline_delimited')")
    con.close()
    return time.perf_counter() - start


def run(n: int) -> dict[str, Any]:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    results: dict[str, Any] = {"scenario": "unthrottled pull", "records": n}
    with start_fake("amocrm", contacts=n, deals=0, tasks=0, rate_limit=False) as server:
        for name, fn in (("crmsync", lambda r: crmsync_pull(server.url, r)),
                         ("requests loop", lambda r: requests_loop(server.url, r)),
                         ("dlt tuned", lambda r: dlt_pull(server.url, r, tuned=True)),
                         ("dlt defaults", lambda r: dlt_pull(server.url, r, tuned=False))):
            with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
                seconds = fn(Path(tmp))
            results[name] = {"seconds": round(seconds, 3), "records_per_second": round(n / seconds)}
    base = results["crmsync"]["records_per_second"]
    for name in ("requests loop", "dlt tuned", "dlt defaults"):
        results[name]["crmsync_ratio"] = round(base / results[name]["records_per_second"], 2)
    return results
