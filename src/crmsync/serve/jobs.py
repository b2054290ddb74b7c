"""Runs started by the server: each one a child process (``crmsync sync|pull|push PIPELINE --json``).

A child cannot take the server down by crashing or growing, and it takes the store's lock only
while it works. DuckDB allows one process at a time to write a file (dlt's load does not wait for
another), so the children take turns on the project's store (``store_lock``; a run waiting for it
is ``queued``), and the API reads the store only between them (:mod:`crmsync.serve.storeguard`).

One run per connection: a run asked for while another of the same connection goes on is *skipped*
(not queued) and recorded as such in ``sync.runs``; a CLI run holding the connection's lock makes
the child exit with code 4, which counts as skipped too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from crmsync.project import Project
from crmsync.secrets.masking import mask

KINDS = ("sync", "pull", "push")
KEEP_JOBS = 500            # finished jobs the server remembers (the store keeps the whole history)
INTERRUPTED_EXIT = 130     # crmsync's exit code after a SIGINT / Ctrl-C
BUSY_EXIT = 4              # crmsync's exit code for "another run of this connection holds the lock"
ISSUES_EXIT = 5            # done, but records were set aside, refused or held: not a failure to retry


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


@dataclass
class Job:
    job_id: str
    pipeline: str
    connection: str
    kind: str                      # sync | pull | push
    dry_run: bool
    trigger: str                   # schedule | catch-up | retry | api
    store: str = "crmsync.duckdb"
    status: str = "queued"         # queued | running | ok | issues | failed | skipped | interrupted
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    finished_at: str | None = None
    exit_code: int | None = None
    result: dict[str, Any] | None = None   # exactly what `crmsync KIND PIPELINE --json` printed
    error: str | None = None               # the run's own words (a CRM's refusal, a config problem)

    @property
    def done(self) -> bool:
        return self.status not in ("queued", "running")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _error_text(stderr: str) -> str | None:
    """The message crmsync printed (``error: …``), not progress lines."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    marked = [i for i, line in enumerate(lines) if line.startswith(("error:", "internal error:", "Error:"))]
    chosen = lines[marked[0]:] if marked else lines[-5:]
    return mask("\n".join(chosen))[:4000] or None


