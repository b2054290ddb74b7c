"""The batch apply (set statements on a staged chunk) leaves the store exactly as the record-by-record
apply does: the same canonical rows, links, history, conflicts and rejections, row by row.

Two real DuckDB stores take the same steps — pulls of golden records, SQL edits, CRM edits that clash
with them, rejections for one bad field, deletes on either side, records a second CRM brings that
match an existing row, a lost create claimed — one store through ``mode='rows'``, the other through
``mode='batch'``, and every table is compared after every step. Canonical ids are random, so rows
are compared through the remote ids their links give them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crmsync.canonical.apply import apply_pulled, save_minted
from crmsync.canonical.conflicts import ConflictRules
from crmsync.canonical.identity import matcher
from crmsync.canonical.links import LinkBook
from crmsync.canonical.tables import TABLE, ensure
from crmsync.mapping import load_canonical

ROOT = Path(__file__).resolve().parents[3]
CANONICAL = load_canonical(ROOT)
MODES = ("rows", "batch")


def golden(entity: str) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8"))["canonical"]
            for p in sorted((ROOT / "tests" / "golden").glob(f"*/{entity}/*.json"))]


class Twin:
    """One store per mode; each step is taken in both. ``connect``: a new empty store (default: DuckDB in
    memory; the Postgres suite passes its own, tests/integration/postgres/test_batch_apply_pg.py)."""

    def __init__(self, connect: Any = None) -> None:
        self.cons = {m: (connect or (lambda: duckdb.connect(":memory:")))() for m in MODES}
        for con in self.cons.values():
            ensure(con, CANONICAL)
        self.runs = 0

    def pull(self, entity: str, connection: str, results: list[tuple[str, Any, Any, Any]], *, rules: ConflictRules,
             chunk_size: int = 4, claim: dict[str, str] | None = None, match: bool = False) -> dict[str, dict]:
        self.runs += 1
        out = {}
        for mode, con in self.cons.items():
            book = LinkBook.load(con, connection)
            con.execute("BEGIN")
            counts = apply_pulled(
                con, entity=entity, connection=connection, run_id=f"run-{self.runs}", schema=CANONICAL[entity],
                book=book, results=copy.deepcopy(results), rules=rules, chunk_size=chunk_size, mode=mode,
                claim=(lambda rid, _: (claim or {}).get(rid)) if claim else None,
                identify=matcher(con, entity, connection, None) if match else None,
                after_chunk=lambda con=con, book=book: (save_minted(con, book), con.execute("COMMIT"),
                                                        con.execute("BEGIN")))
            save_minted(con, book)
            con.execute("COMMIT")
            out[mode] = counts.as_dict()
        assert out["rows"] == out["batch"]
        return out["batch"]

    def sql(self, statement: str, params: list[Any] | None = None) -> None:
        for con in self.cons.values():
            con.execute(statement, params or [])

    def assert_same(self) -> None:
        seen = {m: snapshot(con) for m, con in self.cons.items()}
        for table in seen["rows"]:
            assert seen["batch"][table] == seen["rows"][table], table

    def close(self) -> None:
        for con in self.cons.values():
            con.close()


def snapshot(con: Any) -> dict[str, list[Any]]:
    """Every table the apply writes, with canonical ids as (connection, remote id) and the columns that
    are random or the clock's (conflict ids, when a row was written) left out; JSON compared parsed."""
    names: dict[str, str] = {}
    for cid, connection, remote_id in con.execute(
            "SELECT canonical_id, connection, remote_id FROM sync.links ORDER BY connection, remote_id").fetchall():
        names.setdefault(cid, f"{connection}/{remote_id}")

    def who(cid: Any) -> Any:
        return names.get(cid, cid)  # rows made by SQL keep the id the test gave them

    def value(v: Any) -> Any:
        if isinstance(v, str) and v[:1] in "[{":
            try:
                return json.loads(v)
            except ValueError:
                return v
        return v

    def rows(query: str, cid_at: int | None) -> list[Any]:
        out = []
        for row in con.execute(query).fetchall():
            row = [value(v) for v in row]
            if cid_at is not None:
                row[cid_at] = who(row[cid_at])
            out.append(repr(row))
        return sorted(out)

    snap = {}
    for table in TABLE.values():
        snap[table] = rows(f"SELECT * FROM canonical.{table}", 0)
    snap["links"] = rows("SELECT entity, connection, remote_id, canonical_id, base, base_hash, remote_updated_at, "
                         "remote_deleted_at IS NOT NULL FROM sync.links", 3)
    snap["changes"] = rows("SELECT run_id, entity, canonical_id, field, old, new, side, edited_at FROM sync.changes", 2)
    snap["conflicts"] = rows("SELECT run_id, entity, canonical_id, connection, field, base, \"local\", crm, policy, "
                             "status, resolution, reason, resolved_at IS NOT NULL, resolved_by FROM sync.conflicts", 2)
    snap["rejected"] = rows("SELECT run_id, entity, connection, remote_id, field, reason, direction, raw "
                            "FROM sync.rejected", None)
    return snap


