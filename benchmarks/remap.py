"""Scenario 7: ``crmsync remap`` — canonical records per second and peak RSS, beside the store's floor.

A fake AmoCRM (its own process) serves ``seed`` contacts once; one pull stores them (raw table,
canonical, links, metadata) and the fake stops: a remap calls no CRM. The raw table is then grown to
each N by copying its rows in SQL under new ids (``multiply``), and per N three remaps run, each in a
fresh process (:mod:`benchmarks.child`: its own ``ru_maxrss`` and CPU time; ``remap_s`` is the run's
own time, from its lock to its commit, without the process start and imports):

* ``first``: the copies are new to the store (new canonical rows, links, history: like a first pull's apply);
* ``changed``: after a mapping change that alters every record (a new custom field copied from another,
  an enum map on ``custom.source``): every record is merged, recorded and re-based;
* ``again``: the same mapping once more: nothing changes.

``floor_s``: a DuckDB ``CREATE TABLE … AS SELECT *`` of the same raw table — what moving the rows
costs the store with no mapping and no merge at all.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project

MEMO = "\n  custom.memo: {from: {custom_field: {name: Заметки}}, transforms: [{type: cf_value}, {type: text}], " \
       "direction: pull}\n"
SOURCE = "custom.source: {from: {custom_field: {name: Источник}}, transforms: [{type: cf_enum}]}"
MAPPED = ("custom.source: {from: {custom_field: {name: Источник}}, transforms: [{type: cf_enum}, {type: map, values: "
          "{Сайт: web, Рекомендация: referral, Выставка: expo, Cold call: cold_call}}]}")


def multiply(store: str, n: int) -> int:
    """Grow ``raw_amocrm.contact`` to ``n`` rows: copies of the pulled ones under ids no CRM record has."""
    import duckdb

    con = duckdb.connect(str(store))
    try:
        con.execute("CREATE TABLE IF NOT EXISTS raw_amocrm.bench_seed AS SELECT * FROM raw_amocrm.contact")
        seed = con.execute("SELECT count(*) FROM raw_amocrm.bench_seed").fetchone()[0]
        have = con.execute("SELECT count(*) FROM raw_amocrm.contact").fetchone()[0]
        rounds = -(-(n - have) // seed)
        first = have // seed
        con.execute("INSERT INTO raw_amocrm.contact SELECT s.* REPLACE (s.id + k * 1000000000 AS id, "
                    "s._dlt_id || '-' || k AS _dlt_id) FROM raw_amocrm.bench_seed s, range(?, ?) r(k) "
                    f"LIMIT {int(n - have)}", [first, first + rounds])
        return con.execute("SELECT count(*) FROM raw_amocrm.contact").fetchone()[0]
    finally:
        con.close()


def floor_seconds(store: str) -> float:
    import duckdb

    con = duckdb.connect(str(store))
    try:
        start = time.perf_counter()
        con.execute("CREATE OR REPLACE TABLE raw_amocrm.bench_floor AS SELECT * FROM raw_amocrm.contact")
        seconds = time.perf_counter() - start
        con.execute("DROP TABLE raw_amocrm.bench_floor")
        return seconds
    finally:
        con.close()


def _set_mapping(root: Path, changed: bool) -> None:
    path = root / "mappings" / "amocrm" / "contact.yaml"
    text = path.read_text().replace(MEMO, "").replace(MAPPED, SOURCE)
    path.write_text(text.replace(SOURCE, MAPPED) + MEMO if changed else text)


VARIANTS = ("first", "changed", "again")


def run(sizes: list[int], seed: int = 10_000, variants: tuple[str, ...] = VARIANTS) -> dict[str, Any]:
    out: dict[str, Any] = {"scenario": "remap: stored raw records mapped again", "rows": []}
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
        root = Path(tmp)
        with FakeProcess("amocrm", seed) as fake:
            project = connected_project(root, fake)
            run_child("benchmarks.steps:crmsync_pull", project=tmp, connection="amocrm", paced=False)
        store = str(project.store_path())
        changed = False
        for n in sizes:
            # In children too: a forked child's peak RSS starts at its parent's size (Linux keeps the
            # high-water mark across exec), and DuckDB's work here would leave the harness large.
            rows = run_child("benchmarks.remap:multiply", store=store, n=n)["result"]
            floor = run_child("benchmarks.remap:floor_seconds", store=store)["result"]
            for variant in [v for v in VARIANTS if v in variants]:
                if variant == "changed":
                    changed = not changed
                    _set_mapping(root, changed)
                report = run_child("benchmarks.steps:crmsync_remap", project=tmp, pipeline="amocrm")
                counts = report["result"]["entities"]["contact"]
                out["rows"].append({
                    "records": rows, "variant": variant, "seconds": round(report["seconds"], 1),
                    "remap_s": round(report["result"]["seconds"], 1), "cpu_s": round(report["cpu_seconds"], 1),
                    "records_per_s": round(rows / report["result"]["seconds"]),
                    "per_cpu_s": round(rows / report["cpu_seconds"]), "applied": counts["applied"],
                    "rejected": counts["rejected"], "peak_rss_mb": report["peak_rss_mb"],
                    # the mapping processes (crmsync.map_process): their CPU, and the largest one's peak RSS
                    "map_cpu_s": round(report["children_cpu_seconds"], 1), "map_rss_mb": report["children_peak_rss_mb"],
                    "floor_s": round(floor, 2), "vs_floor": round(report["result"]["seconds"] / floor, 1)})
    out["target"] = "remap at 1M >= 25,000 canonical records/s; peak RSS <= 300 MB"
    return out
