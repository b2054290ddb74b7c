"""Ten connections: one after another on a DuckDB store, against two workers at once on a Postgres store.

``python -m benchmarks.parallel_stores --records 2000`` (also ``python -m benchmarks --only parallel``):
ten fake CRMs (five AmoCRM, five Bitrix24 accounts, each a process of its own, rate limits off) hold the same
N people; a project has a pipeline per account (contacts, matched by e-mail or phone). Each side gets fresh
fakes and an empty store, and syncs all ten twice (the second round delivers what the first brought in from
the accounts synced after it, so both sides end with the same work done):

* ``duckdb``: one worker process syncs the ten pipelines one after another (one writer per file);
* ``postgres``: two worker processes each go through the ten in their own order; a pipeline the other worker
  holds ("busy") or has synced in this round already is skipped, as a second scheduler on another machine
  would.

Printed per side: wall seconds, CPU seconds of the workers (user + system) and of the Postgres server, the
records read from and written to the CRMs, records/s, and the ratios postgres/duckdb. The Postgres server is
the tests' throwaway cluster (``make postgres`` installs its binaries), or the one ``--dsn`` names (its database
is used as is: give an empty one).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACCOUNTS = [("amocrm", f"amo{i}") for i in range(1, 6)] + [("bitrix24", f"b24{c}") for c in "abcde"]
DSN_ENV = "CRMSYNC_PG_DSN"
BUSY = "busy"
DONE = "done"  # the other worker synced it in this round already


def ran_since(project: Any, pipeline: str, since: str) -> bool:
    from crmsync.store import open_store, store_exists

    path = project.store_path(pipeline_store(project, pipeline))
    if not store_exists(path):
        return False
    with open_store(path, read_only=True) as con:
        if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'sync' "
                           "AND table_name = 'runs'").fetchone()[0]:
            return False
        return bool(con.execute("SELECT count(*) FROM sync.runs WHERE pipeline = ? AND started_at >= ?",
                                [pipeline, since]).fetchone()[0])


def pipeline_store(project: Any, pipeline: str) -> str:
    """The pipeline's store: the Postgres one when the worker was given its DSN (the DuckDB side's are not)."""
    from crmsync.store import POSTGRES

    return POSTGRES + DSN_ENV if os.environ.get(DSN_ENV) else "crmsync.duckdb"


def worker(project: str, since: str, names: list[str]) -> None:
    """One worker: ``crmsync sync`` of each pipeline in turn (the library call the command makes) that has not
    run since the round began (``since``, ISO time: as a scheduler skips a slot another worker already ran);
    prints a JSON line per pipeline, then one with its CPU seconds."""
    from crmsync.errors import BusyError
    from crmsync.project import Project
    from crmsync.sync import run_sync

    where = Project.at(Path(project))
    for name in names:
        if ran_since(where, name, since):
            print(json.dumps({"pipeline": name, "status": DONE}), flush=True)
            continue
        try:
            result = run_sync(where, name)
        except BusyError:
            print(json.dumps({"pipeline": name, "status": BUSY}), flush=True)
            continue
        pull = (result.pull.entities if result.pull else {}).get("contact", {})
        push = (result.push.entities if result.push else {}).get("contact", {})
        print(json.dumps({"pipeline": name, "status": result.status, "read": pull.get("read", 0),
                          "matched": pull.get("matched", 0),
                          "written": sum(push.get(k, 0) for k in ("created", "updated", "deleted"))}), flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"cpu_seconds": usage.ru_utime + usage.ru_stime}), flush=True)


def make_project(root: Path, fakes: dict[str, Any], staging: dict[str, str]) -> None:
    import yaml

    from crmsync.connections.connect import ConnectOptions, connect
    from crmsync.project import Project
    from crmsync.scaffold import init_project

    from .common import WEBHOOK

    init_project(root, force=True)
    template = yaml.safe_load((root / "pipelines" / "amocrm.yaml").read_text(encoding="utf-8"))
    for path in (root / "pipelines").glob("*.yaml"):
        path.unlink()
    project = Project.at(root)
    for crm, name in ACCOUNTS:
        spec = {**template, "name": name, "crm": crm, "connection": name, "entities": ["contact"],
                "match": {"contact": ["emails", "phones"]}, "staging": staging,
                "conflicts": {"default": "newest_wins", "clock_skew_seconds": 5}}
        (root / "pipelines" / f"{name}.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
        fake = fakes[name]
        if crm == "amocrm":
            opts = ConnectOptions(crm=crm, name=name, base_url=fake.url, long_lived_token="demo-token")
        else:
            opts = ConnectOptions(crm=crm, name=name, webhook_url=fake.url + WEBHOOK + "/")
        connect(project, opts)


def run_round(project: Path, workers: int, round_no: int, env: dict[str, str]) -> dict[str, Any]:
    import datetime as dt

    names = [name for _, name in ACCOUNTS]
    since = dt.datetime.now(dt.timezone.utc).isoformat()
    procs = []
    for w in range(workers):
        order = names[:]
        if workers > 1:
            random.Random(round_no * 100 + w).shuffle(order)
        command = [sys.executable, "-m", "benchmarks.parallel_stores", "--worker", str(project), since, *order]
        procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    out = {"read": 0, "written": 0, "matched": 0, "runs": 0, "busy": 0, "cpu_seconds": 0.0, "not_ok": []}
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed:\n{stderr[-4000:]}")
        for line in stdout.splitlines():
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if "cpu_seconds" in row:
                out["cpu_seconds"] += row["cpu_seconds"]
            elif row["status"] in (BUSY, DONE):
                out["busy"] += 1
            else:
                out["runs"] += 1
                out["not_ok"] += [row["pipeline"]] if row["status"] != "ok" else []
                for key in ("read", "written", "matched"):
                    out[key] += row[key]
    return out


def start_fakes(records: int) -> dict[str, Any]:
    from .common import FakeProcess

    return {name: FakeProcess(crm, records, settings=("seed=42",)) for crm, name in ACCOUNTS}


def side(engine: str, records: int, workers: int, dsn: str | None, server_pid: int | None) -> dict[str, Any]:
    from crmsync.project import Project
    from crmsync.store import POSTGRES, open_store

    env = {k: v for k, v in os.environ.items() if k != DSN_ENV} | {"RUNTIME__DLTHUB_TELEMETRY": "false"}
    staging = {"type": "duckdb", "path": "crmsync.duckdb"}
    if engine == "postgres":
        env[DSN_ENV] = os.environ[DSN_ENV] = str(dsn)
        staging = {"type": "postgres", "dsn_env": DSN_ENV}
    fakes = start_fakes(records)
    try:
        with tempfile.TemporaryDirectory(prefix=f"crmsync-parallel-{engine}-") as tmp:
            root = Path(tmp) / "p"
            make_project(root, fakes, staging)
            server_before = server_cpu(server_pid)
            started = time.perf_counter()
            rounds = [run_round(root, workers, n, env) for n in (1, 2)]
            wall = time.perf_counter() - started
            server = server_cpu(server_pid) - server_before
            store = POSTGRES + DSN_ENV if engine == "postgres" else "crmsync.duckdb"
            with open_store(Project.at(root).store_path(store), read_only=True) as con:
                people = con.execute("SELECT count(*) FROM canonical.contacts").fetchone()[0]
    finally:
        for fake in fakes.values():
            fake.stop()
    read, written = sum(r["read"] for r in rounds), sum(r["written"] for r in rounds)
    return {"store": engine, "workers": workers, "records_per_crm": records, "wall_s": round(wall, 1),
            "worker_cpu_s": round(sum(r["cpu_seconds"] for r in rounds), 1),
            "server_cpu_s": round(server, 1) if server_pid else None,
            "read": read, "written": written, "records_per_s": round((read + written) / wall, 1),
            "canonical_people": people, "runs": sum(r["runs"] for r in rounds),
            "skipped": sum(r["busy"] for r in rounds),
            "not_ok": sorted({p for r in rounds for p in r["not_ok"]}) or None}


def server_cpu(pid: int | None) -> float:
    """CPU seconds of a Postgres server: the postmaster's own and its reaped backends' (user + system)."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(records: int = 2000, dsn: str | None = None) -> dict[str, Any]:
    """Both sides, DuckDB first; a scenario dict for benchmarks.report."""
    server = None
    if dsn is None:
        sys.path.insert(0, str(ROOT))
        from tests.postgres_plugin import PostgresServer

        server = PostgresServer().start()
        dsn = server.dsn(server.create_database())
    try:
        duck = side("duckdb", records, 1, None, None)
        pg = side("postgres", records, 2, dsn, server.process.pid if server and server.process else None)
    finally:
        if server is not None:
            server.stop()
    load = os.getloadavg()
    return {"scenario": "parallel_stores", "rows": [duck, pg],
            "ratios": {"wall postgres/duckdb": round(pg["wall_s"] / duck["wall_s"], 2),
                       "records/s postgres/duckdb": round(pg["records_per_s"] / duck["records_per_s"], 2),
                       "worker cpu postgres/duckdb": round(pg["worker_cpu_s"] / max(duck["worker_cpu_s"], 1e-9), 2)},
            "load_average_1_5_15": [round(x, 2) for x in load]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.parallel_stores", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000, help="contacts in each of the ten fake CRMs "
                        "(default %(default)s: a few minutes a side on an idle 2-core machine)")
    parser.add_argument("--dsn", help="an empty Postgres database to use instead of a throwaway server")
    parser.add_argument("--worker", nargs="+", metavar=("PROJECT", "SINCE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], args.worker[2:])
        return
    from .report import render

    print(render(run(args.records, args.dsn)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