@pytest.fixture
def twin():
    t = Twin()
    yield t
    t.close()


def ids(entity: str) -> dict[str, dict[str, Any]]:
    return {f"{entity[0]}{i}": rec for i, rec in enumerate(golden(entity))}


@pytest.mark.parametrize("entity", list(TABLE))
def test_golden_records_first_pull_again_and_changed(twin, entity):
    records = ids(entity)
    rules = ConflictRules(entity)
    first = twin.pull(entity, "amo", [(rid, rec, None, {"id": rid}) for rid, rec in records.items()], rules=rules)
    assert first["new_rows"] == len(records)
    twin.assert_same()
    again = twin.pull(entity, "amo", [(rid, rec, None, {"id": rid}) for rid, rec in records.items()], rules=rules)
    assert again["unchanged"] == len(records)
    twin.assert_same()
    changed = {rid: {**rec, "updated_at": "2026-03-01T10:00:00Z", "owner": f"o-{rid}@crm.example"}
               for rid, rec in records.items()}
    twin.pull(entity, "amo", [(rid, rec, None, {"id": rid}) for rid, rec in changed.items()], rules=rules)
    twin.assert_same()


def test_local_edits_clashes_rejections_and_deletes_under_every_policy(twin):
    records = ids("contact")
    results = [(rid, rec, None, {"id": rid}) for rid, rec in records.items()]
    twin.pull("contact", "amo", results, rules=ConflictRules("contact"))
    # local edits: one with a clock that moved, one without; a local delete; the CRM deleted one
    twin.sql("UPDATE canonical.contacts SET company = 'Local Co', position = 'local', "
             "updated_at = TIMESTAMPTZ '2030-01-01 00:00:00+00' WHERE id = (SELECT canonical_id FROM sync.links "
             "WHERE remote_id = 'c0')")
    twin.sql("UPDATE canonical.contacts SET custom = json_object('source', 'local', 'budget', 5) "
             "WHERE id = (SELECT canonical_id FROM sync.links WHERE remote_id = 'c1')")
    twin.sql("UPDATE canonical.contacts SET deleted_at = TIMESTAMPTZ '2029-01-01 00:00:00+00', position = 'gone' "
             "WHERE id = (SELECT canonical_id FROM sync.links WHERE remote_id = 'c2')")
    twin.sql("UPDATE sync.links SET remote_deleted_at = TIMESTAMPTZ '2029-01-01 00:00:00+00' WHERE remote_id = 'c3'")
    crm = {rid: {**rec, "company": "CRM Co", "position": "crm", "updated_at": "2026-06-01T00:00:00Z",
                 "custom": {**(rec.get("custom") or {}), "source": "crm"}} for rid, rec in records.items()}
    bad = {"field": "custom.source", "reason": "'Cold call' is not one of the enum's values"}
    results = [(rid, None if rid == "c4" else rec, bad if rid == "c4" else None, {"id": rid})
               for rid, rec in crm.items()]
    rules = ConflictRules("contact", default="newest_wins", fields={"contact.custom": "manual",
                                                                    "contact.position": "local_wins"})
    counts = twin.pull("contact", "amo", results, rules=rules, chunk_size=3)
    assert counts["rejected"] == 1 and counts["conflicts"] >= 3
    twin.assert_same()
    # the CRM moves again: the pending manual clash is superseded in both
    crm2 = {rid: {**rec, "custom": {**rec["custom"], "source": "crm2"}, "updated_at": "2026-07-01T00:00:00Z"}
            for rid, rec in crm.items()}
    twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in crm2.items()], rules=rules)
    twin.assert_same()


def test_a_second_crm_matched_by_email_and_a_lost_create_claimed(twin):
    records = ids("contact")
    twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in records.items()],
              rules=ConflictRules("contact"))
    twin.sql("INSERT INTO canonical.contacts (id, version, name, emails, updated_at) VALUES "
             "('ours-1', 1, 'Ours', '[{\"value\": \"ours@example.org\", \"type\": \"work\"}]', "
             "TIMESTAMPTZ '2026-01-01 00:00:00+00')")
    twin.sql("UPDATE canonical.contacts SET company = 'edited here' "
             "WHERE id = (SELECT canonical_id FROM sync.links WHERE remote_id = 'c0')")
    other = {f"b{rid}": {**rec, "company": "Bitrix Co", "updated_at": "2026-02-01T00:00:00Z"}
             for rid, rec in records.items()}
    other["b-claimed"] = {"name": "Ours", "emails": [{"value": "ours@example.org", "type": "work"}],
                          "created_at": "2026-01-01T00:00:05Z", "updated_at": "2026-01-01T00:00:05Z"}
    counts = twin.pull("contact", "b24", [(rid, rec, None, {"id": rid}) for rid, rec in other.items()],
                       rules=ConflictRules("contact", default="local_wins"), match=True,
                       claim={"b-claimed": "ours-1"})
    assert counts["matched"] >= 1
    twin.assert_same()


