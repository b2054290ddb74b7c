"""``python -m benchmarks [--records N] [--out FILE]``: run the scenarios, print a table, write JSON.

Every figure is a ratio against a baseline measured in the same run (the machine is noisy).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from benchmarks import mapping, pull


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--records", type=int, default=10_000, help="records per scenario (default 10,000)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/latest.json"))
    args = parser.parse_args()
    results = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": __import__("os").cpu_count()},
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "scenarios": [pull.run(args.records), mapping.run(min(args.records, 5_000))]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))
    for scenario in results["scenarios"]:
        print(f"\n{scenario['scenario']} — {scenario['records']:,} records")
        for name, figures in scenario.items():
            if isinstance(figures, dict):
                print(f"  {name:<14} " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
