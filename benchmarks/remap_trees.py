"""The remap scenario's runs of N stored contacts by the crmsync of given source trees, on one store built
once: ``python benchmarks/remap_trees.py N STORE_DIR TREE [TREE ...] [--pairs K] [--variants first,changed,again]``.

The store (a 10k pull, its raw table grown to N: :mod:`benchmarks.remap`) is built in STORE_DIR by this
checkout unless STORE_DIR already holds one. Each tree in turn (``--pairs`` rounds of them, so trees
compare in the same minutes) remaps a copy of it in child processes (``PYTHONPATH`` = the tree): ``first``
(the records new to the store), ``changed`` (after a mapping change that alters every record), ``again``
(nothing changes). It prints each run's seconds, CPU seconds of the run's process and of its mapping
processes, records per second and peak RSS. At 1M the copy is ~0.4 GB before the first remap."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
VARIANTS = ("first", "changed", "again")


def build(n: int, root: Path) -> None:
    from benchmarks.child import run_child
    from benchmarks.common import FakeProcess, connected_project

    root.mkdir(parents=True, exist_ok=True)
    with FakeProcess("amocrm", 10_000) as fake:
        project = connected_project(root, fake)
        run_child("benchmarks.steps:crmsync_pull", project=str(root), connection="amocrm", paced=False)
    run_child("benchmarks.remap:multiply", store=str(project.store_path()), n=n)
    print("built", root, flush=True)


def remap(template: Path, tree: Path, variants: list[str]) -> None:
    from benchmarks.remap import _set_mapping

    where = _in_tree(tree, ["-c", "import crmsync; print(crmsync.__file__)"])
    if not where.startswith(str(tree)):
        raise SystemExit(f"crmsync came from {where}, not {tree}: is {tree} a checkout with src/crmsync?")
    with tempfile.TemporaryDirectory(prefix="crmsync-remap-trees-") as tmp:
        root = Path(tmp) / "project"
        shutil.copytree(template, root)
        for variant in variants:
            _set_mapping(root, variant != "first")
            step = json.dumps({"project": str(root), "pipeline": "amocrm"})
            report = json.loads(_in_tree(tree, ["-m", "benchmarks.child", "benchmarks.steps:crmsync_remap", step]))
            read, seconds = report["result"]["entities"]["contact"]["read"], report["result"]["seconds"]
            print(f"{tree} {variant}: {seconds:.1f} s, {report['cpu_seconds']:.1f} CPU s here + "
                  f"{report.get('children_cpu_seconds', 0.0):.1f} in mapping processes, {read / seconds:,.0f} "
                  f"records/s, peak {report['peak_rss_mb']} MB", flush=True)


def _in_tree(tree: Path, args: list[str]) -> str:
    env = {**os.environ, "PYTHONPATH": f"{tree}/src{os.pathsep}{tree}"}
    proc = subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{tree}: {' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("records", type=int)
    parser.add_argument("store_dir", type=lambda p: Path(p).resolve())
    parser.add_argument("trees", nargs="+", type=lambda p: Path(p).resolve())
    parser.add_argument("--pairs", type=int, default=1, help="rounds of the trees in turn (default 1)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="of: first, changed, again (in this order)")
    opts = parser.parse_args()
    variants = [v for v in VARIANTS if v in opts.variants.split(",")]
    sys.path.insert(0, str(HERE))
    if not (opts.store_dir / "crmsync.duckdb").exists():
        build(opts.records, opts.store_dir)
    for _ in range(opts.pairs):
        for tree in opts.trees:
            remap(opts.store_dir, tree, variants)


if __name__ == "__main__":
    main()
