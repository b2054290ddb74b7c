"""One unthrottled AmoCRM pull of N contacts by the crmsync of a given source tree, in this process:
``python benchmarks/pull_trees.py N TREE`` (TREE: a checkout, e.g. a ``git worktree`` of an older commit).
Run it alternately for two trees to compare them in the same minutes; it prints wall and CPU seconds,
peak RSS and the pull's own timings."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path


def main(n: int, tree: str) -> None:
    sys.path[:0] = [f"{tree}/src", tree]
    import crmsync
    from benchmarks.common import FakeProcess, connected_project, quiet_dlt
    from benchmarks.pull import warm
    from benchmarks.steps import crmsync_pull

    if not crmsync.__file__.startswith(str(Path(tree).resolve())):
        raise SystemExit(f"crmsync came from {crmsync.__file__}, not {tree}: unset PYTHONPATH")
    quiet_dlt()
    with FakeProcess("amocrm", n) as fake, tempfile.TemporaryDirectory(prefix="crmsync-trees-") as root:
        warm(fake)
        connected_project(Path(root), fake)
        wall, cpu = time.perf_counter(), time.process_time()
        report = crmsync_pull(root, "amocrm", paced=False)
        # the fake is waited for only when it stops, after this: the children here are the mapping processes
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(tree, "wall", round(time.perf_counter() - wall, 2), "cpu", round(time.process_time() - cpu, 2),
              "peak_rss_mb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
              "mapping_processes_cpu", round(children.ru_utime + children.ru_stime, 2),
              "mapping_process_peak_rss_mb", children.ru_maxrss // 1024, report["timings"], flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), str(Path(sys.argv[2]).resolve()))
