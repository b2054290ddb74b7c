"""`crmsync serve` as a real process on a free loopback port, and a project connected to the fakes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here

# A schedule to show without it firing during a test (midnight on 29 February, next in 2028): a */15 slot
# once came in the middle of one and added a run it did not expect.
LEAP_DAY = "0 0 29 2 *"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_project(tmp_path: Path, fake_crm: Any, *, schedule: str = "manual", contacts: int = 15,
                 rate_limit: bool = False) -> tuple[Path, Any]:
    """A project whose `amocrm` pipeline (contacts only, for speed) talks to a fake AmoCRM; bitrix24's is removed."""
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    amo = fake_crm("amocrm", contacts=contacts, deals=2, tasks=2, rate_limit=rate_limit)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    (project / "pipelines" / "bitrix24.yaml").unlink()
    set_pipeline(project, "amocrm", schedule=schedule, entities=["contact"],
                 conflicts={"default": "newest_wins", "clock_skew_seconds": 5})
    return project, amo


def set_pipeline(project: Path, file: str, *, like: str | None = None, **changes: Any) -> None:
    """Change pipelines/<file>.yaml (or make it as a copy of pipelines/<like>.yaml)."""
    path = project / "pipelines" / f"{file}.yaml"
    spec = yaml.safe_load((path if like is None else path.with_name(f"{like}.yaml")).read_text(encoding="utf-8"))
    spec.update(changes)
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")


def api_key(project: Path, name: str, scope: str) -> str:
    return json.loads(run_here(project, "api-keys", "create", name, "--scope", scope, "--json"))["token"]


class Served:
    def __init__(self, project: Path, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.project, self.proc, self.port, self.log = project, proc, port, log
        self.base = f"http://127.0.0.1:{port}"
        self.key = api_key(project, f"test-{port}-{time.monotonic_ns()}", "admin")

    def get(self, path: str, **kw: Any) -> Any:
        response = requests.get(self.base + path, headers={"Authorization": f"Bearer {self.key}"}, timeout=30, **kw)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: Any = None) -> Any:
        response = requests.post(self.base + path, json=body, headers={"Authorization": f"Bearer {self.key}"},
                                 timeout=30)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def jobs(self, pipeline: str) -> list[dict[str, Any]]:
        return list(reversed(self.get(f"/api/jobs?pipeline={pipeline}&limit=500")["jobs"]))  # oldest first

    def wait_job(self, job_id: str, timeout: float = 90) -> dict[str, Any]:
        return wait_for(lambda: (j := self.get(f"/api/jobs/{job_id}"))["status"] not in ("queued", "running") and j,
                        timeout, f"job {job_id} to end")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signal the server; its exit code (uvicorn re-raises the signal once it has shut down cleanly)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"serve did not stop within {timeout} s after signal {sig}:\n{self.output()}"
                                 ) from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def start_serve(project: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    # free_port() lets the port go before serve binds it: under parallel test workers another process may
    # take it in between, and then serve stops at once saying so; it is started again on another port.
    for attempt in range(3):
        try:
            return _start_serve(project, *args, env=env)
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PortTaken(AssertionError):
    pass


def _start_serve(project: Path, *args: str, env: dict[str, str] | None = None) -> Served:
    port = free_port()
    log = project / f"serve-{port}.log"
    proc = subprocess.Popen([*crmsync_cmd(), "serve", "--project-dir", str(project), "--port", str(port), *args],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    served = Served(project, proc, port, log)

    def up() -> bool:
        if proc.poll() is not None:
            output = served.output()
            if "address already in use" in output.lower():
                raise PortTaken(f"port {port} was taken before serve bound it:\n{output}")
            raise AssertionError(f"serve exited with {proc.returncode}:\n{output}")
        try:
            return requests.get(served.base + "/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(up, 60, "serve to answer /healthz")
    return served
