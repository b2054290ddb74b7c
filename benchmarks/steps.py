"""The measured steps, each run by :mod:`benchmarks.child` in a process of its own.

Every step takes plain JSON-able arguments and returns a JSON-able dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from benchmarks.common import quiet_dlt, session_for
from crmsync.project import Project


def crmsync_pull(project: str, connection: str, paced: bool, entities: list[str] | None = None) -> dict[str, Any]:
    """``crmsync pull`` as the library runs it; ``paced=False`` against a fake whose limits are off."""
    from crmsync.pull import run_pull

    proj = Project.at(project)
    session = session_for(proj, connection, paced=paced)
    result = run_pull(proj, connection, entities=entities or ["contact"], session=session)
    return {"entities": result.entities, "requests": session.stats.requests, "retries": session.stats.retries,
            "throttled": session.stats.throttled, "paced_wait": round(session.pacer.waited, 3),
            "timings": result.timings}


def crmsync_pull_phases(project: str, connection: str) -> dict[str, Any]:
    """:func:`crmsync_pull` (unpaced) with the peak RSS of each phase (:mod:`benchmarks.phases`)."""
    from benchmarks.phases import PhaseSampler

    with PhaseSampler() as sampler:
        result = crmsync_pull(project, connection, paced=False)
    return {**result, "phase_peaks_mb": sampler.peaks}


def crmsync_push(project: str, connection: str, paced: bool, entities: list[str] | None = None) -> dict[str, Any]:
    """Also ``before_first_write``: seconds from the step's start to the first write request (process
    set-up, spec loading, metadata, planning), so the sending itself can be told from the fixed costs."""
    import time

    from crmsync.push import run_push

    started = time.perf_counter()
    first_write: list[float] = []
    timeline: list[list[Any]] = []

    def note_write(response: requests.Response, **_: Any) -> requests.Response:
        request = response.request
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        writes = request.method in ("POST", "PATCH") and "/rest/" not in (request.url or "") or \
            (request.url or "").endswith("/batch") and any(m in body for m in (".add?", ".update?", ".delete?"))
        end = time.perf_counter()
        if writes and not first_write:
            first_write.append(end - response.elapsed.total_seconds())
        # Every request's start and end (seconds from the step's start): the gaps between them are
        # where a push at the rate limit loses time to its own work (benchmarks/push.py shows them).
        path = (request.url or "").split("?", 1)[0].rsplit("/", 1)[-1]
        timeline.append([round(end - response.elapsed.total_seconds() - started, 4), round(end - started, 4),
                         request.method, path])
        return response

    proj = Project.at(project)
    session = session_for(proj, connection, paced=paced)
    session.hooks["response"].append(note_write)
    result = run_push(proj, connection, entities=entities or ["contact"], session=session)
    return {"entities": result.entities, "requests": session.stats.requests, "retries": session.stats.retries,
            "throttled": session.stats.throttled, "paced_wait": round(session.pacer.waited, 3),
            "before_first_write": round(first_write[0] - started, 3) if first_write else None,
            "timeline": timeline}


def dlt_pull(url: str, root: str, tuned: bool) -> dict[str, Any]:
    """Plain dlt rest_api → DuckDB with merge, no mapping: as the dlt docs show it, or tuned per our dlt notes."""
    import os

    quiet_dlt()
    if tuned:
        os.environ.update({"DATA_WRITER__DISABLE_COMPRESSION": "true", "LOAD__DELETE_COMPLETED_JOBS": "true"})
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
    pipeline = dlt.pipeline(pipeline_name="bench", pipelines_dir=str(Path(root) / "dlt"),
                            destination=dlt.destinations.duckdb(str(Path(root) / "baseline.duckdb")),
                            dataset_name="bench")
    pipeline.run(source, **({"loader_file_format": "jsonl"} if tuned else {}))
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM contacts")[0][0]
    return {"rows": rows}


def requests_loop(url: str, root: str) -> dict[str, Any]:
    """What a data engineer writes by hand: page with requests, append NDJSON, one DuckDB insert."""
    import duckdb

    path = Path(root) / "rows.jsonl"
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
    con = duckdb.connect(str(Path(root) / "loop.duckdb"))
    con.execute(f"CREATE OR REPLACE TABLE contacts AS SELECT * FROM read_json('{path}', format='newline_delimited')")
    rows = con.execute("SELECT count(*) FROM contacts").fetchone()[0]
    con.close()
    return {"rows": rows}


def crmsync_remap(project: str, pipeline: str, columnar: str | None = None) -> dict[str, Any]:
    """``crmsync remap`` as the library runs it: no CRM (the fake may be gone). ``columnar``: the
    ``CRMSYNC_COLUMNAR`` setting of this run (None: the environment's)."""
    import os

    from crmsync.remap import run_remap

    if columnar is not None:
        os.environ["CRMSYNC_COLUMNAR"] = columnar

    result = run_remap(Project.at(project), pipeline, entities=["contact"])
    return {"entities": result.entities, "seconds": result.seconds}
