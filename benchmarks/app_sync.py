"""The app sync API under load: ``crmsync serve`` as a real process, WatermelonDB-style clients over HTTP.

1. **First sync**: one tenant whose store holds ``--first-sync`` contacts (100,000): the time of
   ``GET /api/sync/initial`` (the change scan of every row, the streamed answer, read to the end) and the
   server's peak RSS (``VmHWM``) before and after.
2. **Incremental**: ``--clients`` concurrent clients (50) of ``--tenants`` tenants (10), each tenant's
   store holding ``--records-per-tenant`` contacts (10,000: 100,000 in all), for ``--seconds``: each
   client pulls from its last ``timestamp``, and every third round pushes a small edit (one record, one
   field, with ``_changed``) first. p50 / p95 latency per request kind and requests/s in all.

``python -m benchmarks.app_sync [--quick]``; writes ``benchmarks/out/app_sync.json``. Records are put into
the tenants' stores with SQL (this measures the API, not a CRM pull).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import jwt
import requests

SECRET = "bench-secret-" + "z" * 40
CONFIG = """
[app_sync]
[app_sync.jwt]
algorithms = ["HS256"]
secret_env = "CRMSYNC_APP_JWT_SECRET"
tenant_claim = "tenant"
"""


def _token(tenant: str) -> str:
    return jwt.encode({"tenant": tenant, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")


def _cpu_seconds(pid: int) -> float:
    """The process's own CPU time (user + system): what the server spent, whatever else loads the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class Served:
    def __init__(self, root: Path) -> None:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CRMSYNC_APP_JWT_SECRET": SECRET}
        self.log = (root / "serve.log").open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "crmsync", "serve", "--no-schedule", "--project-dir",
                                      str(root), "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT,
                                     env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.base + "/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"serve did not start: see {root / 'serve.log'}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        self.log.close()


def _project(root: Path) -> Path:
    subprocess.run([sys.executable, "-m", "crmsync", "init", str(root)], check=True, capture_output=True)
    (root / "pipelines" / "bitrix24.yaml").unlink()
    with (root / "config" / "config.toml").open("a") as fh:
        fh.write(CONFIG)
    return root


def _seed(served: Served, root: Path, tenant: str, n: int) -> None:
    """The tenant's store made by the server (a first request), then ``n`` contacts put in with SQL."""
    requests.get(served.base + "/api/sync/initial", headers={"Authorization": f"Bearer {_token(tenant)}"},
                 timeout=60).raise_for_status()
    from crmsync.appsync.tenants import folder_key

    store = root / ".crmsync" / "tenants" / folder_key(tenant) / "crmsync.duckdb"
    deadline = time.monotonic() + 30
    while True:  # the server closes a tenant's store once it has been idle for keep_open_seconds
        try:
            con = duckdb.connect(str(store))
            break
        except duckdb.IOException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    with con:
        con.execute("INSERT INTO canonical.contacts (first_name, last_name, position, emails, phones, custom) "
                    "SELECT 'First' || i, 'Last' || i, 'Role ' || (i % 17), "
                    "'[{\"value\": \"u' || i || '@example.com\", \"type\": \"work\"}]', "
                    "'[{\"value\": \"+7916' || lpad(i::VARCHAR, 7, '0') || '\", \"type\": \"mobile\"}]', "
                    "'{\"source\": \"web\"}' FROM range(?) t(i)", [n])


