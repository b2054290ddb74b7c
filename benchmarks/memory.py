"""Scenario 5: peak RSS of a pull (the client process only) for growing N — it must stay flat.

Each pull runs in a fresh child process (benchmarks.child reports its own ``ru_maxrss``) against a
fake in another process, whose eagerly generated world is therefore not counted. Limits are off.
The ``extract_mb`` … ``apply_mb`` columns are each phase's sampled peak (:mod:`benchmarks.phases`);
``other_mb``: the rest of the run (the probe, the metadata, the last commit).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project, store_count
from benchmarks.phases import PHASE_NAMES


def run(sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "memory: peak RSS of a pull", "records": sizes, "rows": []}
    for n in sizes:
        with FakeProcess("amocrm", n) as fake, tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
            project = connected_project(Path(tmp), fake)
            report = run_child("benchmarks.steps:crmsync_pull_phases", project=tmp, connection="amocrm")
            rows = store_count(project, "SELECT count(*) FROM canonical.contacts")
        phases = report["result"]["phase_peaks_mb"]
        out["rows"].append({"records": n, "peak_rss_mb": report["peak_rss_mb"], "seconds": round(report["seconds"], 2),
                            "records_per_s": round(n / report["seconds"]), "canonical_rows": rows,
                            **{f"{phase}_mb": phases.get(phase) for phase in PHASE_NAMES}})
    base = out["rows"][0]["peak_rss_mb"]
    for row in out["rows"]:
        row["vs_smallest"] = round(row["peak_rss_mb"] / base, 2)
    out["target"] = "peak RSS at the largest N within 1.5x of the smallest"
    out["target_met"] = out["rows"][-1]["vs_smallest"] <= 1.5
    return out
