"""``python -m benchmarks.child MODULE:FUNCTION '{"kw": ...}'``: one measured step in a fresh process.

Each variant runs in its own process so that nothing leaks between them: dlt reads its settings
from environment variables (crmsync's tuned defaults would otherwise turn the "dlt defaults"
baseline into a tuned one), imports are paid once per variant, and the peak RSS is the variant's
own (``ru_maxrss`` of this process, not of the harness or the fake). ``cpu_seconds`` is the CPU the
step used (user + system, all its threads): on a shared machine it varies less than the wall time,
and it is what a variant costs when the CRM, not the engine, sets the pace; ``children_cpu_seconds`` and
``children_peak_rss_mb`` are those of the processes the step started and waited for (a run's mapping
processes: the largest one's peak, not their sum). The last stdout line is JSON: ``{"seconds": …,
"cpu_seconds": …, "peak_rss_mb": …, "children_cpu_seconds": …, "children_peak_rss_mb": …, "result": …}``.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time


def main() -> None:
    target, kwargs = sys.argv[1], json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    module, _, name = target.partition(":")
    fn = getattr(importlib.import_module(module), name)
    start, before = time.perf_counter(), _cpu()
    result = fn(**kwargs)
    seconds, cpu = time.perf_counter() - start, _cpu() - before
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    # the step's own child processes (a run's mapping processes, crmsync.map_process), once it has waited for them
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": seconds, "cpu_seconds": round(cpu, 3), "peak_rss_mb": round(peak_kb / 1024, 1),
                      "children_cpu_seconds": round(_cpu(resource.RUSAGE_CHILDREN), 3),
                      "children_peak_rss_mb": round(children.ru_maxrss / 1024, 1), "result": result}, default=str))


def _cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def run_child(target: str, **kwargs: object) -> dict:
    """Run ``target`` in a child process and return its JSON report (raises with its stderr on failure)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]  # the repository: ``benchmarks`` importable from any cwd
    proc = subprocess.run([sys.executable, "-m", "benchmarks.child", target, json.dumps(kwargs)],
                          capture_output=True, text=True, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"{target} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