FIELDS = ("name", "company", "position", "first_name")
POOL = ("a", "b", "c", None)


@st.composite
def scenario(draw):
    n = draw(st.integers(2, 7))
    steps = []
    for _ in range(draw(st.integers(1, 4))):
        crm = {i: {f: draw(st.sampled_from(POOL)) for f in draw(st.sets(st.sampled_from(FIELDS), max_size=3))}
               for i in draw(st.sets(st.integers(0, n - 1)))}
        custom = {i: draw(st.sampled_from(POOL)) for i in draw(st.sets(st.integers(0, n - 1), max_size=3))}
        local = [(i, draw(st.sampled_from(FIELDS)), draw(st.sampled_from(POOL)), draw(st.booleans()))
                 for i in draw(st.sets(st.integers(0, n - 1), max_size=3))]
        steps.append({"crm": crm, "custom": custom, "local": local,
                      "reject": draw(st.sets(st.integers(0, n - 1), max_size=2)),
                      "gone": draw(st.sets(st.integers(0, n - 1), max_size=1)),
                      "chunk": draw(st.integers(1, 5)), "clock": draw(st.integers(0, 3))})
    policy = draw(st.sampled_from(("crm_wins", "local_wins", "newest_wins", "manual")))
    per_field = draw(st.dictionaries(st.sampled_from([f"contact.{f}" for f in (*FIELDS, "custom")]),
                                     st.sampled_from(("crm_wins", "local_wins", "newest_wins", "manual")), max_size=2))
    return n, steps, policy, per_field


LONG = os.environ.get("CRMSYNC_FUZZ_EXAMPLES")
RANDOM = settings(max_examples=5, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                  suppress_health_check=[HealthCheck.too_slow])


@RANDOM
@given(scenario())
def test_random_chunks_of_edits_clashes_deletes_and_rejections_apply_alike(data):
    same_after_every_step(*data)


@pytest.mark.fuzz_long
@settings(RANDOM, max_examples=int(LONG or 200), derandomize=False)
@given(scenario())
def test_many_random_chunks_apply_alike(data):
    same_after_every_step(*data)


def same_after_every_step(n: int, steps: list[dict[str, Any]], policy: str, per_field: dict[str, str],
                          connect: Any = None) -> None:
    seeds = golden("contact")
    state = {i: copy.deepcopy(seeds[i % len(seeds)]) | {"name": f"n{i}"} for i in range(n)}
    rules = ConflictRules("contact", default=policy, clock_skew_seconds=5, fields=per_field)
    twin = Twin(connect)
    try:
        twin.pull("contact", "amo", [(f"r{i}", rec, None, {"id": i}) for i, rec in state.items()], rules=rules)
        for k, step in enumerate(steps):
            for i, name, value, moves in step["local"]:
                clock = f", updated_at = TIMESTAMPTZ '2026-0{k + 2}-15 00:00:00+00'" if moves else ""
                twin.sql(f'UPDATE canonical.contacts SET "{name}" = ?{clock} WHERE id = '
                         "(SELECT canonical_id FROM sync.links WHERE connection = 'amo' AND remote_id = ?)",
                         [value, f"r{i}"])
            for i in step["gone"]:
                twin.sql("UPDATE sync.links SET remote_deleted_at = TIMESTAMPTZ '2026-01-01 00:00:00+00' "
                         "WHERE connection = 'amo' AND remote_id = ?", [f"r{i}"])
            for i, fields in step["crm"].items():
                state[i].update(fields)
                state[i]["updated_at"] = f"2026-0{k + 2}-15T00:00:0{step['clock']}Z"
            for i, value in step["custom"].items():
                state[i]["custom"] = {**(state[i].get("custom") or {}), "source": value}
            results = [(f"r{i}", None, {"field": "custom.source", "reason": "not one of the enum's values"}, {"id": i})
                       if i in step["reject"] else (f"r{i}", rec, None, {"id": i}) for i, rec in state.items()]
            twin.pull("contact", "amo", results, rules=rules, chunk_size=step["chunk"])
            twin.assert_same()
    finally:
        twin.close()


