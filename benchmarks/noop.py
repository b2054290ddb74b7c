"""Scenario 4: a scheduled incremental run with nothing to do, as a whole process.

The command is a parameter (default ``crmsync sync {pipeline}``, the scheduled two-way run;
``crmsync pull {pipeline}`` for the read half alone): the store is pulled once, then the command
runs again with nothing changed in the CRM (limits on, as a real schedule would meet them). Wall
time is the median of a few runs; the breakdown comes from ``-X importtime`` (imports) and one run
under cProfile (phases, HTTP, DuckDB).
"""

from __future__ import annotations

import pstats
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project

DEFAULT_COMMAND = "crmsync sync {pipeline}"
# Phases by the function that owns them (file suffix, function name): cumulative seconds under cProfile.
PHASES = {
    "spec load + checks": ("crmsync/runs.py", "prepare_run"),
    "connection + token": ("crmsync/connections/session.py", "authorized_session"),
    "dlt import + set-up": ("crmsync/read/dlt_setup.py", "configure"),
    "read (dlt run, incl. HTTP)": ("crmsync/read/run.py", "read_connection"),
    "delete feed": ("crmsync/pull.py", "_find_deletes"),
    "HTTP (all requests)": ("requests/sessions.py", "send"),
    "client pacing waits": ("crmsync/http/pacing.py", "acquire"),
}


def _argv(command: str, pipeline: str, project: Path) -> list[str]:
    words = shlex.split(command.format(pipeline=pipeline))
    if words and words[0] == "crmsync":
        words = words[1:]
    return [*words, "--project-dir", str(project)]


def _wall(args: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "crmsync", *args], check=True, capture_output=True)
        out.append(time.perf_counter() - start)
    return out


def _imports(args: list[str]) -> dict[str, float]:
    """Seconds of imports by top-level package (``-X importtime`` lines: self | cumulative | name)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "crmsync", *args], check=True,
                          capture_output=True, text=True)
    by_package: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3 or "cumulative" in line:
            continue
        name = parts[2]
        if len(name) - len(name.lstrip()) != 1:  # nested imports are inside their importer's cumulative
            continue
        package = name.strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(parts[1]) / 1e6
    top = sorted(by_package.items(), key=lambda kv: -kv[1])[:6]
    return {"total": round(sum(by_package.values()), 3), **{k: round(v, 3) for k, v in top}}


def _profile(args: list[str], tmp: Path) -> dict[str, float]:
    out = tmp / "noop.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "crmsync", *args], check=True,
                   capture_output=True)
    stats = pstats.Stats(str(out))
    found = {name: 0.0 for name in PHASES}
    duck = 0.0
    total = 0.0
    for (file, _line, func), (_cc, _nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        for name, (suffix, fn) in PHASES.items():
            if func == fn and file.endswith(suffix):
                found[name] = max(found[name], ct)
        if "duckdb" in func.lower() or "duckdb" in file.lower():
            duck += tt
    return {"profiled_total": round(total, 3), **{k: round(v, 3) for k, v in found.items()},
            "DuckDB (own time of its calls)": round(duck, 3)}


def run(command: str = DEFAULT_COMMAND, crm: str = "amocrm", runs: int = 3) -> dict[str, Any]:
    with FakeProcess(crm, 500, rate_limit=True, deals=200, tasks=200) as fake, \
            tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        project = connected_project(Path(tmp), fake)
        run_child("benchmarks.steps:crmsync_pull", project=tmp, connection=crm, paced=True,
                  entities=["contact", "deal", "task"])
        args = _argv(command, crm, project.root)
        walls = _wall(args, runs)
        fake.admin("DELETE", "stats")
        _wall(args, 1)
        requests = fake.stats()["total"]
        imports = _imports(args)
        phases = _profile(args, Path(tmp))
    median = statistics.median(walls)
    return {"scenario": "no-op incremental run (whole process)", "command": command.format(pipeline=crm),
            "wall_seconds_median": round(median, 3), "wall_seconds_runs": [round(w, 3) for w in walls],
            "target_seconds": 2.0, "target_met": median < 2.0, "requests_per_run": requests,
            "imports_seconds": imports, "profile_seconds": phases}