def first_sync(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-app-") as tmp:
        root = _project(Path(tmp) / "p")
        served = Served(root)
        try:
            _seed(served, root, "big", n)
            before = _peak_rss(served.proc.pid)
            started = time.perf_counter()
            got, size = 0, 0
            with requests.get(served.base + "/api/sync/initial", headers={"Authorization": f"Bearer {_token('big')}"},
                              stream=True, timeout=600) as response:
                response.raise_for_status()
                body = b"".join(response.iter_content(1 << 16))
            took = time.perf_counter() - started
            size = len(body)
            got = len(json.loads(body)["changes"]["contacts"]["created"])
            started = time.perf_counter()
            requests.get(served.base + "/api/sync/initial", headers={"Authorization": f"Bearer {_token('big')}"},
                         timeout=600).raise_for_status()
            again = time.perf_counter() - started
            return {"records": n, "received": got, "seconds": round(took, 2), "bytes": size,
                    "records_per_second": round(got / took), "second_initial_seconds": round(again, 2),
                    "server_peak_rss_mb_before": round(before / 2**20, 1),
                    "server_peak_rss_mb_after": round(_peak_rss(served.proc.pid) / 2**20, 1)}
        finally:
            served.stop()


def incremental(tenants: int, clients: int, per_tenant: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="crmsync-bench-app-") as tmp:
        root = _project(Path(tmp) / "p")
        served = Served(root)
        try:
            names = [f"tenant{i}" for i in range(tenants)]
            for name in names:
                _seed(served, root, name, per_tenant)
            ids: dict[str, list[str]] = {}
            marks: dict[str, int] = {}
            for name in names:  # the first sync of each tenant, outside the measured window
                answer = requests.get(served.base + "/api/sync/initial",
                                      headers={"Authorization": f"Bearer {_token(name)}"}, timeout=600).json()
                ids[name] = [r["id"] for r in answer["changes"]["contacts"]["created"]]
                marks[name] = answer["timestamp"]
            latencies: dict[str, list[float]] = {"pull": [], "push": []}
            errors: list[str] = []
            lock = threading.Lock()
            stop = time.monotonic() + seconds

            def client(k: int) -> None:
                tenant = names[k % tenants]
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {_token(tenant)}"
                since, rounds = marks[tenant], 0
                while time.monotonic() < stop:
                    rounds += 1
                    if rounds % 3 == 0:
                        rid = ids[tenant][(k * 7919 + rounds) % len(ids[tenant])]
                        record = {"id": rid, "position": f"edit {k}.{rounds}", "_changed": "position"}
                        t0 = time.perf_counter()
                        r = session.post(f"{served.base}/api/sync/outgoing?last_pulled_at={since}",
                                         json={"changes": {"contacts": {"created": [], "updated": [record],
                                                                        "deleted": []}}}, timeout=120)
                        with lock:
                            latencies["push"].append(time.perf_counter() - t0)
                            if r.status_code != 200:
                                errors.append(f"push {r.status_code}: {r.text[:200]}")
                    t0 = time.perf_counter()
                    r = session.get(f"{served.base}/api/sync/incremental?last_pulled_at={since}", timeout=120)
                    with lock:
                        latencies["pull"].append(time.perf_counter() - t0)
                        if r.status_code != 200:
                            errors.append(f"pull {r.status_code}: {r.text[:200]}")
                    if r.status_code == 200:
                        since = r.json()["timestamp"]

            started, cpu = time.perf_counter(), _cpu_seconds(served.proc.pid)
            threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            took = time.perf_counter() - started
            cpu = _cpu_seconds(served.proc.pid) - cpu
            total = sum(len(v) for v in latencies.values())

            def pct(values: list[float], q: float) -> float | None:
                if not values:
                    return None
                ordered = sorted(values)
                return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1)

            return {"tenants": tenants, "clients": clients, "records": tenants * per_tenant, "seconds": round(took, 1),
                    "requests": total, "requests_per_second": round(total / took, 1), "errors": errors[:5],
                    "server_cpu_ms_per_request": round(cpu / max(total, 1) * 1000, 1),
                    "load_average": os.getloadavg()[0],
                    "error_count": len(errors),
                    **{f"{kind}_{name}_ms": pct(values, q) for kind, values in latencies.items()
                       for name, q in (("p50", 0.5), ("p95", 0.95))},
                    "pull_mean_ms": round(statistics.fmean(latencies["pull"]) * 1000, 1) if latencies["pull"] else None,
                    "server_peak_rss_mb": round(_peak_rss(served.proc.pid) / 2**20, 1)}
        finally:
            served.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.app_sync", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--first-sync", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--records-per-tenant", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--quick", action="store_true", help="smoke run: 5,000 records, 10 clients of 2 tenants, 10 s")
    args = p.parse_args(argv)
    if args.quick:
        args.first_sync, args.tenants, args.clients, args.records_per_tenant, args.seconds = 5000, 2, 10, 2500, 10
    results = {"first_sync": first_sync(args.first_sync),
               "incremental": incremental(args.tenants, args.clients, args.records_per_tenant, args.seconds)}
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "app_sync.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
