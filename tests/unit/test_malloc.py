"""glibc's malloc tuned for a store's process (crmsync.malloc): a large block freed goes back to the system."""

import os
import subprocess
import sys

import pytest

PROBE = """
import ctypes
from crmsync.malloc import tune_malloc

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
tune_malloc()
big = bytearray(8 << 20)
del big  # glibc's sliding threshold now serves blocks below 8 MB from an arena
before = libc.mallinfo2().hblks
block = bytearray(512 << 10)
print(libc.mallinfo2().hblks - before)
"""


def _mapped_blocks(**env: str) -> int:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "CRMSYNC_MALLOC"))}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                         check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_a_large_block_is_mapped_on_its_own_after_a_larger_one_was_freed():
    assert _mapped_blocks() == 1
    assert _mapped_blocks(CRMSYNC_MALLOC_TUNING="off") == 0  # glibc's default: the arena keeps it
    assert _mapped_blocks(MALLOC_MMAP_THRESHOLD_=str(16 << 20)) == 0  # the user's setting wins
