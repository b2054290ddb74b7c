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

import shutil
import statistics
import subprocess
import sys
import tempfile
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
out = sys.argv[1] or os.devnull  # where the measured process's stdout goes
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=[
    (os.POSIX_SPAWN_OPEN, 1, out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)])
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status),
                  usage.ru_utime + usage.ru_stime]))
"""


def measure(argv: list[str], stdout: Path | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS in MB and CPU seconds (user + system, every thread) of one whole process
    (and any children it waited for); its stdout goes to ``stdout`` when given."""
    import json

    proc = subprocess.run([sys.executable, "-c", _LAUNCHER, str(stdout or ""), *argv], capture_output=True, text=True,
                          check=True)
    wall, rss, code, cpu = json.loads(proc.stdout.strip().splitlines()[-1])
    if code != 0:
        raise RuntimeError(f"{argv} failed with exit code {code}:\n{proc.stderr[-3000:]}")
    return wall, rss, cpu


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


STEPS = {  # key → label, in the order of a round
    "version": "crmsync --version",
    "count": "duckdb SELECT count(*)",
    "noop_pull": "no-op pull",
    "scan_sync": "no-op sync after another run wrote (compares by buckets)",
    "noop_sync": "no-op sync",
    "edit_sync": f"sync of {EDITS} SQL edits",
    "echo_sync": "next sync (reads the edits back from the CRM)",
}


def run(sizes: list[int], repeats: int = 3, crm: str = "amocrm", compare: str | None = None, keep: Path | None = None,
        done: Callable[[list[dict[str, Any]]], None] = lambda _: None) -> dict[str, Any]:
    """``compare``: another Python (e.g. main's virtualenv) whose crmsync runs every crmsync step too, on
    a copy of the same store, after this one and with a fake of its own (``before`` rows). ``keep``: a folder where each
    size's built and first-synced project is kept and reused by later runs (building 1M and its first
    sync take minutes). ``done``: called with each size's rows as soon as they are measured."""
    out: dict[str, Any] = {"scenario": "no-op and 100-edit runs against a large store (whole processes)",
                           "repeats": repeats, "rows": []}
    pythons = {"after": sys.executable, **({"before": compare} if compare else {})}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="crmsync-bench-") as tmp:
            built, first, port = _built(n, crm, keep or Path(tmp) / "kept")
            runs = {v: {k: [] for k in STEPS} for v in pythons}
            crm_time: dict[str, list[float]] = {v: [] for v in pythons}
            for variant, python in pythons.items():
                # Each variant on its own copy of the store and a fake started afresh on the same port:
                # one variant's writes must not be the other's changes to pull.
                root = Path(tmp) / variant
                shutil.copytree(built, root)
                _fresh_specs(root)
                store, steps = root / "crmsync.duckdb", runs[variant]
                py, project = [python, "-m", "crmsync"], ["--project-dir", str(root)]
                count = [sys.executable, "-c", "import duckdb,sys; c = duckdb.connect(sys.argv[1], read_only=True); "
                         "print(c.execute('SELECT count(*) FROM canonical.contacts').fetchone()[0])", str(store)]
                with FakeProcess(crm, SEED["contact"], rate_limit=True, deals=SEED["deal"], tasks=SEED["task"],
                                 port=port):
                    for r in range(repeats):
                        steps["version"].append(measure([*py, "--version"]))
                        steps["count"].append(measure(count))
                        steps["noop_pull"].append(measure([*py, "pull", crm, *project]))
                        steps["scan_sync"].append(measure([*py, "sync", crm, *project]))
                        steps["noop_sync"].append(measure([*py, "sync", crm, *project]))
                        _edit(root, crm, r)
                        said = root / "edit_sync.json"
                        steps["edit_sync"].append(measure([*py, "sync", crm, *project, "--json"], stdout=said))
                        crm_time[variant].append(_crm_seconds(said))
                        steps["echo_sync"].append(measure([*py, "sync", crm, *project]))
            rows = []
            for variant in pythons:
                rows += _ratio_rows(n, variant, runs[variant])
                edits = next(r for r in rows if r["variant"] == variant and r["step"] == STEPS["edit_sync"])
                if crm_time[variant]:  # the target is "<= 2 s plus the CRM's own time": say both
                    edits["crm_s"] = round(statistics.median(crm_time[variant]), 3)
                    edits["wall_minus_crm_s"] = round(edits["wall_s"] - edits["crm_s"], 3)
            rows.insert(0, {"records": n, "variant": "(build)", "step": "first sync after the build",
                            "wall_s": first[0], "cpu_s": first[2], "peak_rss_mb": first[1]})
            for row in rows:
                row["store_mb"] = round((built / "crmsync.duckdb").stat().st_size / 1e6)
            out["rows"] += rows
            done(rows)
    out["targets"] = {"noop sync at 1M": "<= 1.0 s, <= 150 MB", "100 edits at 1M": "<= 2 s + the CRM's own time"}
    return out


