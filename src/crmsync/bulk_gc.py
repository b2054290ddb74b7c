"""Python's cyclic garbage collector is off while a run moves records.

A pull allocates dozens of objects per record (parsed pages, raw rows, canonical rows) and holds
tens of thousands at a time (a read round, an apply chunk). Reference counting frees them; the
cyclic collector only walks them: with its default thresholds a 10,000-record pull made ~15 full
collections and ~1,800 young ones, 1.9–2.9 s of a 7–9 s run, for ~6,000 objects in cycles over the
whole run (dlt's configuration resolution leaves a few thousand per dlt run; nothing per record).
So during a run the collector is off, and the objects alive at its start (imports, specs) are
frozen; both are undone when the run ends, and the next collection takes what cycles it left.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_runs: list[bool] = []  # for each run in progress (runs nest: a sync's pull and push): was gc on


@contextmanager
def records_in_bulk() -> Iterator[None]:
    if not _runs:
        gc.freeze()
    _runs.append(gc.isenabled())
    gc.disable()
    try:
        yield
    finally:
        if _runs.pop():
            gc.enable()
        if not _runs:
            gc.unfreeze()