def test_newest_wins_takes_a_local_value_s_time_from_history_when_the_row_clock_moved_on(twin):
    """A local edit recorded in history when a later CRM edit of another field moved the row's clock:
    a clash on it later is judged by the edit's own time (one history query for the chunk)."""
    records = dict(list(ids("contact").items())[:3])
    rules = ConflictRules("contact", default="newest_wins")
    twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in records.items()], rules=rules)
    twin.sql("UPDATE canonical.contacts SET position = 'local', updated_at = TIMESTAMPTZ '2026-03-01 00:00:00+00'")
    moved = {rid: {**rec, "company": "moved", "updated_at": "2026-04-01T00:00:00Z"} for rid, rec in records.items()}
    twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in moved.items()], rules=rules)
    twin.assert_same()
    older = {rid: {**rec, "position": "crm", "updated_at": "2026-02-01T00:00:00Z"} for rid, rec in moved.items()}
    counts = twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in older.items()], rules=rules)
    assert counts["conflicts"] == len(records)
    twin.assert_same()
    for con in twin.cons.values():  # the local edit (March) is newer than the CRM's (February)
        assert {r[0] for r in con.execute("SELECT position FROM canonical.contacts").fetchall()} == {"local"}


def test_a_record_twice_in_one_chunk(twin):
    """Raw rows of two loads not applied yet hold one record twice: the second copy is compared with
    the first (changed, then back), new or known."""
    records = dict(list(ids("contact").items())[:3])
    rules = ConflictRules("contact")
    twin.pull("contact", "amo", [(rid, rec, None, {"id": rid}) for rid, rec in records.items() if rid != "c2"],
              rules=rules)
    results = []
    for rid, rec in records.items():
        results += [(rid, {**rec, "position": "moved"}, None, {"id": rid}), (rid, rec, None, {"id": rid})]
    twin.pull("contact", "amo", results, rules=rules, chunk_size=10)
    twin.assert_same()


def test_a_record_new_to_a_chunk_twice_is_counted_as_one_new_row(twin):
    records = dict(list(ids("contact").items())[:3])
    results = []
    for rid, rec in records.items():
        results += [(rid, rec, None, {"id": rid}), (rid, {**rec, "position": "moved"}, None, {"id": rid})]
    counts = twin.pull("contact", "amo", results, rules=ConflictRules("contact"), chunk_size=10)
    for con in twin.cons.values():
        assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone() == (counts["new_rows"],) == (3,)
    twin.assert_same()


def test_records_minted_for_references_earlier_and_a_chunk_mixing_new_known_and_set_aside_records(twin):
    """Links saved for records only referenced so far (no base, no row) are written again when their records
    arrive, keeping the ids minted for them; beside them in one chunk a known record that changed, a new
    one twice, and one set aside for one bad field."""
    records = dict(list(ids("contact").items())[:7])
    rules = ConflictRules("contact")
    twin.pull("contact", "amo", [(rid, records[rid], None, {"id": rid}) for rid in ("c0", "c1")], rules=rules)
    minted = {}
    for mode, con in twin.cons.items():  # a deal pulled earlier referred to c3 and c4 (save_minted kept their ids)
        book = LinkBook.load(con, "amo")
        minted[mode] = {rid: book.to_canonical("contact", rid) for rid in ("c3", "c4")}
        save_minted(con, book)
    bad = {"field": "emails", "reason": "'not an e-mail' is not an e-mail address"}
    results = [("c0", {**records["c0"], "position": "moved"}, None, {"id": "c0"}),
               ("c3", records["c3"], None, {"id": "c3"}),
               ("c5", records["c5"], None, {"id": "c5"}),
               ("c6", None, bad, {"id": "c6"}),
               ("c5", {**records["c5"], "company": "second copy"}, None, {"id": "c5"}),
               ("c4", records["c4"], None, {"id": "c4"}),
               ("c1", records["c1"], None, {"id": "c1"})]
    counts = twin.pull("contact", "amo", results, rules=rules, chunk_size=7)
    assert counts["rejected"] == 1 and counts["unchanged"] == 1
    twin.assert_same()
    for mode, con in twin.cons.items():
        for rid, cid in minted[mode].items():
            assert con.execute("SELECT l.canonical_id, l.base IS NOT NULL, c.name FROM sync.links l JOIN "
                               "canonical.contacts c ON c.id = l.canonical_id WHERE l.remote_id = ?",
                               [rid]).fetchall() == [(cid, True, records[rid]["name"])]
        assert con.execute("SELECT company FROM canonical.contacts c JOIN sync.links l ON c.id = l.canonical_id "
                           "WHERE l.remote_id = 'c5'").fetchall() == [("second copy",)]
