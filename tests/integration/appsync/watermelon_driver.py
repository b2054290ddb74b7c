"""The WatermelonDB reference client (examples/watermelon-client) as a child process the tests drive.

Real Node, the real ``@nozbe/watermelondb`` package with its LokiJS adapter, and WatermelonDB's own
``synchronize()``; one JSON command a line in, one JSON answer a line out (see client.js).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CLIENT_DIR = Path(__file__).resolve().parents[3] / "examples" / "watermelon-client"
TIMEOUT = 60.0  # one command; a sync under a loaded 2-core machine takes well under this


def node() -> str:
    found = shutil.which("node")
    if not found:
        pytest.fail("no node for the WatermelonDB client tests: `make node` installs it (Debian's nodejs and npm)")
    if not (CLIENT_DIR / "node_modules" / "@nozbe" / "watermelondb").is_dir():
        pytest.fail(f"{CLIENT_DIR}/node_modules is missing: run `make node` (npm ci from its package-lock.json)")
    return found


class ClientError(AssertionError):
    """A command the client answered with ``ok: false``."""

    def __init__(self, op: str, answer: dict[str, Any]) -> None:
        super().__init__(f"client op {op!r} failed: {answer.get('error')} (status {answer.get('status')})")
        self.answer = answer
        self.status = answer.get("status")


class WatermelonClient:
    def __init__(self, server: str, token: str, *, name: str = "client", log_dir: Path | None = None) -> None:
        self.name = name
        self._stderr = (log_dir / f"{name}.stderr.log").open("w") if log_dir else subprocess.DEVNULL
        self.proc = subprocess.Popen([node(), str(CLIENT_DIR / "client.js"), "--server", server, "--token", token],
                                     cwd=CLIENT_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, encoding="utf-8", bufsize=1)
        self._answers: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._next("start")
        if not ready.get("ready"):
            self.close()
            raise ClientError("start", ready)
        self.tables: list[str] = ready["tables"]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def _next(self, op: str) -> dict[str, Any]:
        try:
            line = self._answers.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"{self.name}: no answer to {op!r} within {TIMEOUT} s") from None
        if line is None:
            raise AssertionError(f"{self.name}: the client exited ({self.proc.wait()}) during {op!r}")
        return json.loads(line)

    def send(self, op: str, **args: Any) -> dict[str, Any]:
        """The client's answer, ``ok`` true or false."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._next(op)

    def do(self, op: str, **args: Any) -> dict[str, Any]:
        """Like :meth:`send`, but a failed command fails the test."""
        answer = self.send(op, **args)
        if not answer.get("ok"):
            raise ClientError(op, answer)
        return answer

    def sync(self) -> dict[str, Any]:
        return self.do("sync")

    def sync_held(self, between: Callable[[], Any]) -> dict[str, Any]:
        """A sync that stops after its pull, runs ``between()`` (the server changes meanwhile), then pushes."""
        first = self.send("sync", hold_before_push=True)
        assert first.get("event") == "pulled", f"{self.name}: the sync did not stop before a push: {first}"
        between()
        answer = self.send("continue")
        if not answer.get("ok"):
            raise ClientError("sync", answer)
        return answer

    def create(self, table: str, **values: Any) -> str:
        return self.do("create", table=table, values=values)["id"]

    def update(self, table: str, id: str, **values: Any) -> None:
        self.do("update", table=table, id=id, values=values)

    def delete(self, table: str, id: str) -> None:
        self.do("delete", table=table, id=id)

    def records(self, table: str) -> dict[str, dict[str, Any]]:
        """The local records of ``table`` by id (raw: app-schema columns plus ``_status`` and ``_changed``)."""
        return {r["id"]: r for r in self.do("dump")["tables"][table]}

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._stderr is not subprocess.DEVNULL:
            self._stderr.close()
