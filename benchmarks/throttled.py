"""Scenario 2: pull at the real rate limits (the fakes enforce them) — records/s as a share of the
API's ceiling (benchmarks/ceilings.py), then the same with 5 % injected 429 and 503 answers: the run
completes, canonical holds exactly N contacts (nothing lost, nothing duplicated), no limit error
surfaces. The unthrottled rate for the same N is measured too: where the limit does not bind
(Bitrix24 runs inside its burst), that rate is the ceiling.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks import ceilings
from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project, store_count

# 5 % each, plus one of each for certain: a Bitrix24 read of 10k records is only ~11 requests.
FAULTS = ("429:0.05", "503:0.05", "429:x1", "503:x1")


def _pull(crm: str, n: int, *, rate_limit: bool, faults: tuple[str, ...] = ()) -> dict[str, Any]:
    with FakeProcess(crm, n, rate_limit=rate_limit) as fake, \
            tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        project = connected_project(Path(tmp), fake)
        if rate_limit:
            # A fresh window: connecting made requests in this process, whose pacer state reaches a
            # child only through the state file written at exit, so the pull would not count them.
            fake.rate_limit(True)
        for spec in faults:  # after connecting: the faults are for the pull
            fake.admin("POST", "faults", spec=spec)
        fake.admin("DELETE", "stats")
        report = run_child("benchmarks.steps:crmsync_pull", project=tmp, connection=crm, paced=rate_limit)
        stats = fake.stats()
        rows = store_count(project, "SELECT count(*) FROM canonical.contacts")
        distinct = store_count(project, "SELECT count(DISTINCT remote_id) FROM sync.links WHERE entity = 'contact'")
        limited = fake.admin("GET", "state")["rate_limited"]
    r = report["result"]
    return {"seconds": round(report["seconds"], 2), "records_per_s": round(n / report["seconds"]),
            "requests": stats["total"], "canonical_rows": rows, "distinct_remote_ids": distinct,
            "refused_by_limit": limited, "faults_injected": sum(stats["faults_injected"].values()),
            "client_retries": r["retries"], "paced_wait_s": r["paced_wait"], "timings": r.get("timings", {})}


def run(sizes: list[int]) -> dict[str, Any]:
    """Scenario 2 for each N: a small N shows what a run's fixed costs weigh (start-up, the first
    round's wait, the last round's load and apply after the last page), a large one the steady state."""
    return {"scenario": "throttled pull (real limits)", "records": sizes,
            "rows": [row for n in sizes for row in _rows(n)],
            "formulas": {k: v for k, v in ceilings.FORMULAS.items() if "read" in k or k == "amocrm"}}


def _rows(n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for crm in ("amocrm", "bitrix24"):
        free = _pull(crm, n, rate_limit=False)
        for label, faults in (("limits on", ()), ("limits on + 5% 429/503", FAULTS)):
            f = _pull(crm, n, rate_limit=True, faults=faults)
            if crm == "amocrm":
                ceiling_s = ceilings.amocrm_seconds(n)
            else:
                ceiling_s = ceilings.bitrix24_seconds(ceilings.bitrix24_read_requests(n))
            bound = max(ceiling_s, free["seconds"])  # the limit, or the unthrottled run where it does not bind
            rows.append({
                "records": n, "crm": crm, "run": label, **f,
                "ceiling_records_per_s": round(n / ceiling_s) if ceiling_s else None,
                "ceiling_fraction": ceilings.fraction(f["seconds"], ceiling_s),
                "unthrottled_records_per_s": free["records_per_s"],
                "fraction_of_bound": round(bound / f["seconds"], 3),
                "complete": f["canonical_rows"] == n == f["distinct_remote_ids"]})
    return rows
