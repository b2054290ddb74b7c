"""glibc's malloc tuned for a store's process (crmsync.malloc): threads share two arenas."""

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes, threading
from crmsync.malloc import tune_malloc

tune_malloc()
together = threading.Barrier(6)
kept = []

def work():
    together.wait()  # all alive at once: a thread that ended would hand its arena to the next
    kept.append([bytearray(2000) for _ in range(100)])  # above pymalloc's 512 bytes: glibc's malloc
    together.wait()

threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one block per arena, on stderr
"""


def _arenas(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CRMSYNC_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return sum(line.startswith("Arena ") for line in out.stderr.splitlines())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_share_two_arenas():
    assert _arenas() == 2
    assert _arenas(CRMSYNC_MALLOC_TUNING="off") > 2  # glibc's default: an arena per thread
    assert _arenas(MALLOC_ARENA_MAX="3") == 3  # the user's setting wins
