"""Where a run's memory is: ``python -m benchmarks.memory_where imports`` (RSS each import adds) or
``python -m benchmarks.memory_where remap PROJECT [--every K]`` (a remap in this process, with the
process's RSS and DuckDB's own accounting, ``duckdb_memory()``, after every K committed chunks).

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["imports", "remap"])
    parser.add_argument("project", nargs="?")
    parser.add_argument("--pipeline", default="amocrm")
    parser.add_argument("--every", type=int, default=25, help="sample after every K committed chunks")
    args = parser.parse_args()
    if args.what == "imports":
        out: Any = imports()
    else:
        if not args.project:
            parser.error("remap needs the PROJECT folder")
        out = remap(args.project, args.pipeline, args.every)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
