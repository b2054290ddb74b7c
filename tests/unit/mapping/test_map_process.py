"""Mapping in mapping processes (:mod:`crmsync.map_process`) gives exactly what mapping here gives, record
for record and in order: the same canonical values of the same types, the same records set aside for the
same field and reason. And a mapping process never outlives the run or loses a chunk: one that dies has
its chunks mapped here, one whose parent dies ends."""

from __future__ import annotations

import contextlib
import copy
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from crmsync.canonical.digest import digest_of, record_hash, text_of
from crmsync.errors import UserError
from crmsync.jsontext import dumps
from crmsync.map_process import MapProcess, RawShape, mapped_chunks, portable, setting

from .helpers import CRMS, ENTITIES, ROOT, golden, golden_files, mapper
from .test_batch import _SHARED_JUNK, _paths, _put, typed


def _values(raws: list[dict[str, Any]]) -> tuple[RawShape, list[tuple[Any, ...]]]:
    """Records as a raw table hands them over: one value per column, None where a record has none."""
    keys = sorted({k for raw in raws for k in raw})
    return (RawShape(keys=tuple(keys), parsed=(), variants=(), key="id"),
            [tuple(raw.get(k) for k in keys) for raw in raws])


def _outcomes(chunks: list[list[Any]]) -> list[tuple[Any, ...]]:
    """Each record's result, and the base hash and JSON text the apply takes (made here or brought along). The
    raw record comes back from a mapping process only with a rejection: the apply keeps it only then."""
    return [(item[0], typed(item[1]), item[2], typed(item[3]) if item[2] else None, digest_of(item),
             None if item[1] is None else text_of(item)) for chunk in chunks for item in chunk]


