"""The remap scenario's ``changed`` and ``again`` runs of N stored contacts by the crmsync of given source
trees, on one store built once: ``python benchmarks/remap_trees.py N STORE_DIR TREE [TREE ...]``.

The store (a 10k pull, its raw table grown to N, one ``first`` remap: :mod:`benchmarks.remap`) is built in
STORE_DIR by this checkout unless STORE_DIR already holds one; each tree then remaps a copy of it in
child processes (``PYTHONPATH`` = the tree), so trees run alternately compare in the same minutes. It
prints each run's seconds, CPU seconds, records per second and per CPU second, and peak RSS. At 1M the
copy is ~1.4 GB and DuckDB's default cap (256MB) ran out of memory in ``changed`` on main at the time
of writing; ``CRMSYNC_DUCKDB_MEMORY_LIMIT=1GB`` in the environment reaches the children."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def build(n: int, root: Path) -> None:
    from benchmarks.child import run_child
    from benchmarks.common import FakeProcess, connected_project

    root.mkdir(parents=True, exist_ok=True)
    with FakeProcess("amocrm", 10_000) as fake:
        project = connected_project(root, fake)
        run_child("benchmarks.steps:crmsync_pull", project=str(root), connection="amocrm", paced=False)
    run_child("benchmarks.remap:multiply", store=str(project.store_path()), n=n)
    first = run_child("benchmarks.steps:crmsync_remap", project=str(root), pipeline="amocrm")
    print("built", root, "first remap", round(first["cpu_seconds"], 1), "CPU s", flush=True)


def remap(template: Path, tree: str) -> None:
    from benchmarks.remap import _set_mapping

    with tempfile.TemporaryDirectory(prefix="crmsync-remap-trees-") as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(template, root)
        _set_mapping(root, True)
        env = {**os.environ, "PYTHONPATH": f"{tree}/src:{tree}"}
        for variant in ("changed", "again"):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.child", "benchmarks.steps:crmsync_remap",
                                   json.dumps({"project": str(root), "pipeline": "amocrm"})],
                                  cwd=tree, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{tree} {variant} failed:\n{proc.stderr[-3000:]}")
            report = json.loads(proc.stdout.strip().splitlines()[-1])
            read, seconds = report["result"]["entities"]["contact"]["read"], report["result"]["seconds"]
            print(f"{tree} {variant}: {seconds:.1f} s, {report['cpu_seconds']:.1f} CPU s, {read / seconds:,.0f} "
                  f"records/s, {read / report['cpu_seconds']:,.0f} per CPU s, peak {report['peak_rss_mb']} MB",
                  flush=True)


def main(n: int, store_dir: Path, trees: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    if not (store_dir / "crmsync.duckdb").exists():
        build(n, store_dir)
    for tree in trees:
        remap(store_dir, str(Path(tree).resolve()))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]).resolve(), sys.argv[3:])
