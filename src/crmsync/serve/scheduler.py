"""Each pipeline on its ``schedule:``: one thread that starts runs when they are due.

- A slot that comes while the connection's previous run still goes on is skipped (the runner
  records it), not queued.
- The last slot fired is kept in ``.crmsync/serve/schedule.json``; a server started after missing
  slots runs such a pipeline once (``catch-up``), not once per missed slot.
- A failed run is retried after 1, 2, 4 … ``retry_base`` (doubling, at most ``retry_cap``) instead
  of on its cron slots, and the pipeline shows as failing until a run succeeds; the others keep
  their schedules.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crmsync.project import Project
from crmsync.schedule import next_run
from crmsync.serve.clock import Clock
from crmsync.serve.jobs import Job, Runner


@dataclass
class Plan:
    pipeline: Any                       # crmsync.specs.models.Pipeline
    next_at: dt.datetime | None         # the next cron slot (None: manual)
    failures: int = 0                   # failed runs in a row
    retry_at: dt.datetime | None = None
    last_error: str | None = None

    @property
    def due(self) -> dt.datetime | None:
        return self.retry_at if self.failures else self.next_at


class Scheduler:
    def __init__(self, project: Project, runner: Runner, pipelines: dict[str, Any], clock: Clock | None = None, *,
                 retry_base: float = 60.0, retry_cap: float = 3600.0, enabled: bool = True,
                 fan_out: Callable[[Any, str], None] | None = None,
                 runs_here: Callable[[Any], bool] | None = None) -> None:
        self.project = project
        self.fan_out = fan_out  # the same slot for every tenant that has the pipeline's connection (app sync)
        self.runs_here = runs_here  # with tenants, the project itself runs a pipeline only if it has the connection
        self.runner = runner
        self.clock = clock or Clock()
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self.enabled = enabled
        self.plans = {name: Plan(p, None) for name, p in sorted(pipelines.items())}
        self._state_path = project.state_dir / "serve" / "schedule.json"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._lock = threading.RLock()  # held across a submit, whose skip calls _finished
        runner.on_finish.append(self._finished)

    # -- life -----------------------------------------------------------------------------------------
    def start(self) -> None:
        now = self.clock.now()
        fired = self._load_state()
        catch_up = []
        for name, plan in self.plans.items():
            plan.next_at = next_run(plan.pipeline, now)
            last = fired.get(name)
            missed = next_run(plan.pipeline, last) if last else None
            if self.enabled and missed is not None and missed <= now:
                catch_up.append(name)
        for name in catch_up:
            self._fire(self.plans[name], now, "catch-up")
        if self.enabled:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    # -- the loop -------------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock.now()
            for plan in self.plans.values():
                try:
                    with self._lock:
                        if plan.due is not None and plan.due <= now:
                            self._fire(plan, now, "retry" if plan.failures else "schedule")
                except Exception as exc:  # one pipeline's trouble (a full disk, say) must not stop the others
                    plan.last_error = f"the scheduler could not start a run: {type(exc).__name__}: {exc}"
                    _log(f"{plan.pipeline.name}: {plan.last_error}")
            upcoming = [p.due for p in self.plans.values() if p.due is not None]
            self.clock.wait(self._stop, min(upcoming) if upcoming else now + dt.timedelta(hours=1))

    def _fire(self, plan: Plan, now: dt.datetime, trigger: str) -> Job | None:
        with self._lock:
            if plan.due is None or plan.due > now and trigger != "catch-up":
                return None          # a run that ended meanwhile failed: the retry's backoff decides now
            plan.next_at = next_run(plan.pipeline, now)   # every slot up to now is served by this one run
            if plan.failures:
                plan.retry_at = None                      # set again if this run fails too
            self._save_fired(plan.pipeline.name, now)
            job = None
            if self.runs_here is None or self.runs_here(plan.pipeline):
                job = self.runner.submit(plan.pipeline, trigger=trigger)
        if self.fan_out is not None and trigger != "retry":
            try:
                self.fan_out(plan.pipeline, trigger)
            except Exception as exc:  # a tenant's trouble must not stop the project's own schedule
                _log(f"{plan.pipeline.name}: tenant runs could not start: {type(exc).__name__}: {exc}")
        return job

    def _finished(self, job: Job) -> None:
        plan = self.plans.get(job.pipeline)
        if plan is None or job.dry_run:
            return
        with self._lock:
            if job.status == "ok":
                plan.failures, plan.retry_at, plan.last_error = 0, None, None
            elif job.status == "failed":
                plan.failures += 1
                plan.last_error = job.error
                plan.retry_at = self.clock.now() + self._backoff(plan.failures)
            elif plan.failures and plan.retry_at is None and job.trigger == "retry":
                # the retry itself was skipped (a CLI run held the connection): try again later, not never
                plan.retry_at = self.clock.now() + self._backoff(plan.failures)

    def _backoff(self, failures: int) -> dt.timedelta:
        return dt.timedelta(seconds=min(self.retry_cap, self.retry_base * 2 ** (failures - 1)))

    # -- what the API shows ---------------------------------------------------------------------------
    def describe(self, name: str) -> dict[str, Any]:
        plan = self.plans[name]
        pipe = plan.pipeline
        running = self.runner.running(pipe.connection)
        return {"schedule": pipe.schedule or "manual", "timezone": pipe.timezone or "UTC",
                "next_run": _iso(plan.due if self.enabled else None),
                "failures": plan.failures, "retry_at": _iso(plan.retry_at), "last_error": plan.last_error,
                "running": running.as_dict() if running is not None and running.pipeline == name else None}

    # -- the fired-slot file --------------------------------------------------------------------------
    def _load_state(self) -> dict[str, dt.datetime]:
        try:
            raw = json.loads(self._state_path.read_text())
        except (OSError, ValueError):
            return {}
        out = {}
        for name, value in (raw.get("fired") or {}).items():
            try:
                out[name] = dt.datetime.fromisoformat(value)
            except (TypeError, ValueError):
                continue
        return out

    def _save_fired(self, name: str, when: dt.datetime) -> None:
        fired = {k: v.isoformat() for k, v in self._load_state().items()}
        fired[name] = when.isoformat()
        _write_atomically(self._state_path, json.dumps({"fired": fired}, indent=1))


def _log(message: str) -> None:
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M:%S}Z {message}", file=sys.stderr, flush=True)


def log_run(job: Job) -> None:
    """One line per finished run on the server's stderr (the details are in the API and sync.runs)."""
    took = ""
    if job.started_at and job.finished_at:
        seconds = (dt.datetime.fromisoformat(job.finished_at) - dt.datetime.fromisoformat(job.started_at))
        took = f" in {seconds.total_seconds():.1f} s"
    why = f": {job.error.splitlines()[0]}" if job.error and job.status != "ok" else ""
    _log(f"{job.pipeline} {job.kind}{' (dry run)' if job.dry_run else ''} [{job.trigger}] {job.status}{took}{why}")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
