"""Scenario 7: a run's cost follows the number of changes, not the size of the store (issue 18).

A store of N contacts (and deals and tasks in the fake's proportion, 2 of each for 5 contacts) is
built quickly: a small real set is pulled from the fake AmoCRM once and synced, then its rows are
multiplied with DuckDB SQL, consistently in ``canonical.*``, the raw tables and ``sync.links`` (new
canonical ids, remote ids shifted past the fake's, the same base and raw content), so every copy is
a record the store agrees with its CRM about. Pulling a million records at the CRM's rate would
take hours; only the store's size matters here, not how it was filled.

Then, as whole processes (wall time and peak RSS, children included, from ``wait4``), each repeated:

* ``crmsync sync`` with nothing to do (the first one after the build is reported apart: it is the
  first to see the copies);
* ``crmsync pull`` with nothing to do;
* ``crmsync sync`` after 100 local edits made with SQL (``UPDATE canonical.contacts …``) of records
  the fake holds, so they are really written;
* baselines in the same run: ``crmsync --version`` (interpreter and CLI start) and a DuckDB
  ``SELECT count(*)`` of the store in a fresh process.

Targets: a no-op sync ≤ 1.0 s and ≤ 150 MB at 1M; a sync of 100 edits ≤ 2 s plus the CRM's own time
(the fake's write and read-back requests at the real rate limits).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.child import run_child
from benchmarks.common import FakeProcess, connected_project

SEED = {"contact": 500, "deal": 200, "task": 200}  # what is pulled from the fake, then multiplied
TABLES = {"contact": "contacts", "deal": "deals", "task": "tasks"}
SHIFT = 100_000_000  # remote ids of copy k are the fake's + k * SHIFT: never one of the fake's own
EDITS = 100


def build(root: Path, fake: FakeProcess, contacts: int) -> None:
    """A project at ``root`` connected to ``fake`` whose store holds ``contacts`` contacts (multiplied)."""
    project = connected_project(root, fake)
    run_child("benchmarks.steps:crmsync_pull", project=str(root), connection=fake.crm, paced=True,
              entities=list(SEED))
    _cli(["sync", fake.crm], root)  # agreed both ways before copying
    copies = max(1, contacts // SEED["contact"])
    import duckdb

    con = duckdb.connect(str(project.store_path()))
    try:
        con.execute("SET preserve_insertion_order = false")
        for entity, table in TABLES.items():
            _multiply(con, fake.crm, entity, table, copies)
        con.execute("CHECKPOINT")
    finally:
        con.close()


def _multiply(con: Any, connection: str, entity: str, table: str, copies: int) -> None:
    raw = f"raw_{connection}.{entity}"
    con.execute(f"""CREATE TEMP TABLE ids AS SELECT l.canonical_id AS old, l.remote_id, k, uuid()::VARCHAR AS new
                    FROM sync.links l, range(1, {copies}) r(k) WHERE l.entity = ? AND l.connection = ?""",
                [entity, connection])
    cols = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE canonical.{table})").fetchall()]
    select = ", ".join("i.new" if c == "id" else f'c."{c}"' for c in cols)
    con.execute(f"INSERT INTO canonical.{table} SELECT {select} FROM canonical.{table} c JOIN ids i ON i.old = c.id")
    link_cols = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE sync.links)").fetchall()]
    shifted = {"remote_id": f"CAST(CAST(l.remote_id AS BIGINT) + i.k * {SHIFT} AS VARCHAR)", "canonical_id": "i.new"}
    select = ", ".join(shifted.get(c, f'l."{c}"') for c in link_cols)
    con.execute(f"INSERT INTO sync.links SELECT {select} FROM sync.links l JOIN ids i ON i.old = l.canonical_id "
                "AND i.remote_id = l.remote_id WHERE l.entity = ? AND l.connection = ?", [entity, connection])
    raw_cols = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {raw})").fetchall()]
    shifted = {"id": f"r.id + i.k * {SHIFT}", "_dlt_id": "substr(md5(r._dlt_id || i.k::VARCHAR), 1, 14)"}
    select = ", ".join(shifted.get(c, f'r."{c}"') for c in raw_cols)
    con.execute(f"INSERT INTO {raw} SELECT {select} FROM {raw} r JOIN ids i ON i.remote_id = CAST(r.id AS VARCHAR)")
    con.execute("DROP TABLE ids")


def _cli(args: list[str], root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crmsync", *args, "--project-dir", str(root)], check=True,
                          capture_output=True, text=True)


# Measured from a small launcher process: a child forked from this one (DuckDB loaded, ~150 MB)
# would report this process's RSS as its own peak, since ru_maxrss carries over across exec.
_LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=[
    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def measure(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one whole process (and any children it waited for)."""
    import json

    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, *argv], capture_output=True, text=True, check=True)
    wall, rss, code = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"{argv} failed with exit code {code}:\n{proc.stderr[-3000:]}")
    return wall, rss


