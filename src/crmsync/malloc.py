"""The C library's malloc, tuned once for a process that works on a store (:func:`tune_malloc`).

Python's larger objects, Arrow's buffers (its system pool, crmsync.read.dlt_setup), requests and orjson
allocate through glibc's malloc; DuckDB has its own (crmsync.store). A pull of 100k records held 100-150 MB
in glibc's arenas of which 45-65 MB was in use (``python -m benchmarks.memory_where account pull``): what
the fetch thread and dlt's threads freed stayed in their own arenas, where the main thread's apply could not
reuse it. Two arenas instead of one per thread (glibc's default allows 8 per core): ~20 MB less at the peak
of a 100k pull, for the same CPU. A fixed mmap threshold (each large block returned when freed) saved ~35 MB
more but cost ~10 % of the pull's CPU in page faults, so glibc keeps its sliding one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_ARENA_MAX = -8  # glibc's mallopt parameter (malloc.h)
ARENAS = 2
_tuned = False


def tune_malloc() -> None:
    """Cap glibc's arenas, once per process, unless the user set them (``MALLOC_ARENA_MAX``, which glibc
    reads itself) or turned this off (``CRMSYNC_MALLOC_TUNING=off``)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    if os.environ.get("CRMSYNC_MALLOC_TUNING", "on") == "off" or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators are not this one
        return
    mallopt(_M_ARENA_MAX, ARENAS)
