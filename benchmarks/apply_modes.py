"""The apply step alone, batch against record by record: CPU seconds per phase (RESULTS.md section 7).

``python -m benchmarks.apply_modes --records 20000 --repeats 2``: N contacts made from the golden
canonical records are applied to a fresh DuckDB file three times — ``first`` (all new), ``changed``
(every record changed by the CRM, 10 % of rows edited locally before), ``again`` (nothing to do) —
once per mode, the modes alternated, each in the same process. No mapping and no CRM: only
:func:`crmsync.canonical.apply.apply_pulled`, committing each chunk as a pull does.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def records(n: int, generation: int) -> list[tuple[str, dict[str, Any], None, dict[str, Any]]]:
    seeds = [json.loads(p.read_text(encoding="utf-8"))["canonical"]
             for p in sorted((ROOT / "tests" / "golden").glob("*/contact/*.json"))]
    out = []
    for i in range(n):
        rec = copy.deepcopy(seeds[i % len(seeds)])
        rec["name"] = f"{rec.get('name')} {i}"
        rec["emails"] = [{"value": f"p{i}@x.example", "type": "work"}]
        if generation:
            rec["position"] = f"position {generation}"
            rec.setdefault("custom", {})["source"] = f"source {generation}"
            rec["updated_at"] = f"2026-0{generation}-01T00:00:00Z"
        out.append((str(i), rec, None, {"id": i}))
    return out


def one_mode(mode: str, n: int) -> dict[str, float]:
    import duckdb

    from crmsync.canonical.apply import apply_pulled, save_minted
    from crmsync.canonical.conflicts import ConflictRules
    from crmsync.canonical.links import LinkBook
    from crmsync.canonical.tables import ensure
    from crmsync.mapping import load_canonical

    canonical = load_canonical(ROOT)
    out = {}
    with tempfile.TemporaryDirectory(prefix="crmsync-apply-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "store.duckdb"))
        ensure(con, canonical)
        for phase, generation in (("first", 0), ("changed", 1), ("again", 1)):
            if phase == "changed":
                con.execute("UPDATE canonical.contacts SET company = 'edited', updated_at = now() "
                            "WHERE hash(id) % 10 = 0")
            items = records(n, generation)
            book = LinkBook.load(con, "amo")
            started = time.process_time()
            con.execute("BEGIN")
            apply_pulled(con, entity="contact", connection="amo", run_id=f"run-{phase}", schema=canonical["contact"],
                         book=book, results=items, rules=ConflictRules("contact", default="newest_wins"), mode=mode,
                         after_chunk=lambda book=book: (save_minted(con, book), con.execute("COMMIT"),
                                                        con.execute("BEGIN")))
            save_minted(con, book)
            con.execute("COMMIT")
            out[phase] = round(time.process_time() - started, 3)
        con.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for _ in range(args.repeats):
        for mode in ("rows", "batch"):
            print(json.dumps({"mode": mode, "records": args.records, "cpu_s": one_mode(mode, args.records)}),
                  flush=True)


if __name__ == "__main__":
    main()
