"""Scenario 3: push at the real rate limits — updates, then creates, per second as a share of each
API's write ceiling (AmoCRM arrays of 250 at 7 req/s; Bitrix24 ``batch`` of 50 under its bucket).

crmsync reads every written batch back (one extra request per batch) so the next pull sees its own
writes as agreed, not as changes (no echo). That is a design trade-off, so two ceilings are given:
writes only (what the API allows) and writes + read-back (the best this design can do), and the
requests per written record as the fake counted them. Each phase starts with the limiter fresh.

Each phase is one process, so its time includes what any run pays before its first write (imports,
loading the specs, the CRM's metadata, planning); ``sending_s`` is the rest, from the first write
request to the end, and ``sending_fraction_*`` compares that part alone with the ceilings.
"""

from __future__ import annotations

import json
import math
import tempfile
import uuid
from pathlib import Path
from typing import Any

from benchmarks import ceilings
from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project

BATCH = {"amocrm": 250, "bitrix24": 50}


def _sql(project: Any, statement: str, rows: list[list[Any]] | None = None) -> None:
    import duckdb

    con = duckdb.connect(str(project.store_path()))
    try:
        con.executemany(statement, rows) if rows else con.execute(statement)
    finally:
        con.close()


def _ceiling_seconds(crm: str, records: int, read_back: bool) -> float:
    requests = math.ceil(records / BATCH[crm]) * (2 if read_back else 1)
    if crm == "amocrm":
        return requests / ceilings.AMO_RPS
    return ceilings.bitrix24_seconds(requests)


def _phase(fake: FakeProcess, project: Any, crm: str, kind: str, n: int) -> dict[str, Any]:
    fake.rate_limit(True)  # fresh window / empty bucket, statistics zeroed
    # crmsync carries its pacer's view of the bucket from one process to the next; the fake's bucket
    # was just emptied, so that view must go too, or a phase waits for a bucket that is not full.
    for state in (Path(project.root) / ".crmsync" / "pacing").glob("*.json"):
        state.unlink()
    report = run_child("benchmarks.steps:crmsync_push", project=str(project.root), connection=crm, paced=True)
    stats = fake.stats()
    fake.rate_limit(False)
    done = report["result"]["entities"]["contact"]
    written = done.get("created" if kind == "create" else "updated", 0)
    row: dict[str, Any] = {"crm": crm, "kind": kind, "records": n, "written": written,
                           "seconds": round(report["seconds"], 2), "cpu_seconds": report.get("cpu_seconds"),
                           "records_per_s": round(written / report["seconds"]),
                           "requests": stats["total"],
                           "requests_per_record": round(stats["total"] / max(written, 1), 4),
                           "by_route": stats["by_route"], "refused_by_limit": report["result"]["throttled"]}
    # The whole step pays for a process's set-up (imports, loading the specs, the CRM's metadata,
    # planning) before its first write; "sending" is the rest, from the first write to the end.
    before = report["result"].get("before_first_write")
    sending = report["seconds"] - before if before is not None else None
    row["before_first_write_s"] = before
    row["sending_s"] = round(sending, 2) if sending is not None else None
    row.update(_gaps(report["result"].get("timeline") or [], report["seconds"]))
    if crm == "amocrm":
        row.update(_window_waits(report["result"].get("timeline") or [], ceilings.AMO_RPS))
    for label, read_back in (("writes_only", False), ("with_read_back", True)):
        ceiling_s = _ceiling_seconds(crm, n, read_back)
        row[f"ceiling_{label}_records_per_s"] = round(n / ceiling_s) if ceiling_s else None
        row[f"fraction_{label}"] = ceilings.fraction(report["seconds"], ceiling_s)
        row[f"sending_fraction_{label}"] = ceilings.fraction(sending, ceiling_s) if sending else None
    return row