def _records(crm: str, entity: str, seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` records drawn from variants of the golden ones, a tenth of their values made junk."""
    rng = random.Random(seed)
    bases = [golden(p)["raw"] for p in golden_files(crm, entity)]
    variants = []
    for _ in range(25):
        raw = copy.deepcopy(rng.choice(bases))
        for path in [p for p in _paths(raw) if p]:
            if rng.random() < 0.1:
                with contextlib.suppress(KeyError, IndexError, TypeError):
                    _put(raw, path, copy.deepcopy(rng.choice(_SHARED_JUNK)))
        variants.append(raw)
    return [{**copy.deepcopy(rng.choice(variants)), "id": n} for n in range(n)]


PORTABLE = [(crm, entity) for crm in CRMS for entity in ENTITIES if portable(mapper(crm, entity))]


@pytest.fixture(scope="module")
def processes():
    process = MapProcess(2)
    yield process
    process.close()


def test_the_links_map_here_and_the_rest_may_go_to_a_mapping_process() -> None:
    # a deal's contacts and a task's record are links: their canonical ids are minted in the store
    assert not portable(mapper("amocrm", "deal")) and not portable(mapper("bitrix24", "task"))
    assert ("amocrm", "contact") in PORTABLE and ("bitrix24", "contact") in PORTABLE


@pytest.mark.parametrize(("crm", "entity"), PORTABLE)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_mapping_process_gives_what_mapping_here_gives(processes: MapProcess, crm: str, entity: str,
                                                         seed: int) -> None:
    m = mapper(crm, entity)
    shape, values = _values(_records(crm, entity, seed, 1500))
    chunks = [values[i:i + 200] for i in range(0, len(values), 200)]  # 8 chunks: more than the processes hold
    here = list(mapped_chunks(iter(copy.deepcopy(chunks)), shape, m, None, 0))
    there = list(mapped_chunks(iter(chunks), shape, m, processes, hash((crm, entity, seed)) % 1000))
    assert not processes.failed
    assert [len(c) for c in there] == [len(c) for c in chunks]
    assert _outcomes(there) == _outcomes(here)
    assert {o[2] is None for o in _outcomes(here)} == {True, False}, "junk must set records aside"
    # what a mapping process brings along is what the apply would make of the record itself
    brought = [item for chunk in there for item in chunk if item[1] is not None]
    assert brought and all(len(item) == 6 for item in brought)
    assert all(item[4] == record_hash(item[1]) and item[5] == dumps(item[1]) for item in brought)


def _chunks_and_here(seed: int, n: int) -> tuple[Any, RawShape, list[list[Any]], list[list[Any]]]:
    """AmoCRM contacts in chunks of 100, and their results mapped here."""
    m = mapper("amocrm", "contact")
    shape, values = _values(_records("amocrm", "contact", seed, n))
    chunks = [values[i:i + 100] for i in range(0, len(values), 100)]
    return m, shape, chunks, list(mapped_chunks(iter(copy.deepcopy(chunks)), shape, m, None, 0))


def test_a_mapping_process_that_dies_has_its_chunks_mapped_here() -> None:
    m, shape, chunks, here = _chunks_and_here(3, 1200)
    process = MapProcess(2)
    warnings: list[str] = []
    try:
        got = []
        for n, chunk in enumerate(mapped_chunks(iter(chunks), shape, m, process, 1, warn=warnings.append)):
            got.append(chunk)
            if n == 1:  # two chunks back, four more handed over
                victim = process._children[0].proc
                victim.send_signal(signal.SIGKILL)
                victim.wait()
    finally:
        process.close()
    assert _outcomes(got) == _outcomes(here)
    assert process.failed and len(warnings) == 1 and "killed by SIGKILL" in warnings[0], warnings
    assert "mapping goes on in this process" in warnings[0]


class Unreadable:
    """Pickles here, cannot be unpickled there (as a class a mapping process could not import)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return int, ("not a number",)


def test_a_mapping_process_that_cannot_read_what_it_is_sent_has_the_run_map_here() -> None:
    m, shape, chunks, here = _chunks_and_here(4, 600)
    process = MapProcess(2)
    warnings: list[str] = []
    try:
        odd = copy.copy(m)  # the same mapper, but its schema cannot be sent
        odd.check = copy.copy(m.check)
        odd.check.schema = Unreadable()
        got = list(mapped_chunks(iter(chunks), shape, odd, process, 0, warn=warnings.append))
    finally:
        process.close()
    assert _outcomes(got) == _outcomes(here)
    assert process.failed and len(warnings) == 1, warnings
    assert "invalid literal for int()" in warnings[0] and "mapping goes on in this process" in warnings[0]


def test_a_mapping_process_ends_when_the_run_dies(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path[:0] = {[str(ROOT), str(ROOT / "src")]!r}
        from tests.unit.mapping.helpers import mapper
        from tests.unit.mapping.test_map_process import _records, _values
        from crmsync.map_process import MapProcess, mapped_chunks
        m = mapper("amocrm", "contact")
        shape, values = _values(_records("amocrm", "contact", 1, 400))
        process = MapProcess(2)
        results = mapped_chunks(iter([values[:200], values[200:]]), shape, m, process, 0)
        next(results)
        open({str(pids)!r}, "w").write(" ".join(str(c.proc.pid) for c in process._children))
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=60)
    assert run.returncode == -signal.SIGKILL
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    deadline = time.monotonic() + 20
    while (alive := [p for p in children if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive, f"mapping processes {alive} outlived their run"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's reaping is left


def test_the_setting_takes_auto_on_or_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, want in (("", "auto"), ("ON", "on"), (" off ", "off"), ("auto", "auto")):
        monkeypatch.setenv("CRMSYNC_MAP_PROCESS", value)
        assert setting() == want
    monkeypatch.setenv("CRMSYNC_MAP_PROCESS", "2")
    with pytest.raises(UserError, match=r"CRMSYNC_MAP_PROCESS='2' is not one of: auto, on, off"):
        setting()


def _as_arrow(shape: RawShape, chunks: list[list[Any]]) -> tuple[RawShape, list[Any]]:
    """The chunks as a run hands a mapping process its pages: Arrow tables, the id a number and every
    other value JSON text parsed there (as a raw table's JSON columns are)."""
    import pyarrow as pa

    at = shape.keys.index("id")
    text = [k for k in shape.keys if k != "id"]
    tables = [pa.table({k: pa.array([row[at] for row in chunk], pa.int64()) if k == "id" else
                        pa.array([None if row[n] is None else dumps(row[n]) for row in chunk], pa.string())
                        for n, k in enumerate(shape.keys)}) for chunk in chunks]
    return RawShape(keys=shape.keys, parsed=tuple(text), variants=(), key="id"), tables


def _round_trips(raw: dict[str, Any]) -> bool:
    """Whether each value of ``raw`` comes back from its JSON text as it was (a store holds no lone surrogate)."""
    from crmsync.jsontext import loads

    try:
        return all(loads(dumps(v)) == v and dumps(loads(dumps(v))) == dumps(v) for v in raw.values())  # and types
    except (UnicodeEncodeError, ValueError):
        return False


def test_arrow_pages_map_as_rows_do_there_and_here_when_a_process_dies() -> None:
    m = mapper("amocrm", "contact")
    shape, values = _values([r for r in _records("amocrm", "contact", 5, 2500) if _round_trips(r)][:1200])
    chunks = [values[i:i + 100] for i in range(0, len(values), 100)]
    here = list(mapped_chunks(iter(copy.deepcopy(chunks)), shape, m, None, 0))
    assert len(chunks) == 12 and {o[2] is None for o in _outcomes(here)} == {True, False}
    arrow_shape, tables = _as_arrow(shape, chunks)
    assert [list(arrow_shape.records(t)) for t in tables] == [list(shape.records(c)) for c in chunks]
    process = MapProcess(2)
    warnings: list[str] = []
    try:
        whole = list(mapped_chunks(iter(tables[:4]), arrow_shape, m, process, 7))  # sent as Arrow's own bytes
        got = []
        for n, chunk in enumerate(mapped_chunks(iter(tables), arrow_shape, m, process, 8, warn=warnings.append)):
            got.append(chunk)
            if n == 1:
                victim = process._children[1].proc
                victim.send_signal(signal.SIGKILL)
                victim.wait()
    finally:
        process.close()
    assert _outcomes(whole) == _outcomes(here[:4])
    assert _outcomes(got) == _outcomes(here)
    assert process.failed and len(warnings) == 1 and "killed by SIGKILL" in warnings[0], warnings


def test_runs_at_once_in_one_process_share_its_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """``auto`` (MapProcess.claim): a server's second run, while the first holds a mapping process a core,
    maps in its own process; once the first ends (or its processes fail), the next run has them again."""
    import crmsync.map_process as mp

    monkeypatch.setattr(mp, "_cores", lambda: 3)
    first = MapProcess.claim()
    assert first is not None and first.count == 3
    assert MapProcess.claim() is None
    first.close()
    first.close()  # a failed run closes its processes, then the run closes them again: given back once
    monkeypatch.setattr(mp, "_held", 2)  # another run holds two of the three cores: this one takes the third
    second = MapProcess.claim()
    assert second is not None and second.count == 1
    second.close()
    assert mp._held == 2