class Runner:
    """Starts, tracks and stops the child processes; tells listeners when a job ends."""

    def __init__(self, project: Project, *, on_finish: list[Callable[[Job], None]] | None = None) -> None:
        self.project = project
        self.on_finish = on_finish or []
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._busy: dict[str, Job] = {}                      # connection -> its job in flight
        self._skipped: dict[str, list[Job]] = {}             # recorded when the connection's run ends
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._threads: list[threading.Thread] = []
        self.store_lock = threading.Lock()                   # held by a child's whole run, or an API access
        self.stopping = False

    # -- asking -----------------------------------------------------------------------------------
    def submit(self, pipeline: Any, *, kind: str = "sync", dry_run: bool = False, trigger: str = "api",
               entities: list[str] | None = None, full_refresh: bool = False) -> Job:
        from crmsync.store import store_name

        store = store_name(pipeline)
        job = Job(f"job-{uuid.uuid4().hex[:12]}", pipeline.name, pipeline.connection, kind, dry_run, trigger, store)
        skip = None
        with self._lock:
            self._remember(job)
            running = self._busy.get(job.connection)
            if self.stopping:
                skip = "the server is stopping"
            elif running is not None:
                skip = (f"a {running.kind} run of connection {job.connection!r} ({running.job_id}, "
                        f"{running.trigger}) was still in progress")
                self._skipped.setdefault(job.connection, []).append(job)
            else:
                self._busy[job.connection] = job
        if skip is not None:
            self._skip(job, skip)  # outside the lock: listeners may take their own
            return job
        args = [job.kind, job.pipeline, "--json", "--project-dir", str(self.project.root)]
        args += ["--dry-run"] if dry_run else []
        args += ["--full-refresh"] if full_refresh else []
        for entity in entities or []:
            args += ["--entity", entity]
        thread = threading.Thread(target=self._run, args=(job, args), name=f"run-{job.pipeline}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def jobs(self, pipeline: str | None = None) -> list[Job]:
        return [j for j in reversed(self._jobs.values()) if pipeline is None or j.pipeline == pipeline]

    def running(self, connection: str) -> Job | None:
        return self._busy.get(connection)

    # -- the child ----------------------------------------------------------------------------------
    def _run(self, job: Job, args: list[str]) -> None:
        with self.store_lock:
            if self.stopping:
                self._finish(job, None, "", "the server stopped before the run could start")
                return
            job.status = "running"
            job.started_at = _now()
            self._run_child(job, args)

    def _run_child(self, job: Job, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            # its own session: a Ctrl-C at the server's terminal reaches the server, which decides
            # how a run in flight ends (see stop), not the children directly
            proc = subprocess.Popen([sys.executable, "-m", "crmsync", *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=True)
        except OSError as exc:
            self._finish(job, None, "", f"could not start the run: {exc}")
            return
        with self._lock:
            self._procs[job.job_id] = proc
        out, err = proc.communicate()
        with self._lock:
            self._procs.pop(job.job_id, None)
        self._finish(job, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _finish(self, job: Job, code: int | None, stdout: str, stderr: str) -> None:
        job.exit_code = code
        job.finished_at = _now()
        try:
            job.result = json.loads(stdout) if stdout.strip() else None
        except json.JSONDecodeError:
            job.result = None
        from crmsync.serve.history import record_skipped

        if code == 0:
            status = "ok"
        elif code == ISSUES_EXIT:
            status = "issues"
            job.error = _error_text(stderr)
        elif code == BUSY_EXIT:
            status = "skipped"
            job.error = _error_text(stderr)
            record_skipped(self.project, [job])  # in sync.runs before anyone sees the job as done
        elif self.stopping and (code is None or code < 0 or code == INTERRUPTED_EXIT):
            status = "interrupted"
            job.error = ("the server stopped before the run started" if code is None else
                         "the server was stopped during the run; committed work is kept and the next run goes on")
        else:
            status = "failed"
            job.error = _error_text(stderr) or f"the run ended with exit code {code}"
        job.status = status
        for listener in self.on_finish:  # before the connection is free: the scheduler sees a failure first
            listener(job)
        with self._lock:
            if self._busy.get(job.connection) is job:
                del self._busy[job.connection]
            waiting = self._skipped.pop(job.connection, [])
        record_skipped(self.project, waiting)

    def _skip(self, job: Job, why: str) -> None:
        job.status = "skipped"
        job.finished_at = _now()
        job.error = f"skipped: {why}"
        for listener in self.on_finish:
            listener(job)

    def _remember(self, job: Job) -> None:
        self._jobs[job.job_id] = job
        while len(self._jobs) > KEEP_JOBS:
            oldest = next(iter(self._jobs))
            if not self._jobs[oldest].done:
                break
            del self._jobs[oldest]

    # -- stopping -----------------------------------------------------------------------------------
    def stop(self, grace: float) -> None:
        """No new runs; a run in flight gets ``grace`` seconds to finish, then an interrupt (SIGINT: its
        open transaction rolls back, committed chunks and the outbox stay, the next run goes on), then,
        if it still has not ended, SIGKILL (the store is transactional: nothing half-written either way)."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs.values())
        deadline = time.monotonic() + grace
        for proc in procs:
            _wait(proc, deadline - time.monotonic())
        with self._lock:
            procs = list(self._procs.values())   # and any that started while the first ones ended
        for proc in procs:
            if proc.poll() is None:
                _signal(proc, signal.SIGINT)
        deadline = time.monotonic() + 15
        for proc in procs:
            if not _wait(proc, deadline - time.monotonic()):
                _signal(proc, signal.SIGKILL)
        for thread in self._threads:
            thread.join(timeout=20)   # each records its job's end (and the skips it was holding)


def _wait(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    try:
        proc.wait(timeout=max(0.0, seconds))
        return True
    except subprocess.TimeoutExpired:
        return False


def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
