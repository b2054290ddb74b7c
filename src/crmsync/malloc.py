"""The C library's malloc, tuned once for a process that works on a store (:func:`tune_malloc`).

Python's larger objects, Arrow's buffers (its system pool, crmsync.read.dlt_setup), requests and orjson
allocate through glibc's malloc; DuckDB has its own (crmsync.store). A pull of 100k records held 100-150 MB
in glibc's arenas of which 45-65 MB was in use (``python -m benchmarks.memory_where account pull``): freed
page bodies and Arrow buffers kept by the arena of the thread that read them, and by glibc's sliding
mmap threshold, which after the first large free serves every later large block from an arena instead of
mapping it. A fixed threshold returns each large block to the system when it is freed, and two arenas
keep the fetch thread's garbage where the main thread reuses it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed
ARENAS = 2
_tuned = False


def tune_malloc() -> None:
    """Set glibc's mmap threshold and arena count, once per process, unless the user set them
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_ARENA_MAX``: glibc reads those itself). Nothing elsewhere."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    if os.environ.get("CRMSYNC_MALLOC_TUNING", "on") == "off":
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their allocators are not this one
        return
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, ARENAS)
