"""Scenario 5: peak RSS of a pull (the client process only) for growing N — it must stay flat.

Each pull runs in a fresh child process (benchmarks.child reports its own ``ru_maxrss``) against a
fake in another process, whose eagerly generated world is therefore not counted. Limits are off.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project, store_count


def run(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "memory: peak RSS of a pull", "records": sizes, "rows": []}
    for n in sizes:
        with FakeProcess("amocrm", n) as fake, tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
            project = connected_project(Path(tmp), fake)
            report = run_child("benchmarks.steps:crmsync_pull", project=tmp, connection="amocrm", paced=False)
            rows = store_count(project, "SELECT count(*) FROM canonical.contacts")
        out["rows"].append({"records": n, "peak_rss_mb": report["peak_rss_mb"], "seconds": round(report["seconds"], 2),
                            "records_per_s": round(n / report["seconds"]), "canonical_rows": rows})
    base = out["rows"][0]["peak_rss_mb"]
    for row in out["rows"]:
        row["vs_smallest"] = round(row["peak_rss_mb"] / base, 2)
    out["target"] = "peak RSS at the largest N within 1.5x of the smallest"
    out["target_met"] = out["rows"][-1]["vs_smallest"] <= 1.5
    return out
