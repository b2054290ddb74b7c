"""Scenario 6: the mapping engine alone — canonical records per CPU second, forward (pull) and inverse (push).

Raw records come from the fake AmoCRM (in its own process) first; only the mapping is timed, in CPU
seconds of this process (the machine is shared: wall time measures the neighbours). Forward is
measured twice over the same records, each the best of ``repeat`` passes: record by record
(``Mapper.pull_each``, as pulls mapped before issue 18) and a chunk at a time (``Mapper.pull_batch``
in chunks of ``chunk`` records, as pull and remap map now); the two must give the same results.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from benchmarks.common import FakeProcess
from crmsync.bulk_gc import records_in_bulk
from crmsync.http.pacing import Unlimited
from crmsync.http.session import CrmSession
from crmsync.mapping import KeyResolver, Mapper, Rejection, build_catalog, load_canonical, load_mapping
from crmsync.mapping.batch import _DAYS
from crmsync.mapping.transforms.contact_points import _e164
from crmsync.project import builtin_project_dir
from crmsync.read.metadata import fetch_metadata
from crmsync.specs.yamlload import load_yaml

PATHS = {"contact": "contacts", "deal": "leads", "task": "tasks"}


def _best(passes: int, work: Any) -> float:
    times = []
    for _ in range(passes):
        # Cold, as a pull of new records is: a warm phone cache would serve every number of the next pass
        # (and the day texts of Unix times, reused within a run, would be all there).
        _e164.cache_clear()
        _DAYS.clear()
        with records_in_bulk():  # the garbage collector off, as during a run
            start = time.process_time()
            work()
            times.append(time.process_time() - start)
    return min(times)


def run(n: int, chunk: int = 2_000, repeat: int = 3) -> dict[str, Any]:
    root = builtin_project_dir()
    connector = load_yaml(root / "connectors" / "amocrm.yaml")
    out: dict[str, Any] = {"scenario": "mapping engine alone (AmoCRM)", "records": n, "rows": []}
    with FakeProcess("amocrm", n, deals=n, tasks=n) as fake:
        session = CrmSession.from_connector(connector, Unlimited())
        session.headers["Authorization"] = "Bearer demo-token"
        metadata = fetch_metadata(connector, session, fake.url)
        raws = {entity: _all(fake.url, path) for entity, path in PATHS.items()}
    canonical = load_canonical(root)
    for entity, rows in raws.items():
        mapper = Mapper(load_mapping(root / "mappings" / "amocrm" / f"{entity}.yaml"),
                        build_catalog("amocrm", metadata, entity), KeyResolver(), canonical.get(entity))
        each = [r for _, r in mapper.pull_each(rows)]
        batch = [r for k in range(0, len(rows), chunk) for r in mapper.pull_batch(rows[k:k + chunk])]
        if [_outcome(r) for r in batch] != [_outcome(r) for r in each]:
            raise AssertionError(f"{entity}: pull_batch differs from pull_each")
        forward = _best(repeat, lambda m=mapper, rs=rows: list(m.pull_each(rs)))
        batched = _best(repeat, lambda m=mapper, rs=rows: [m.pull_batch(rs[k:k + chunk])
                                                          for k in range(0, len(rs), chunk)])
        pairs = [(r.canonical, raw) for r, raw in zip(each, rows, strict=True) if not isinstance(r, Rejection)]
        start = time.process_time()
        for c, r in pairs:
            mapper.push(c, current=r)
        inverse = time.process_time() - start
        out["rows"].append({"entity": entity, "records": len(rows), "forward_per_cpu_s": round(len(rows) / forward),
                            "forward_batch_per_cpu_s": round(len(rows) / batched),
                            "batch_speedup": round(forward / batched, 2),
                            "inverse_per_cpu_s": round(len(rows) / inverse)})
    return out


def _outcome(result: Any) -> Any:
    return result.as_dict() if isinstance(result, Rejection) else (result.canonical, result.notes)


def _all(url: str, path: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with requests.Session() as http:
        http.headers["Authorization"] = "Bearer demo-token"
        page = 1
        while True:
            r = http.get(f"{url}/api/v4/{path}", params={"page": page, "limit": 250, "with": "contacts"})
            if r.status_code == 204:
                return rows
            rows += r.json()["_embedded"][path]
            page += 1
