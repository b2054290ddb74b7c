"""Peak RSS per phase of a run, sampled from a thread: which part of a pull holds the memory.

The sampler reads ``VmRSS`` every ``interval`` seconds and names the phase from the main thread's
stack (the innermost frame that is one of :data:`PHASES`), so crmsync and dlt need no hooks. A
spike shorter than the interval can be missed: ``ru_maxrss`` stays the figure of record.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

# (phase, file the function lives in, function name); the innermost match on the stack wins
PHASES = (
    ("extract", "dlt/pipeline/pipeline.py", "extract"),
    ("normalize", "dlt/pipeline/pipeline.py", "normalize"),
    ("load", "dlt/pipeline/pipeline.py", "load"),
    ("apply", "crmsync/pull.py", "rows"),    # PullApply.rows: each read round's records into canonical
    ("apply", "crmsync/pull.py", "finish"),  # PullApply.finish: what is left, deletions, the run's record
)

PHASE_NAMES = (*dict.fromkeys(name for name, _, _ in PHASES), "other")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _phase(frame: Any) -> str:
    while frame is not None:
        code = frame.f_code
        for name, path, function in PHASES:
            if code.co_name == function and code.co_filename.endswith(path):
                return name
        frame = frame.f_back
    return "other"


class PhaseSampler:
    """``with PhaseSampler() as s: ...``; then ``s.peaks``: phase → peak RSS in MB."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._main = threading.get_ident()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            phase = _phase(sys._current_frames().get(self._main))
            self.peaks[phase] = max(self.peaks.get(phase, 0.0), round(_rss_mb(), 1))

    def __enter__(self) -> PhaseSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
