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


# Before/after of the pull's mapping alone (issue 18), on raw rows as a real pull reads them back ---------------
#
#   python benchmarks/mapping.py capture N DIR      one unpaced pull of N contacts, deals and tasks per shipped CRM
#                                                   (fakes in their own processes); their raw rows as the pull maps
#                                                   them, and the stored metadata, pickled into DIR
#   python benchmarks/mapping.py time DIR TREE [R]  Mapper.pull_batch of a tree's crmsync (a checkout) over them, in
#                                                   chunks of the apply's size: CPU µs per record, best of R passes
#
# Run ``time`` alternately for two trees (main and a branch) to compare them in the same minutes: the machine is
# shared, so CPU seconds, not wall time. ``digest`` is a hash of every result (values, notes, rejections and their
# reasons): two trees that map alike print the same digest.

CRMS = ("amocrm", "bitrix24")
ENTITIES = ("contact", "deal", "task")


def capture(n: int, out_dir: str) -> None:
    import pickle
    import tempfile
    from pathlib import Path

    from benchmarks.common import connected_project, quiet_dlt
    from benchmarks.steps import crmsync_pull
    from crmsync.pull import _raw_rows
    from crmsync.read.run import dataset_name
    from crmsync.read.stored_metadata import stored_metadata
    from crmsync.store import open_store

    quiet_dlt()
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for crm in CRMS:
        with FakeProcess(crm, n, deals=n, tasks=n) as fake, tempfile.TemporaryDirectory(prefix="crmsync-map-") as root:
            project = connected_project(Path(root), fake)
            crmsync_pull(root, crm, paced=False, entities=list(ENTITIES))
            with open_store(project.store_path()) as con:
                data = {"metadata": stored_metadata(con, crm),
                        "raws": {e: list(_raw_rows(con, dataset_name(crm), e, 0)) for e in ENTITIES}}
        (Path(out_dir) / f"{crm}.pickle").write_bytes(pickle.dumps(data))
        print(crm, {e: len(r) for e, r in data["raws"].items()}, flush=True)


def time_tree(data_dir: str, repeat: int = 3) -> None:
    import hashlib
    import pickle
    from pathlib import Path

    from crmsync.canonical.apply import CHUNK
    from crmsync.mapping.catalog import catalog_needs

    root = builtin_project_dir()
    canonical = load_canonical(root)
    for crm in CRMS:
        data = pickle.loads((Path(data_dir) / f"{crm}.pickle").read_bytes())
        connector = load_yaml(root / "connectors" / f"{crm}.yaml")
        for entity in ENTITIES:
            rows = data["raws"][entity]
            spec = load_mapping(root / "mappings" / crm / f"{entity}.yaml", canonical=canonical)
            catalog = build_catalog(connector, data["metadata"], spec.source, catalog_needs(spec))
            mapper = Mapper(spec, catalog, KeyResolver(), canonical.get(entity))
            results = [r for k in range(0, len(rows), CHUNK) for r in mapper.pull_batch(rows[k:k + CHUNK])]
            digest = hashlib.sha256(repr([_outcome(r) for r in results]).encode()).hexdigest()[:12]
            cpu = _best(repeat, lambda m=mapper, rs=rows: [m.pull_batch(rs[k:k + CHUNK])
                                                          for k in range(0, len(rs), CHUNK)])
            rejected = sum(isinstance(r, Rejection) for r in results)
            print(f"{crm:9} {entity:8} records {len(rows):7} rejected {rejected:5} cpu_s {cpu:7.3f} "
                  f"us_per_record {cpu / max(len(rows), 1) * 1e6:6.1f} digest {digest}", flush=True)


if __name__ == "__main__":
    import sys
    from pathlib import Path

    if sys.argv[1] == "capture":
        capture(int(sys.argv[2]), sys.argv[3])
    else:
        tree = str(Path(sys.argv[3]).resolve())
        if not __import__("crmsync").__file__.startswith(tree):
            raise SystemExit(f"crmsync comes from {__import__('crmsync').__file__}, not {tree}: "
                             f"run as PYTHONPATH={tree}/src:{tree} python -m benchmarks.mapping time DIR {tree}")
        time_tree(sys.argv[2], int(sys.argv[4]) if len(sys.argv) > 4 else 3)
