"""Where a run's memory is: ``python -m benchmarks.memory_where imports`` (RSS each import adds) or
``python -m benchmarks.memory_where remap PROJECT [--every K]`` (a remap in this process, with the
process's RSS and DuckDB's own accounting, ``duckdb_memory()``, after every K committed chunks), or
``python -m benchmarks.memory_where art --rows N --cap 128MB`` (what the two primary keys a remap writes
through hold in a bare DuckDB file of N rows: chunks of new rows inserted under the cap), or
``python -m benchmarks.memory_where account pull --rows N`` / ``account remap PROJECT`` (a pull of N contacts from
a fake in another process, or a remap of a kept project, in this process, with the RSS split by allocator at its
peak: :class:`Account`).

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
from pathlib import Path
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

    def probed(con: Any, book: Any, **how: Any) -> None:
        commit(con, book, **how)
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


class Account:
    """Samples, from a thread, the process's RSS and what each allocator says it holds, and keeps the sample
    taken at the peak RSS (and each phase's peak, :mod:`benchmarks.phases`):

    - ``duckdb_*``: DuckDB's own jemalloc (``stats.allocated`` in use, ``stats.resident`` pages it keeps);
    - ``glibc_*``: malloc's arenas (``mallinfo2``: ``in_use`` of ``held``), where Python's objects larger than
      512 bytes, Arrow's system pool, dlt, orjson and requests allocate;
    - ``arrow_mb``: what pyarrow's default pool has allocated (a part of glibc's with the system pool);
    - ``python_mb``: ``tracemalloc``'s traced memory (``--trace``; slows the run ~2x), else absent;
    - ``other_anon_mb``: anonymous RSS none of those hold (pymalloc's arenas, thread stacks);
    - ``file_mb``: mapped files (the libraries' code, the DuckDB file is read, not mapped).
    """

    def __init__(self, interval: float = 0.1, trace: bool = False, spill: str | None = None) -> None:
        import ctypes
        import threading

        import _duckdb

        from benchmarks.phases import _phase

        self._phase = _phase
        self.interval, self.trace, self.spill = interval, trace, spill
        self.peak: dict[str, Any] = {}
        self.phases: dict[str, float] = {}
        self.errors: list[str] = []
        self.timeline: list[tuple[Any, ...]] = []  # (s, phase, rss, duckdb allocated, resident, glibc held, in use,
        #                                                 spilled)
        self.began = time.perf_counter()
        self._stop = threading.Event()
        self._main = threading.get_ident()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._je = ctypes.CDLL(_duckdb.__file__).duckdb_je_mallctl  # DuckDB links jemalloc in, prefixed
        self._je.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p,
                             ctypes.c_size_t]
        self._glibc = ctypes.CDLL("libc.so.6")
        self._glibc.mallinfo2.restype = _Mallinfo2

    def _jemalloc(self, name: str) -> float:
        import ctypes

        value, size = ctypes.c_size_t(), ctypes.c_size_t(ctypes.sizeof(ctypes.c_size_t))
        self._je(name.encode(), ctypes.byref(value), ctypes.byref(size), None, 0)
        return value.value / 2**20

    def sample(self) -> dict[str, Any]:
        import ctypes
        import sys
        import tracemalloc

        epoch, size = ctypes.c_uint64(1), ctypes.c_size_t(8)
        self._je(b"epoch", ctypes.byref(epoch), ctypes.byref(size), ctypes.byref(epoch), 8)  # refresh the stats
        info = self._glibc.mallinfo2()
        status = {k: int(v.split()[0]) / 1024 for k, _, v in (line.partition(":") for line in
                  Path("/proc/self/status").read_text().splitlines()) if k in ("VmRSS", "RssAnon", "RssFile")}
        out = {"rss_mb": status["VmRSS"], "anon_mb": status["RssAnon"], "file_mb": status["RssFile"],
               "duckdb_allocated_mb": self._jemalloc("stats.allocated"),
               "duckdb_resident_mb": self._jemalloc("stats.resident"),
               "glibc_in_use_mb": (info.uordblks + info.hblkhd) / 2**20,
               "glibc_held_mb": (info.arena + info.hblkhd) / 2**20}
        if "pyarrow" in sys.modules:
            out["arrow_mb"] = sys.modules["pyarrow"].total_allocated_bytes() / 2**20
        if self.trace and tracemalloc.is_tracing():
            out["python_mb"], out["python_peak_mb"] = (v / 2**20 for v in tracemalloc.get_traced_memory())
        # glibc's held pages are not all resident (freed and untouched ones are not): an upper bound here
        out["other_anon_mb"] = out["anon_mb"] - out["duckdb_resident_mb"] - out["glibc_held_mb"]
        if self.spill is not None:  # what DuckDB spilled beyond its cap (its temp folder beside the store)
            out["spilled_mb"] = sum(f.stat().st_size for f in Path(self.spill).glob("*")) / 2**20
        return {k: round(v, 1) for k, v in out.items()}

    def _run(self) -> None:
        import sys

        while not self._stop.wait(self.interval):
            try:
                now = self.sample()
            except Exception as exc:  # noqa: BLE001  (a sampler that dies silently reports a false peak)
                self.errors.append(repr(exc))
                continue
            phase = self._phase(sys._current_frames().get(self._main))
            if len(self.timeline) < 10_000:
                self.timeline.append((round(time.perf_counter() - self.began, 1), phase, now["rss_mb"],
                                      now["duckdb_allocated_mb"], now["duckdb_resident_mb"], now["glibc_held_mb"],
                                      now["glibc_in_use_mb"], now.get("spilled_mb")))
            self.phases[phase] = max(self.phases.get(phase, 0.0), now["rss_mb"])
            if now["rss_mb"] >= self.peak.get("rss_mb", 0.0):
                self.peak = {**now, "phase": phase}

    def __enter__(self) -> Account:
        import tracemalloc

        if self.trace:
            tracemalloc.start()
        self.start = self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.end = self.sample()
        self.mapped = self.files()

    def files(self) -> dict[str, float]:
        """Resident MB of each mapped file (the libraries' pages the run touched), largest first."""
        sizes: dict[str, float] = {}
        name = ""
        for line in Path("/proc/self/smaps").read_text().splitlines():
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:
                name = head[5] if len(head) > 5 else "[anon]"
            elif head and head[0] == "Rss:":
                sizes[name] = sizes.get(name, 0.0) + int(head[1]) / 1024
        return {k.rsplit("/", 1)[-1]: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:12]}

    def report(self) -> dict[str, Any]:
        return {"start": self.start, "peak": self.peak, "end": self.end, "phase_peaks_mb": self.phases,
                "sampler_errors": self.errors[:3],
                "resident_by_mapping_mb": self.mapped,
                "timeline": self.timeline[::max(1, len(self.timeline) // 60)],
                "ru_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _mallinfo2() -> Any:
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    return Mallinfo2


_Mallinfo2 = _mallinfo2()


def account_pull(rows: int, trace: bool = False) -> dict[str, Any]:
    """One unthrottled AmoCRM pull of ``rows`` contacts in this process (the fake in its own), accounted."""
    import tempfile

    import crmsync.pull  # noqa: F401  (its imports are in the start sample, not the run's growth)
    from benchmarks.common import FakeProcess, connected_project, quiet_dlt
    from benchmarks.pull import warm
    from benchmarks.steps import crmsync_pull

    quiet_dlt()
    with FakeProcess("amocrm", rows) as fake, tempfile.TemporaryDirectory(prefix="crmsync-account-") as root:
        warm(fake)
        connected_project(Path(root), fake)
        cpu = time.process_time()
        with Account(trace=trace, spill=f"{root}/crmsync.duckdb.tmp") as account:
            result = crmsync_pull(root, "amocrm", paced=False)
        cpu = time.process_time() - cpu
    return {"records": rows, "cpu_s": round(cpu, 1), **account.report(), "timings": result["timings"]}


def account_remap(project: str, pipeline: str = "amocrm", trace: bool = False) -> dict[str, Any]:
    """One remap of the kept ``project`` in this process, accounted."""
    from crmsync.project import Project
    from crmsync.remap import run_remap

    cpu = time.process_time()
    with Account(trace=trace) as account:
        result = run_remap(Project.at(project), pipeline)
    import sys

    return {"cpu_s": round(time.process_time() - cpu, 1), **account.report(), "entities": result.entities,
            "heavy_imports": [name for name in ("dlt", "pyarrow", "requests") if name in sys.modules]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["imports", "remap", "art", "account"])
    parser.add_argument("project", nargs="?", help="remap: the project; account: `pull` or the remap's project")
    parser.add_argument("--trace", action="store_true", help="account: Python's heap by tracemalloc (slower)")
    parser.add_argument("--pipeline", default="amocrm")
    parser.add_argument("--every", type=int, default=25, help="sample after every K committed chunks")
    parser.add_argument("--rows", type=int, default=1_000_000, help="art: rows in each table; account pull: contacts")
    parser.add_argument("--cap", default="128MB", help="art: DuckDB's memory_limit for the inserts")
    args = parser.parse_args()
    if args.what == "imports":
        out: Any = imports()
    elif args.what == "account":
        if args.project == "pull":
            out = account_pull(args.rows, args.trace)
        elif args.project:
            out = account_remap(args.project, args.pipeline, args.trace)
        else:
            parser.error("account needs `pull` or the PROJECT folder of a remap")
    elif args.what == "art":
        out = art(args.rows, args.cap)
    else:
        if not args.project:
            parser.error("remap needs the PROJECT folder")
        out = remap(args.project, args.pipeline, args.every)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