def _edit(root: Path, connection: str, round_no: int) -> None:
    """``EDITS`` local edits by SQL of contacts the fake holds (copy 0: remote ids below SHIFT)."""
    import duckdb

    con = duckdb.connect(str(root / "crmsync.duckdb"))
    try:
        con.execute(f"""UPDATE canonical.contacts SET position = 'Edited {round_no} ' || id, updated_at = now()
                        WHERE id IN (SELECT canonical_id FROM sync.links WHERE entity = 'contact' AND connection = ?
                                     AND CAST(remote_id AS BIGINT) < {SHIFT} ORDER BY remote_id LIMIT {EDITS})""",
                    [connection])
    finally:
        con.close()


def run(sizes: list[int], repeats: int = 3, crm: str = "amocrm",
        done: Callable[[list[dict[str, Any]]], None] = lambda _: None) -> dict[str, Any]:
    """``done``: called with each size's rows as soon as they are measured (a 1M run takes long)."""
    out: dict[str, Any] = {"scenario": "no-op and 100-edit runs against a large store (whole processes)",
                           "repeats": repeats, "rows": []}
    py = [sys.executable, "-m", "crmsync"]
    for n in sizes:
        with FakeProcess(crm, SEED["contact"], rate_limit=True, deals=SEED["deal"], tasks=SEED["task"]) as fake, \
                tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
            root = Path(tmp)
            started = time.perf_counter()
            build(root, fake, n)
            built = time.perf_counter() - started
            store = root / "crmsync.duckdb"
            size_mb = store.stat().st_size / 1e6
            project = ["--project-dir", str(root)]
            first = measure([*py, "sync", crm, *project])
            runs: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                                          ("version", "count", "noop_sync", "noop_pull", "edit_sync")}
            count = [sys.executable, "-c", "import duckdb,sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                     "print(c.execute('SELECT count(*) FROM canonical.contacts').fetchone()[0])", str(store)]
            requests_before = None
            for r in range(repeats):
                runs["version"].append(measure([*py, "--version"]))
                runs["count"].append(measure(count))
                runs["noop_sync"].append(measure([*py, "sync", crm, *project]))
                runs["noop_pull"].append(measure([*py, "pull", crm, *project]))
                _edit(root, crm, r)
                fake.admin("DELETE", "stats")
                runs["edit_sync"].append(measure([*py, "sync", crm, *project]))
                requests_before = fake.stats()["total"]
            rows = _ratio_rows(n, runs, first)
            for row in rows:
                row["store_mb"] = round(size_mb)
                row["build_s"] = round(built, 1)
            rows[-1]["edit_requests"] = requests_before
            out["rows"] += rows
            done(rows)
    out["targets"] = {"noop sync at 1M": "<= 1.0 s, <= 150 MB", "100 edits at 1M": "<= 2 s + the CRM's own time"}
    return out


def _ratio_rows(n: int, runs: dict[str, list[tuple[float, float]]], first: tuple[float, float]) -> list[dict[str, Any]]:
    base = statistics.median(w for w, _ in runs["version"])
    rows = [{"records": n, "step": "first sync after the build", "wall_s": round(first[0], 3),
             "walls": [round(first[0], 3)], "peak_rss_mb": round(first[1], 1), "x_version": round(first[0] / base, 2)}]
    names = {"version": "crmsync --version", "count": "duckdb SELECT count(*)", "noop_sync": "no-op sync",
             "noop_pull": "no-op pull", "edit_sync": f"sync of {EDITS} SQL edits"}
    for key, label in names.items():
        walls = [w for w, _ in runs[key]]
        rows.append({"records": n, "step": label, "wall_s": round(statistics.median(walls), 3),
                     "walls": [round(w, 3) for w in walls], "peak_rss_mb": round(max(m for _, m in runs[key]), 1),
                     "x_version": round(statistics.median(walls) / base, 2)})
    return rows


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from benchmarks import report

    p = argparse.ArgumentParser(prog="python -m benchmarks.noop_sync", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="100000,1000000", help="contacts in the store (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/noop_sync.json"))
    args = p.parse_args(argv)
    from benchmarks.__main__ import _compile_bytecode

    _compile_bytecode()
    def done(rows: list[dict[str, Any]]) -> None:
        print(report.table(rows), flush=True)

    result = run([int(s) for s in args.sizes.split(",")], args.repeats, done=done)
    print(report.render(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])

