"""`crmsync serve` at rest: the server's own CPU and memory over a window with three pipelines
scheduled every minute (each run a no-op: nothing changed in the CRMs), and a no-op run's time from
trigger (``POST /api/pipelines/{name}/runs``) to its result recorded (the job done, ``sync.runs`` written).

``python -m benchmarks.serve_idle [--minutes 10] [--triggers 5]``: fakes with their real rate limits
in their own processes; three connections (two AmoCRM accounts on one fake, one Bitrix24) so the
three pipelines do not skip each other. CPU is read from /proc: the server's own (utime+stime) and
its finished children's (cutime+cstime: the runs); memory is the server's RSS, sampled every second.
Writes ``benchmarks/out/serve_idle.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import yaml

from benchmarks.common import FakeProcess

TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> dict[str, float]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the name: state is field 3 of stat(5); utime 14, stime 15, cutime 16, cstime 17
    utime, stime, cutime, cstime = (int(fields[i]) / TICK for i in (11, 12, 13, 14))
    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return {"cpu": utime + stime, "children_cpu": cutime + cstime, "rss": rss}


def _crmsync(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "crmsync", *args], check=True, capture_output=True, text=True)


def _project(root: Path, amo: FakeProcess, b24: FakeProcess) -> str:
    _crmsync("init", str(root))
    where = ["--project-dir", str(root)]
    _crmsync("connect", "amocrm", "--name", "amo_a", "--base-url", amo.url, "--long-lived-token", "demo-token", *where)
    _crmsync("connect", "amocrm", "--name", "amo_b", "--base-url", amo.url, "--long-lived-token", "demo-token", *where)
    _crmsync("connect", "bitrix24", "--name", "b24", "--webhook-url", b24.url + "/rest/1/demo/", *where)
    pipelines = root / "pipelines"
    template = yaml.safe_load((pipelines / "amocrm.yaml").read_text(encoding="utf-8"))
    for name, crm, connection in (("amo_a", "amocrm", "amo_a"), ("amo_b", "amocrm", "amo_b"),
                                  ("b24", "bitrix24", "b24")):
        spec = {**template, "name": name, "crm": crm, "connection": connection, "schedule": "* * * * *"}
        (pipelines / f"{name}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    for old in ("amocrm", "bitrix24"):
        (pipelines / f"{old}.yaml").unlink()
    for name in ("amo_a", "amo_b", "b24"):
        _crmsync("sync", name, *where)  # the first, full read: from here on every run has nothing to do
    out = subprocess.run([sys.executable, "-m", "crmsync", "api-keys", "create", "bench", "--scope", "operate",
                          *where], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def measure(minutes: float, triggers: int) -> dict[str, Any]:
    with FakeProcess("amocrm", 500, rate_limit=True, deals=100, tasks=100) as amo, \
            FakeProcess("bitrix24", 500, rate_limit=True, deals=100, tasks=100) as b24, \
            tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "p"
        key = _project(root, amo, b24)
        port = 18790
        server = subprocess.Popen([sys.executable, "-m", "crmsync", "serve", "--project-dir", str(root),
                                   "--port", str(port)], stderr=subprocess.PIPE, text=True)
        base, auth = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(base + "/healthz", timeout=1)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("serve did not start") from None
                    time.sleep(0.2)
            start, rss = _proc_stat(server.pid), []
            began = time.monotonic()
            while time.monotonic() - began < minutes * 60:
                rss.append(_proc_stat(server.pid)["rss"])
                time.sleep(1)
            end = _proc_stat(server.pid)
            window = time.monotonic() - began
            runs = requests.get(base + "/api/jobs?limit=500", headers=auth, timeout=30).json()["jobs"]
            trigger_times = []
            for _ in range(triggers):
                while any(j["status"] in ("queued", "running")
                          for j in requests.get(base + "/api/jobs", headers=auth, timeout=30).json()["jobs"]):
                    time.sleep(0.05)
                t0 = time.perf_counter()
                job = requests.post(base + "/api/pipelines/amo_a/runs", json={"kind": "sync"}, headers=auth,
                                    timeout=30).json()
                while job["status"] in ("queued", "running"):
                    time.sleep(0.02)
                    job = requests.get(f"{base}/api/jobs/{job['job_id']}", headers=auth, timeout=30).json()
                if job["status"] == "ok":
                    trigger_times.append(time.perf_counter() - t0)
        finally:
            server.terminate()
            server.wait(timeout=120)
    return {"window_seconds": round(window, 1), "scheduled_runs": {s: sum(j["status"] == s for j in runs)
                                                                    for s in {j["status"] for j in runs}},
            "server_cpu_seconds": round(end["cpu"] - start["cpu"], 3),
            "server_cpu_percent": round(100 * (end["cpu"] - start["cpu"]) / window, 3),
            "runs_cpu_seconds": round(end["children_cpu"] - start["children_cpu"], 3),
            "server_rss_mb": {"min": round(min(rss) / 2**20, 1), "max": round(max(rss) / 2**20, 1)},
            "trigger_to_recorded_seconds": {"median": round(statistics.median(trigger_times), 3),
                                            "all": [round(t, 3) for t in trigger_times]} if trigger_times else None}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_idle", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0, help="the idle window (default %(default)s)")
    parser.add_argument("--triggers", type=int, default=5, help="no-op runs timed from trigger to result")
    args = parser.parse_args()
    result = measure(args.minutes, args.triggers)
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "serve_idle.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
