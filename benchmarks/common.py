"""What the scenarios share: a fake CRM in its own process, a project connected to it, small helpers.

The fake runs as a separate process (``python -m crmsync fake-crm``) for two reasons: on 2 cores it
must not compete with the client for one GIL, and its eagerly generated world (all records in
memory) must not be counted in the client's peak RSS.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from crmsync.project import Project

_URL = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
WEBHOOK = "/rest/1/demo"  # the fake Bitrix24's built-in inbound webhook (user 1, code "demo")
NATIVE = {"amocrm": "contacts", "bitrix24": "contact"}  # the fakes' own entity names (admin routes)


class FakeProcess:
    """``crmsync fake-crm CRM`` with ``contacts`` records, on a free loopback port, until :meth:`stop`."""

    def __init__(self, crm: str, contacts: int, *, rate_limit: bool = False, faults: tuple[str, ...] = (),
                 settings: tuple[str, ...] = (), deals: int = 0, tasks: int = 0, port: int = 0) -> None:
        self.crm = crm
        cmd = [sys.executable, "-m", "crmsync", "fake-crm", crm, "--port", str(port), "--contacts", str(contacts),
               "--deals", str(deals), "--tasks", str(tasks)]
        cmd += [] if rate_limit else ["--no-rate-limit"]
        for spec in faults:
            cmd += ["--fault", spec]
        for pair in settings:
            cmd += ["--set", pair]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        line = self._proc.stdout.readline() if self._proc.stdout else ""
        match = _URL.search(line)
        if not match:
            self.stop()
            raise RuntimeError(f"fake {crm} did not start: {line!r}")
        self.url = match.group(1)
        self.http = requests.Session()

    @property
    def api_base(self) -> str:
        return self.url if self.crm == "amocrm" else self.url + WEBHOOK

    def admin(self, method: str, action: str, **body: Any) -> Any:
        r = self.http.request(method, f"{self.url}/_fake/{action}", json=body or None, timeout=120)
        r.raise_for_status()
        return r.json()

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")

    def rate_limit(self, enabled: bool) -> None:
        """Switch the real limits on (with an empty bucket / window) or off, and zero the statistics."""
        self.admin("POST", "rate-limit", enabled=enabled)
        self.admin("DELETE", "stats")

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def connected_project(root: Path, fake: FakeProcess) -> Project:
    """A scaffolded project at ``root`` with connection ``fake.crm`` (long-lived token / webhook)."""
    from crmsync.connections.connect import ConnectOptions, connect
    from crmsync.scaffold import init_project

    init_project(root, force=True)
    project = Project.at(root)
    if fake.crm == "amocrm":
        opts = ConnectOptions(crm="amocrm", name="amocrm", base_url=fake.url, long_lived_token="demo-token")
    else:
        opts = ConnectOptions(crm="bitrix24", name="bitrix24", webhook_url=fake.url + WEBHOOK + "/")
    connect(project, opts)
    return project


def session_for(project: Project, connection: str, *, paced: bool) -> Any:
    """The connection's real session; ``paced=False`` sends unpaced (for a fake whose limits are off)."""
    from crmsync.connections.session import authorized_session
    from crmsync.http.pacing import Unlimited

    return authorized_session(project, connection, pacer=None if paced else Unlimited())


def quiet_dlt() -> None:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")


def store_count(project: Project, sql: str, params: tuple[Any, ...] = ()) -> int:
    import duckdb

    con = duckdb.connect(str(project.store_path()), read_only=True)
    try:
        return int(con.execute(sql, list(params)).fetchone()[0])
    finally:
        con.close()


def timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def rate(n: float, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else float("inf")
