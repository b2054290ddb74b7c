"""Where a run's memory is: ``python -m benchmarks.memory_where imports`` (RSS each import adds) or
``python -m benchmarks.memory_where remap PROJECT [--every K]`` (a remap in this process, with the
process's RSS and DuckDB's own accounting, ``duckdb_memory()``, after every K committed chunks), or
``python -m benchmarks.memory_where art --rows N --cap 128MB`` (what the two primary keys a remap writes
through hold in a bare DuckDB file of N rows: chunks of new rows inserted under the cap).

Not a scenario of ``python -m benchmarks``: a diagnostic for a store that already exists (e.g. one kept by
the remap scenario, or built with its ``multiply``). The gap between the RSS and DuckDB's tags is the
process's imports, its Python heap and the native memory DuckDB does not account for (query results).
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import time
from typing import Any

from benchmarks.phases import _rss_mb

IMPORTS = ("duckdb", "pyarrow", "pyarrow.compute", "orjson", "requests", "phonenumbers", "dlt", "crmsync.pull",
           "crmsync.remap", "crmsync.cli")


def imports(modules: tuple[str, ...] = IMPORTS) -> list[dict[str, Any]]:
    rows = []
    for name in modules:
        before = _rss_mb()
        importlib.import_module(name)
        rows.append({"module": name, "adds_mb": round(_rss_mb() - before, 1), "rss_mb": round(_rss_mb(), 1)})
    return rows


def remap(project: str, pipeline: str = "amocrm", every: int = 25) -> dict[str, Any]:
    import crmsync.pull as pull
    from crmsync.project import Project
    from crmsync.remap import run_remap

    commit, chunks, samples, peaks = pull._commit_chunk, [0], [], {}

    def probed(con: Any, book: Any) -> None:
        commit(con, book)
        chunks[0] += 1
        if chunks[0] % every == 0:
            tags = {tag: round(size / 2**20, 1) for tag, size in con.execute(
                "SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall() if size}
            for tag, mb in tags.items():
                peaks[tag] = max(peaks.get(tag, 0.0), mb)
            samples.append({"chunk": chunks[0], "rss_mb": round(_rss_mb(), 1), "duckdb_mb": tags})

    pull._commit_chunk = probed
    started, rss_before = time.process_time(), _rss_mb()
    try:
        result = run_remap(Project.at(project), pipeline)
    finally:
        pull._commit_chunk = commit
    return {"rss_before_mb": round(rss_before, 1), "cpu_s": round(time.process_time() - started, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "duckdb_peaks_mb": peaks, "samples": samples, "entities": result.entities}


def art(rows: int, cap: str, chunks: int = 100, chunk: int = 2000) -> dict[str, Any]:
    """``canonical.contacts(id)`` and ``sync.links``' key, as tables of their own: DuckDB loads an ART index
    whole on the first insert and keeps it pinned, so a cap below the indexes fails that insert."""
    import tempfile
    from pathlib import Path

    import duckdb

    with tempfile.TemporaryDirectory(prefix="crmsync-art-") as tmp:
        path = str(Path(tmp) / "art.duckdb")
        con = duckdb.connect(path)
        con.execute("CREATE TABLE c (id VARCHAR PRIMARY KEY, name VARCHAR, n BIGINT)")
        con.execute("CREATE TABLE l (entity VARCHAR, connection VARCHAR, remote_id VARCHAR, canonical_id VARCHAR, "
                    "PRIMARY KEY (entity, connection, remote_id))")
        con.execute("INSERT INTO c SELECT uuid()::VARCHAR, 'name ' || i, i FROM range(?) r(i)", [rows])
        con.execute("INSERT INTO l SELECT 'contact', 'amocrm', i::VARCHAR, uuid()::VARCHAR FROM range(?) r(i)", [rows])
        con.close()
        con = duckdb.connect(path)
        con.execute(f"SET memory_limit = '{cap}'")
        samples: list[dict[str, Any]] = []
        failed = None
        for k in range(chunks):
            try:
                con.execute("BEGIN")
                con.execute("INSERT INTO c SELECT uuid()::VARCHAR, 'x', i FROM range(?) r(i) ON CONFLICT DO UPDATE "
                            "SET n = excluded.n", [chunk])
                con.execute("INSERT INTO l SELECT 'contact', 'amocrm', 'new' || ? || '-' || i, uuid()::VARCHAR "
                            "FROM range(?) r(i) ON CONFLICT DO NOTHING", [k, chunk])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                failed = {"chunk": k, "error": str(exc).splitlines()[0]}
                break
            if k % 25 == 0:
                samples.append({"chunk": k, "rss_mb": round(_rss_mb(), 1), "duckdb_mb": {
                    tag: round(size / 2**20, 1) for tag, size in con.execute(
                        "SELECT tag, memory_usage_bytes FROM duckdb_memory()").fetchall() if size}})
        con.close()
    return {"rows": rows, "cap": cap, "failed": failed, "samples": samples,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["imports", "remap", "art"])
    parser.add_argument("project", nargs="?")
    parser.add_argument("--pipeline", default="amocrm")
    parser.add_argument("--every", type=int, default=25, help="sample after every K committed chunks")
    parser.add_argument("--rows", type=int, default=1_000_000, help="art: rows in each table")
    parser.add_argument("--cap", default="128MB", help="art: DuckDB's memory_limit for the inserts")
    args = parser.parse_args()
    if args.what == "imports":
        out: Any = imports()
    elif args.what == "art":
        out = art(args.rows, args.cap)
    else:
        if not args.project:
            parser.error("remap needs the PROJECT folder")
        out = remap(args.project, args.pipeline, args.every)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
