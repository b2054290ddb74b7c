"""``/metrics``: runs, records, errors, durations and rate-limit waits per pipeline (Prometheus text)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

from crmsync.serve.jobs import Job

disable_created_metrics()  # the *_created series double the output and say nothing a dashboard uses


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.runs = Counter("crmsync_runs", "Runs the server started, by how they ended (ok, failed, skipped, "
                            "interrupted)", ["pipeline", "kind", "status"], registry=self.registry)
        self.records = Counter("crmsync_records", "Records read from the CRM (read) and written to it (written)",
                               ["pipeline", "direction"], registry=self.registry)
        self.errors = Counter("crmsync_errors", "Failed runs (run) and records set aside (record)",
                              ["pipeline", "kind"], registry=self.registry)
        self.seconds = Histogram("crmsync_run_duration_seconds", "Wall time of a finished run, child process included",
                                 ["pipeline", "kind"], registry=self.registry,
                                 buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600))
        self.rate_waits = Counter("crmsync_rate_limit_wait_seconds", "Seconds runs spent waiting for the CRM's rate "
                                  "limit", ["pipeline"], registry=self.registry)

    def observe(self, job: Job) -> None:
        self.runs.labels(job.pipeline, job.kind, job.status).inc()
        if job.status == "failed":
            self.errors.labels(job.pipeline, "run").inc()
        result = job.result or {}
        if job.status not in ("ok", "issues") or job.dry_run:  # issues: done, with records set aside
            return
        self.seconds.labels(job.pipeline, job.kind).observe(float(result.get("seconds") or 0.0))
        read, written, rejected, waited = _counts(result)
        self.records.labels(job.pipeline, "read").inc(read)
        self.records.labels(job.pipeline, "written").inc(written)
        self.errors.labels(job.pipeline, "record").inc(rejected)
        self.rate_waits.labels(job.pipeline).inc(waited)


def _counts(result: dict[str, Any]) -> tuple[int, int, int, float]:
    """From what ``crmsync sync|pull|push --json`` printed: records read, written, set aside; rate-limit wait."""
    pull = result.get("pull") if "pull" in result else (result if result.get("timings") is not None else None)
    push = result.get("push") if "push" in result else (None if pull is result else result)
    read = written = rejected = 0
    for counts in ((pull or {}).get("entities") or {}).values():
        read += int(counts.get("read", 0) or 0)
        rejected += int(counts.get("rejected", 0) or 0)
    for counts in ((push or {}).get("entities") or {}).values():
        written += sum(int(counts.get(k, 0) or 0) for k in ("created", "updated", "deleted"))
        rejected += int(counts.get("rejected", 0) or 0)
    waited = float(result.get("rate_limit_wait") or 0.0)   # `crmsync sync --json` says it; pull and push not yet
    return read, written, rejected, waited
