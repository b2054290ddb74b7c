"""``python -m benchmarks``: start the fakes, run the scenarios, print a table, write one JSON file.

Every figure is a ratio against a baseline or a ceiling measured in the same run (the machine is
noisy), with the raw numbers beside it. ``--quick`` is a smoke run of every scenario in about a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    mapping,
    memory,
    noop,
    noop_sync,
    parallel_stores,
    pull,
    pull_before_after,
    push,
    remap,
    report,
    throttled,
)

SCENARIOS = ("pull", "throttled", "push", "noop", "noop_sync", "memory", "mapping", "remap", "before_after")
ON_REQUEST = ("parallel",)  # run only with --only: it needs a Postgres server and takes its own minutes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--pull-sizes", default="10000,100000",
                   help="N list for the unthrottled pull (dlt's defaults only up to 10,000: 10 GB at 100k)")
    p.add_argument("--records", default="10000",
                   help="N list for the throttled pull (default %(default)s; 100000 shows the steady state, "
                        "about 10 more minutes)")
    p.add_argument("--memory-sizes", default="10000,100000", help="N list for the memory scenario")
    p.add_argument("--with-1m", action="store_true", help="add 1,000,000 records to the memory scenario (slow)")
    p.add_argument("--push-records", default="1500,5000",
                   help="N list for the push scenario: N updates, then N/2 creates, per CRM and N (default "
                        "%(default)s: the small N shows what a run's fixed costs weigh, the large one the steady "
                        "state)")
    p.add_argument("--mapping-records", type=int, default=5_000)
    p.add_argument("--remap-sizes", default="100000,1000000", help="N list for the remap scenario")
    p.add_argument("--remap-variants", default="first,changed,again",
                   help="which remaps to run at each N (benchmarks/remap.py says what each is)")
    p.add_argument("--noop-command", default=noop.DEFAULT_COMMAND,
                   help="the no-op run's command, {pipeline} filled in (default: %(default)r)")
    p.add_argument("--store-sizes", default="100000",
                   help="contacts in the store for the no-op / 100-edit syncs (noop_sync; 1000000: ~30 more "
                        "minutes, most of it the first sync comparing every row once)")
    p.add_argument("--before", help="before_after: the 'before' commit (default: main just before the specread "
                   "merge; this checkout is 'after')")
    p.add_argument("--before-after-records", type=int, default=10_000,
                   help="before_after: contacts in each fake (default %(default)s), 3 pulls a side and CRM")
    p.add_argument("--parallel-records", type=int, default=2000,
                   help="parallel: contacts in each of the ten fakes (benchmarks/parallel_stores.py)")
    p.add_argument("--only", action="append", choices=SCENARIOS + ON_REQUEST,
                   help="run only this scenario (repeatable; 'parallel' runs only when named)")
    p.add_argument("--skip-dlt-defaults", action="store_true", help="leave out the slow dlt-defaults baseline")
    p.add_argument("--quick", action="store_true", help="smoke run: small N everywhere")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/latest.json"))
    return p


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), "0")
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram_gb": round(int(mem) / 1024 / 1024, 1),
            "python": platform.python_version(), "platform": platform.platform(),
            "dlt": version("dlt"), "duckdb": version("duckdb"), "crmsync": version("crmsync")}


def _compile_bytecode() -> None:
    """Bytecode for crmsync and the benchmarks first, as an installed package has it: where
    PYTHONDONTWRITEBYTECODE is set (as on our build machines) each measured process would otherwise
    compile every module it imports from source (~0.1 s of the no-op run, more for a push)."""
    import compileall

    root = Path(__file__).resolve().parents[1]
    for folder in (root / "src" / "crmsync", root / "benchmarks"):
        compileall.compile_dir(folder, quiet=1)


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    if args.quick:
        args.records, args.memory_sizes, args.push_records, args.mapping_records = "1000", "1000,5000", "500", 500
        args.pull_sizes, args.remap_sizes, args.store_sizes = "1000", "2000,5000", "5000"
        args.before_after_records = 1000
        args.parallel_records = 200
    sizes = [int(s) for s in args.memory_sizes.split(",")] + ([1_000_000] if args.with_1m else [])
    chosen = args.only or list(SCENARIOS)
    _compile_bytecode()
    runners = {
        "pull": lambda: pull.run_sizes([int(s) for s in args.pull_sizes.split(",")],
                                       skip_defaults=args.skip_dlt_defaults),
        "throttled": lambda: throttled.run([int(s) for s in args.records.split(",")]),
        "push": lambda: push.run([int(s) for s in args.push_records.split(",")]),
        "noop": lambda: noop.run(args.noop_command, runs=1 if args.quick else 3),
        "noop_sync": lambda: noop_sync.run([int(s) for s in args.store_sizes.split(",")],
                                           repeats=1 if args.quick else 3),
        "memory": lambda: memory.run(sizes),
        "mapping": lambda: mapping.run(args.mapping_records),
        "remap": lambda: remap.run([int(s) for s in args.remap_sizes.split(",")],
                                   seed=min(10_000, int(args.remap_sizes.split(",")[0])),
                                   variants=tuple(args.remap_variants.split(","))),
        "before_after": lambda: pull_before_after.run(before=args.before, records=args.before_after_records,
                                                      repeats=1 if args.quick else 3),
        "parallel": lambda: parallel_stores.run(args.parallel_records),
    }
    results: dict[str, Any] = {"machine": machine(), "command": "python -m benchmarks " + " ".join(argv or []),
                               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "scenarios": []}
    for name in SCENARIOS + ON_REQUEST:
        if name in chosen:
            start = time.perf_counter()
            scenario = runners[name]()
            scenario["scenario_seconds"] = round(time.perf_counter() - start, 1)
            results["scenarios"].append(scenario)
            print(report.render(scenario), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