def _crm_seconds(said: Path) -> float:
    """The CRM's own time in a ``sync --json`` answer: waiting for its answers and for its rate limit."""
    import json

    try:
        answer = json.loads(said.read_text())
    except (OSError, ValueError):
        return 0.0
    return float(answer.get("crm_answer_wait") or 0.0) + float(answer.get("rate_limit_wait") or 0.0)


def _fresh_specs(root: Path) -> None:
    """A kept project's connector and mapping files are the ones of the release that built it: replace them
    with this release's, so a store kept from an older run is measured with the current specs."""
    from crmsync.scaffold import init_project

    with tempfile.TemporaryDirectory(prefix="crmsync-specs-") as tmp:
        init_project(Path(tmp), force=True)
        for folder in ("connectors", "mappings"):
            shutil.rmtree(root / folder, ignore_errors=True)
            shutil.copytree(Path(tmp) / folder, root / folder)


def _built(n: int, crm: str, keep: Path) -> tuple[Path, list[float], int]:
    """The project with ``n`` contacts, built and synced once (kept in ``keep/<n>`` and reused), the first
    sync's (wall, RSS, CPU), and the port of the fake it is connected to (the fake is started again there)."""
    import json
    import socket

    folder = keep / str(n)
    marker = folder / "bench.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        return folder / "project", meta["first"], meta["port"]
    with socket.socket() as probe:  # a port for this size's fake, free now, kept for the reruns
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder.mkdir(parents=True, exist_ok=True)
    with FakeProcess(crm, SEED["contact"], rate_limit=True, deals=SEED["deal"], tasks=SEED["task"], port=port) as fake:
        build(folder / "project", fake, n)
        first = measure([sys.executable, "-m", "crmsync", "sync", crm, "--project-dir", str(folder / "project")])
    marker.write_text(json.dumps({"first": [round(v, 3) for v in first], "port": port}))
    return folder / "project", list(first), port


def _ratio_rows(n: int, variant: str, runs: dict[str, list[tuple[float, float, float]]]) -> list[dict[str, Any]]:
    """Medians of each step, with their ratio to the DuckDB ``count(*)`` process of the same rounds
    (wall and CPU): the machine's load moves both alike."""
    count_wall = statistics.median(w for w, _, _ in runs["count"])
    count_cpu = statistics.median(c for _, _, c in runs["count"])
    rows = []
    for key, label in STEPS.items():
        walls, cpus = [w for w, _, _ in runs[key]], [c for _, _, c in runs[key]]
        rows.append({"records": n, "variant": variant, "step": label, "wall_s": round(statistics.median(walls), 3),
                     "walls": [round(w, 2) for w in walls], "cpu_s": round(statistics.median(cpus), 3),
                     "cpus": [round(c, 2) for c in cpus], "peak_rss_mb": round(max(m for _, m, _ in runs[key]), 1),
                     "x_count_wall": round(statistics.median(walls) / count_wall, 2),
                     "x_count_cpu": round(statistics.median(cpus) / count_cpu, 2)})
    return rows


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    from benchmarks import report

    p = argparse.ArgumentParser(prog="python -m benchmarks.noop_sync", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="100000,1000000", help="contacts in the store (default %(default)s)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compare", help="another Python whose crmsync runs the same steps (e.g. main's .venv/bin/python)")
    p.add_argument("--keep", type=Path, help="keep each size's built store here and reuse it in later runs")
    p.add_argument("--out", type=Path, default=Path("benchmarks/out/noop_sync.json"))
    args = p.parse_args(argv)
    from benchmarks.__main__ import _compile_bytecode

    _compile_bytecode()
    def done(rows: list[dict[str, Any]]) -> None:
        print(report.table(rows), flush=True)

    result = run([int(s) for s in args.sizes.split(",")], args.repeats, compare=args.compare, keep=args.keep, done=done)
    print(report.render(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])

