"""Scenario 1: unthrottled pull of N AmoCRM contacts into DuckDB — crmsync against the baselines a
data engineer would pick instead, all in the same run against the same fake (limits off).

* ``crmsync``: the real pull (dlt rest_api read + mapping + canonical apply), canonical rows counted.
* ``dlt defaults``: dlt rest_api → DuckDB with merge, as the dlt docs show it (insert_values).
* ``dlt tuned``: the same with jsonl, no compression, nesting 0 (shared/reference/dlt-notes.md).
* ``requests loop``: pages with requests, rows appended to NDJSON, one DuckDB ``read_json`` insert.

Baselines load raw rows only; crmsync also maps them into canonical tables. The fake's listing is
read once before them (:func:`warm`), so that none of them pays for its first rendering.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project, store_count

VARIANTS = ("crmsync", "requests loop", "dlt tuned", "dlt defaults")


DEFAULTS_UP_TO = 10_000  # dlt's defaults took 81 s and 10 GB of RSS for 100k (shared/reference/dlt-notes.md)


def run_sizes(sizes: list[int], *, skip_defaults: bool = False) -> dict[str, Any]:
    """Scenario 1 for each N: one table, a row per (N, variant), ratios within the same N."""
    out: dict[str, Any] = {"scenario": "unthrottled pull (AmoCRM contacts)", "records": sizes, "rows": [],
                           "target": {}, "crmsync_timings": {}}
    for n in sizes:
        one = run(n, skip_defaults=skip_defaults or n > DEFAULTS_UP_TO)
        out["rows"] += one["rows"]
        out["target"][str(n)] = one["target"]
        out["crmsync_timings"][str(n)] = one.get("crmsync_timings", {})
    return out


def run(n: int, *, skip_defaults: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "unthrottled pull (AmoCRM contacts)", "records": n, "rows": []}
    with FakeProcess("amocrm", n) as fake, tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        warm(fake)
        figures: dict[str, dict[str, Any]] = {}
        for name in VARIANTS:
            if name == "dlt defaults" and skip_defaults:
                continue
            root = Path(tmp) / name.replace(" ", "-")
            root.mkdir()
            if name == "crmsync":
                project = connected_project(root, fake)
                report = run_child("benchmarks.steps:crmsync_pull", project=str(root), connection="amocrm",
                                   paced=False)
                rows = store_count(project, "SELECT count(*) FROM canonical.contacts")
                out["crmsync_timings"] = report["result"].get("timings", {})
            elif name == "requests loop":
                report = run_child("benchmarks.steps:requests_loop", url=fake.url, root=str(root))
                rows = report["result"]["rows"]
            else:
                report = run_child("benchmarks.steps:dlt_pull", url=fake.url, root=str(root),
                                   tuned=name == "dlt tuned")
                rows = report["result"]["rows"]
            # its own CPU and its child processes' (crmsync's mapping processes, crmsync.map_process)
            cpu = report["cpu_seconds"] + report.get("children_cpu_seconds", 0.0)
            figures[name] = {"seconds": round(report["seconds"], 2), "records_per_s": round(n / report["seconds"]),
                             "cpu_seconds": round(cpu, 2), "children_cpu_s": report.get("children_cpu_seconds", 0.0),
                             "cpu_ms_per_record": round(1000 * cpu / n, 3),
                             "rows": rows, "peak_rss_mb": report["peak_rss_mb"]}
        ours, ours_cpu = figures["crmsync"]["records_per_s"], figures["crmsync"]["cpu_seconds"]
        for name, f in figures.items():
            f["crmsync_vs_this"] = round(ours / f["records_per_s"], 2)
            f["cpu_crmsync_over_this"] = round(ours_cpu / f["cpu_seconds"], 2) if f["cpu_seconds"] else None
            out["rows"].append({"records": n, "variant": name, **f})
    out["target"] = {"crmsync records/s >= 20,000": ours >= 20_000,
                     "crmsync >= dlt tuned": ours >= figures["dlt tuned"]["records_per_s"]}
    return out


def warm(fake: FakeProcess) -> None:
    """Read the listing once as each variant will (crmsync asks ``with=leads``, the baselines nothing),
    so the fake answers every variant from records it has already serialised: the fake's rendering,
    on the same 2 cores, is then not part of whichever variant happens to run first."""
    for params in ({"with": "leads"}, {}):
        page = 1
        while True:
            answer = fake.http.get(f"{fake.url}/api/v4/contacts", params={"page": page, "limit": 250, **params},
                                   headers={"Authorization": "Bearer demo-token"}, timeout=120)
            answer.raise_for_status()
            if answer.status_code == 204:
                break
            page += 1
