"""A chunk's canonical rows read (and written) through their places (``rowid``, :mod:`crmsync.canonical.places`)
are exactly the chunk's records' rows: none missed, none of another record, whatever the places say.

A real DuckDB file holds a few thousand rows with random ids; chunks ask for shuffled, scattered remote
ids. The places are then made wrong on purpose (every rowid pointing at another row), rows are deleted
and the file checkpointed, rows are inserted after the places were taken: each read must still return
each record's own row, as a read by id alone does.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crmsync.canonical.apply import columns, update_rows
from crmsync.canonical.apply_batch import _read_chunk
from crmsync.canonical.places import TAKE_ON_READ, RowPlaces
from crmsync.canonical.tables import ensure
from crmsync.mapping import load_canonical

ROOT = Path(__file__).resolve().parents[3]
CANONICAL = load_canonical(ROOT)
COLS = columns(CANONICAL["contact"])
N = 3000


@pytest.fixture()
def con(tmp_path: Path) -> Any:
    con = duckdb.connect(str(tmp_path / "store.duckdb"))
    ensure(con, CANONICAL)
    con.execute("INSERT INTO canonical.contacts (id, name) SELECT CAST(uuid() AS VARCHAR), 'person ' || i "
                f"FROM range({N}) r(i)")
    con.execute("INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base, base_hash) "
                "SELECT 'contact', 'crm', substr(name, 8), id, json_object('name', name), 'h' FROM canonical.contacts")
    con.execute("CHECKPOINT")
    yield con
    con.close()


def links(con: Any) -> dict[str, str]:
    return dict(con.execute("SELECT remote_id, canonical_id FROM sync.links").fetchall())


def read(con: Any, places: RowPlaces, remote_ids: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    ids = links(con)
    return _read_chunk(con, "contact", "crm", COLS, {r: ids[r] for r in remote_ids}, remote_ids, places)


def assert_own_rows(con: Any, remote_ids: list[str], current: dict[str, Any], bases: dict[str, Any],
                    where: dict[str, int]) -> None:
    ids = links(con)
    stored = {i: (name, rowid) for i, name, rowid in con.execute("SELECT id, name, rowid FROM canonical.contacts")
              .fetchall()}
    present = [r for r in remote_ids if ids[r] in stored]
    assert set(current) == {ids[r] for r in present}
    for r in present:
        row = current[ids[r]]
        assert row["id"] == ids[r] and row["name"] == f"person {r}" == stored[ids[r]][0]
        assert bases[r] == {"name": f"person {r}"}
        assert where[ids[r]] == stored[ids[r]][1]


def chunks(seed: int, count: int = 4, size: int = 700) -> list[list[str]]:
    rng = random.Random(seed)
    everyone = [str(i) for i in range(N)]
    return [rng.sample(everyone, size) for _ in range(count)]  # shuffled, scattered over the whole table


def test_places_find_each_chunks_own_rows(con: Any) -> None:
    places = RowPlaces()
    for chunk in chunks(1):
        assert_own_rows(con, chunk, *read(con, places, chunk))
    assert places.find(con, "canonical.contacts", [links(con)["7"]]) is not None  # the places were used


def test_wrong_places_never_give_another_records_row(con: Any) -> None:
    places = RowPlaces()
    first, second, third = chunks(2, 3)
    assert_own_rows(con, first, *read(con, places, first))
    assert_own_rows(con, second, *read(con, places, second))  # places taken by now
    hashes, rowids = places._places["canonical.contacts"]
    rowids.reverse()  # every place now names another row
    assert_own_rows(con, third, *read(con, places, third))
    assert "canonical.contacts" not in places._places  # found by id: taken again when next needed


def test_rows_deleted_checkpointed_and_inserted_after_the_places_were_taken(con: Any) -> None:
    places = RowPlaces()
    for _ in range(TAKE_ON_READ):
        chunk = chunks(3, 1)[0]
        assert_own_rows(con, chunk, *read(con, places, chunk))
    con.execute("DELETE FROM canonical.contacts WHERE CAST(substr(name, 8) AS INTEGER) % 3 = 0")
    con.execute("CHECKPOINT")  # may compact the row groups: rowids of the rows left can change
    con.execute("INSERT INTO canonical.contacts (id, name) VALUES ('new-1', 'person new1'), ('new-2', 'person new2')")
    con.execute("INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base, base_hash) VALUES "
                "('contact', 'crm', 'new1', 'new-1', '{\"name\": \"person new1\"}', 'h'), "
                "('contact', 'crm', 'new2', 'new-2', '{\"name\": \"person new2\"}', 'h')")
    for chunk in chunks(4, 3):
        chunk = [*chunk, "new1", "new2"]
        random.Random(5).shuffle(chunk)
        assert_own_rows(con, chunk, *read(con, places, chunk))


def test_update_by_wrong_places_writes_each_row_by_id(con: Any) -> None:
    places = RowPlaces()
    chunk = chunks(6, 1, 50)[0]
    current, _, where = read(con, places, chunk)
    others = dict(con.execute("SELECT id, name FROM canonical.contacts").fetchall())
    rows = [({**old, "name": old["name"] + " (edited)"}, old) for old in current.values()]
    wrong = dict(zip(where, reversed(where.values()), strict=True))  # each row's place is another's
    update_rows(con, "canonical.contacts", COLS, rows, wrong)
    after = dict(con.execute("SELECT id, name FROM canonical.contacts").fetchall())
    assert after == {i: name + (" (edited)" if i in current else "") for i, name in others.items()}
    update_rows(con, "canonical.contacts", COLS, [({**new, "name": "again " + new["id"]}, new) for new, _ in rows],
                where)  # the right places: the same rows, nothing else
    after = dict(con.execute("SELECT id, name FROM canonical.contacts").fetchall())
    assert after == {i: ("again " + i) if i in current else name for i, name in others.items()}