def _gaps(timeline: list[list[Any]], seconds: float) -> dict[str, Any]:
    """Where the sending loses time: ``idle_s`` sums the moments no request was on the wire between
    the first request's start and the last one's end (our own work, or the pacer holding a request
    back), ``tail_s`` is the time after the last answer (recording it, the process ending). The
    timeline itself (start, end, method, path per request, seconds from the step's start) is kept."""
    if not timeline:
        return {}
    spans = sorted((float(a), float(b)) for a, b, *_ in timeline)
    idle, reach, widest = 0.0, spans[0][1], 0.0
    for start, end in spans[1:]:
        if start > reach:
            idle += start - reach
            widest = max(widest, start - reach)
        reach = max(reach, end)
    return {"first_request_s": round(spans[0][0], 3), "idle_s": round(idle, 3), "widest_gap_s": round(widest, 3),
            "tail_s": round(seconds - reach, 3), "timeline": timeline}


def _window_waits(timeline: list[list[Any]], limit: int, window: float = 1.01) -> dict[str, Any]:
    """Whose the time between requests is, under a ``limit`` per ``window`` sliding window as crmsync's
    pacer keeps it (a request holds its slot until a window after its answer; 1 % margin): each
    request could go once the one before it was answered and the rule let it. ``limit_wait_s`` sums
    the waits the rule imposed (a full window: the CRM's pace); ``own_wait_s`` the time a request
    left later than both allowed it (planning, mapping and recording between batches, or a busy
    machine). On an idle machine at ``b063b87`` (44 requests): 4.34 s the rule's, 0.60 s our own."""
    if not timeline:
        return {}
    spans = sorted((float(a), float(b)) for a, b, *_ in timeline)
    limit_wait = own_wait = 0.0
    for i, (start, _) in enumerate(spans):
        previous = spans[i - 1][1] if i else start
        freed = sorted((end + window for _, end in spans[:i]), reverse=True)
        allowed = freed[limit - 1] if len(freed) >= limit else 0.0
        if i:
            limit_wait += max(0.0, allowed - previous)
            own_wait += max(0.0, start - max(previous, allowed))
    return {"limit_wait_s": round(limit_wait, 3), "own_wait_s": round(own_wait, 3)}


def run_crm(crm: str, updates: int, creates: int) -> list[dict[str, Any]]:
    with FakeProcess(crm, updates) as fake, tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        project = connected_project(Path(tmp), fake)
        run_child("benchmarks.steps:crmsync_pull", project=tmp, connection=crm, paced=False)
        _sql(project, "UPDATE canonical.contacts SET first_name = first_name || ' Bench', "
                      "name = name || ' Bench' WHERE first_name IS NOT NULL")
        rows = [_phase(fake, project, crm, "update", updates)]
        new = [[str(uuid.uuid4()), f"Bench New {i}", "Bench", f"New {i}",
                json.dumps([{"value": f"+7916{i:07d}", "type": "mobile"}]),
                json.dumps([{"value": f"bench.{i}@example.com", "type": "work"}])] for i in range(creates)]
        _sql(project, "INSERT INTO canonical.contacts (id, version, name, first_name, last_name, phones, emails) "
                      "VALUES (?, 1, ?, ?, ?, ?, ?)", new)
        rows.append(_phase(fake, project, crm, "create", creates))
    return rows


def run(sizes: list[int]) -> dict[str, Any]:
    """Each N: N updates, then N/2 creates, per CRM. A small N weighs a run's fixed costs (process
    set-up, the metadata requests, the first rate-limit window) as much as its sending; a large N
    shows the steady state."""
    out: dict[str, Any] = {"scenario": "push (real limits)", "records": sizes,
                           "formulas": {"amocrm": "ceil(N/250) writes (×2 with read-back) at 7 req/s",
                                        "bitrix24": ceilings.FORMULAS["bitrix24 write"]}, "rows": []}
    for crm in ("amocrm", "bitrix24"):
        for n in sizes:
            out["rows"] += run_crm(crm, n, n // 2)
    return out
