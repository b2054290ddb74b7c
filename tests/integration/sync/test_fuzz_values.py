"""Fuzz: extreme and malformed values through pull and push, for every mapped field of both CRMs.

Each example puts one drawn value into *every* mapped field at once — each field in a record of its
own — runs one pull (or push), and checks every record: the run ends normally (no internal error),
a record either goes through or is set aside in ``sync.rejected`` naming one of its fields, and a
value that is bad whatever the field (malformed text, NaN, a number no column keeps) is always set
aside. Then every value is fixed and the next run must take every record again.

``make test`` runs two examples per CRM and direction; ``pytest -m fuzz_long`` runs many
(``CRMSYNC_FUZZ_EXAMPLES``, default 200), and is left out of a plain ``pytest`` run.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crmsync.canonical.tables import TABLE, columns, stored_scale
from crmsync.canonical.values import get_field, plain, same
from crmsync.fakes import start_fake
from crmsync.fakes.bitrix24 import dates
from crmsync.mapping import load_canonical
from crmsync.mapping.spec import CustomFieldRef
from crmsync.project import Project, builtin_project_dir
from tests.integration.push.test_push import Sync

LONG = os.environ.get("CRMSYNC_FUZZ_EXAMPLES")
EXAMPLES = int(LONG) if LONG else 1
# No shrinking: an example is whole pulls and pushes, and the failure report already names the
# record, the field and the value.
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not LONG,
                phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Fields a pull cannot be fed through: the CRM's own modification time is the read cursor (the
# fake's listing filters on it), and links come from other records (the link tests cover them).
CURSORS = {"updated_at", "DATE_MODIFY", "changedDate"}
# Fields the fake itself reads when it answers a listing (a real CRM validated them on write).
FAKE_READS = {"responsibleId", "deadline", "status", "STAGE_ID", "CATEGORY_ID", "status_id", "pipeline_id"}
NATIVE = {"amocrm": {"contact": "contacts", "deal": "leads", "task": "tasks"},
          "bitrix24": {"contact": "contacts", "deal": "deals", "task": "tasks"}}


@dataclass(frozen=True, repr=False)
class Bad:
    label: str
    value: Any
    always_bad: bool  # set aside whatever field it is in

    def __repr__(self) -> str:  # a failure report must not print 100,000 characters
        return f"Bad({self.label!r}, {repr(self.value)[:40]}, always_bad={self.always_bad})"


def _ctrl(text: str) -> str:
    return f"{text}\x01{text}"


RAW_VALUES = st.one_of(
    st.text(max_size=6).map(lambda t: Bad("control character", _ctrl(t), True)),
    st.sampled_from([
        Bad("NaN", math.nan, True),
        Bad("infinity", math.inf, True),
        Bad("huge text", "Ж" * 100_000, False),
        Bad("integer past 64 bits", 10**30, False),
        Bad("float past 64 bits", -1e300, False),
        Bad("tiny", 1e-30, False),
        Bad("object", {"unexpected": [1, "two"]}, False),
        Bad("list", ["a", "b"], False),
        Bad("true", True, False),
        Bad("year 1", "0001-01-01T00:00:00+00:00", False),
        Bad("year 9999", "9999-12-31T23:59:59+03:00", False),
        Bad("no such date", "2026-13-45T99:99:99+03:00", False),
        Bad("unix year 10000", 253402300800, False),
        Bad("garbage enum", "NO_SUCH_VALUE_Ω", False),
        Bad("empty", "", False),
    ]))

PUSH_TEXT = st.one_of(
    st.text(max_size=6).map(lambda t: Bad("control character", _ctrl(t), True)),
    st.sampled_from([Bad("huge text", "Ж" * 100_000, False), Bad("garbage", "NO_SUCH_VALUE_Ω", False),
                     Bad("year 1", "0001-01-01T00:00:00Z", False), Bad("year 9999", "9999-12-31T23:59:59Z", False),
                     Bad("no such date", "2026-13-45T99:99:99Z", False), Bad("empty", "", False)]))
PUSH_NUMBERS = st.sampled_from([
    Bad("1e30", 1e30, True), Bad("NaN", math.nan, True), Bad("infinity", -math.inf, True),
    Bad("beyond a double's integers", 12345678901234567890, True), Bad("tiny", 1e-30, True),
    Bad("5 decimals", 1e-05, True), Bad("3 decimals", 100.125, True),
    Bad("half", 0.5, False), Bad("negative", -7.0, False)])
PUSH_JSON = st.sampled_from([
    Bad("control character", "a\x01b", True), Bad("1e30", 1e30, True), Bad("object", {"x": 1}, True),
    Bad("garbage", "NO_SUCH_VALUE_Ω", False), Bad("list of garbage", ["nope", 5], False)])


class World:
    """One fake CRM, a project and its store, pulled once; each example leaves it as it found it."""

    def __init__(self, crm: str, root: Any) -> None:
        for folder in ("connectors", "mappings"):
            shutil.copytree(builtin_project_dir() / folder, root / folder)
        self.crm = crm
        self.fake = start_fake(crm, contacts=40, deals=30, tasks=20, rate_limit=False)
        self.server = self.fake.__enter__()
        self.sync = Sync(Project(root), crm, self.server)
        self.canonical = load_canonical(self.sync.project.root)
        first = self.sync.pull()
        assert all(c["rejected"] == 0 for c in first.entities.values())

    def close(self) -> None:
        self.fake.__exit__(None, None, None)

    # pull: values put straight into the fake's records (the CRM's own write API refuses most of them)
    def raw_targets(self, entity: str) -> list[tuple[str, Any, list[str]]]:
        """(canonical field, where its value sits in the native record, the fields reading that place)."""
        spec = self.sync.mappings[entity]
        out = []
        for f in spec.fields:
            kinds = {t["type"] for t in f.transforms}
            if not f.pulls or kinds & {"links"}:
                continue  # linked records are added by the reader from other calls
            if isinstance(f.source, CustomFieldRef):
                where: Any = ("custom", self._custom_key(entity, f.source))
            elif isinstance(f.source, tuple) or "." in f.source or f.source in CURSORS | FAKE_READS:
                continue
            else:
                where = f.source
            readers = [g.name for g in spec.fields if g.pulls and (g.source == f.source or (
                isinstance(g.source, tuple) and f.source in g.source))]
            out.append((f.name, where, readers))
        return out

    def _custom_key(self, entity: str, ref: CustomFieldRef) -> Any:
        if self.crm == "amocrm":
            path = NATIVE["amocrm"][entity]
            fields = requests.get(f"{self.server.url}/api/v4/{path}/custom_fields", timeout=10,
                                  headers={"Authorization": "Bearer demo-token"}).json()["_embedded"]["custom_fields"]
            return next(f["id"] for f in fields if ref.value in (f["name"], f.get("code"), f["id"]))
        fields = requests.get(f"{self.sync.base}/crm.{entity}.fields", timeout=10).json()["result"]
        return next(k for k, v in fields.items() if ref.value in (v.get("listLabel"), v.get("formLabel"), k))

    def rows(self, entity: str) -> list[dict[str, Any]]:
        table = self.server.app.tables[NATIVE[self.crm][entity]]
        return [table.rows[k] for k in sorted(table.rows)]

    def put(self, row: dict[str, Any], where: Any, value: Any) -> Any:
        """Set ``value`` in a native record and mark it changed; returns what was there."""
        with self.server.app.lock:
            if not isinstance(where, tuple):
                before, row[where] = row.get(where), value
            elif self.crm == "bitrix24":
                before, row[where[1]] = row.get(where[1]), value
            else:
                entries = row.get("custom_fields_values") or []
                entry = next((e for e in entries if e.get("field_id") == where[1]), None)
                before = _Absent() if entry is None else entry["values"]
                kept = [e for e in entries if e.get("field_id") != where[1]]
                if not isinstance(value, _Absent):
                    kept.append({"field_id": where[1], "field_name": "", "field_code": None,
                                 "values": [{"value": value}]})
                row["custom_fields_values"] = kept or None
            self._touch(row)
        return before

    def restore(self, row: dict[str, Any], where: Any, before: Any) -> None:
        if isinstance(where, tuple) and self.crm == "amocrm" and isinstance(before, list):
            with self.server.app.lock:
                entries = [e for e in row.get("custom_fields_values") or [] if e.get("field_id") != where[1]]
                row["custom_fields_values"] = entries + [{"field_id": where[1], "field_name": "", "field_code": None,
                                                          "values": before}]
                self._touch(row)
            return
        self.put(row, where, before)

    def _touch(self, row: dict[str, Any]) -> None:
        app = self.server.app
        if self.crm == "amocrm":
            row["updated_at"] = app._now()
            app._forget_listings()  # changed behind the API's back: the fake's serialised records are stale
        else:
            row["changedDate" if "changedDate" in row else "DATE_MODIFY"] = dates.iso(app.clock.now(),
                                                                                      app.config.timezone)

    def record_id(self, row: dict[str, Any]) -> str:
        return str(row.get("id", row.get("ID")))

    def db(self) -> Any:
        return duckdb.connect(str(self.sync.project.store_path()))

    def canonical_row(self, con: Any, entity: str, remote_id: str) -> dict[str, Any] | None:
        cols = [c for c in columns(self.canonical[entity]) if c not in ("version", "updated_at")]
        rows = con.execute(f"SELECT {', '.join(f'c.{c}' for c in cols)} FROM canonical.{TABLE[entity]} c "
                             "JOIN sync.links l ON l.canonical_id = c.id WHERE l.entity = ? AND l.connection = ? "
                             "AND l.remote_id = ?", [entity, self.crm, remote_id]).fetchall()
        if not rows:
            return None
        kinds = columns(self.canonical[entity])
        return {c: json.loads(v) if kinds[c] == "JSON" and isinstance(v, str) else v
                for c, v in zip(cols, rows[0], strict=True)}

    def holds(self, entity: str, canonical_id: str, name: str) -> bool:
        """The CRM already holds the store's value of ``name`` (the link's base agrees): nothing to send.
        An example that stopped half-way restores the store, not the CRM; Hypothesis then runs it again."""
        con = self.db()
        try:
            top = name.split(".")[0]
            (value,) = con.execute(f"SELECT {top} FROM canonical.{TABLE[entity]} WHERE id = ?",
                                   [canonical_id]).fetchone()
            bases = con.execute("SELECT base FROM sync.links WHERE entity = ? AND connection = ? AND canonical_id = ? "
                                "AND remote_deleted_at IS NULL AND base IS NOT NULL",
                                [entity, self.crm, canonical_id]).fetchall()
        finally:
            con.close()
        if columns(self.canonical[entity])[top] == "JSON" and isinstance(value, str):
            value = json.loads(value)
        mine = get_field({top: plain(value)}, name)
        return any(same(mine, get_field(json.loads(base), name)) for (base,) in bases)

    def rejections(self, run_id: str, direction: str) -> dict[tuple[str, str], str]:
        """(entity, record) → the field a rejection names (a CRM's own refusal names none: its reason)."""
        key = "remote_id" if direction == "pull" else "json_extract_string(raw, '$.canonical_id')"
        return {(e, r): f for e, r, f in self.sync.sql(
            f"SELECT entity, {key}, coalesce(nullif(field, ''), reason) FROM sync.rejected "
            "WHERE (run_id = ? OR ? IS NULL) AND direction = ? ORDER BY rejected_at", [run_id, run_id, direction])}


class _Absent:
    """A custom field the record had no value for."""


@pytest.fixture(scope="module", params=["amocrm", "bitrix24"])
def world(request, tmp_path_factory):
    w = World(request.param, tmp_path_factory.mktemp(f"fuzz-{request.param}"))
    yield w
    w.close()


def _pull_round(world: World, draw_value: Any) -> None:
    placed = []  # (entity, remote id, field, where, what was there, bad, fields reading it, canonical, row)
    con = world.db()
    for entity in ("contact", "deal", "task"):
        rows = world.rows(entity)
        for (name, where, readers), row in zip(world.raw_targets(entity), rows, strict=False):
            bad = draw_value()
            before_canonical = world.canonical_row(con, entity, world.record_id(row))
            placed.append((entity, world.record_id(row), name, where, world.put(row, where, bad.value), bad, readers,
                           before_canonical, row))
    con.close()
    assert placed
    try:
        result = world.sync.pull()  # no exception: whatever the CRM holds, the run ends normally
        assert sum(c["read"] for c in result.entities.values()) >= len(placed)  # every changed record was read
        rejected = world.rejections(result.run_id, "pull")
        for entity, remote_id, name, _, _, bad, readers, _, _ in placed:
            if (entity, remote_id) in rejected:
                named = rejected[entity, remote_id].split("[")[0]  # custom.channels[0]: an item of the field
                assert named in readers, (entity, name, bad, rejected[entity, remote_id][:200])
            else:
                assert not bad.always_bad, f"{world.crm} {entity}.{name} took {bad}"
    finally:  # the next example starts from the CRM as it was, whatever happened in this one
        for _, _, _, where, before, _, _, _, row in placed:
            world.restore(row, where, before)
    fixed = world.sync.pull()
    assert not world.rejections(fixed.run_id, "pull"), "a fixed value is still set aside"
    con = world.db()
    for entity, remote_id, name, _, _, bad, _, before_canonical, _ in placed:
        assert world.canonical_row(con, entity, remote_id) == before_canonical, (entity, name, bad.label)
    con.close()


@pytest.mark.fuzz
@pytest.mark.timeout(600)
@FUZZ
@given(data=st.data())
def test_pull_sets_aside_every_bad_value_and_takes_the_fix(world, data):
    _pull_round(world, lambda: data.draw(RAW_VALUES))


def _push_fields(world: World, entity: str) -> list[tuple[str, str]]:
    cols = columns(world.canonical[entity])
    out = []
    for f in world.sync.mappings[entity].fields:
        if not f.pushes:
            continue
        top = f.name.split(".")[0]
        out.append((f.name, cols[top]))
    return out


def _as_stored(bad: Bad, stored: Decimal, scale: int) -> Bad:
    """What a DECIMAL column made of ``bad``: SQL rounds a value to the column's ``scale`` places on
    assignment, before its CHECK sees it (README, "Editing the store with SQL"), so a number that rounds
    to a valid amount — 1e-30 is 0 — is that amount by the time crmsync reads it, and is sent as such.
    Anything else a column changed would be a silent edit: the test fails."""
    exact = Decimal(repr(bad.value)) if isinstance(bad.value, float) else Decimal(bad.value)
    if stored == exact:
        return bad
    assert abs(stored - exact) * 2 <= Decimal(10) ** -scale, (bad, stored)  # rounded at that place, no more
    return Bad(f"{bad.label}, rounded by SQL to {stored}", stored, always_bad=False)


def _push_round(world: World, data: Any) -> None:
    placed = []
    con = world.db()
    sql = con.execute
    for entity in ("contact", "deal", "task"):
        ids = [r[0] for r in sql(
            f"SELECT c.id FROM canonical.{TABLE[entity]} c JOIN sync.links l ON l.canonical_id = c.id "
            "AND l.connection = ? AND l.base IS NOT NULL WHERE c.deleted_at IS NULL ORDER BY c.id",
            [world.crm]).fetchall()]
        for (name, kind), cid in zip(_push_fields(world, entity), ids, strict=False):
            top, _, key = name.partition(".")
            (before,) = sql(f"SELECT CAST({top} AS VARCHAR) FROM canonical.{TABLE[entity]} WHERE id = ?",
                            [cid]).fetchall()[0]
            try:
                if key:
                    bad = data.draw(PUSH_JSON)
                    custom = json.loads(before) if before else {}
                    sql(f"UPDATE canonical.{TABLE[entity]} SET custom = CAST(? AS JSON) WHERE id = ?",
                        [json.dumps({**custom, key: bad.value}, ensure_ascii=False), cid])
                elif kind == "JSON":
                    bad = data.draw(PUSH_JSON)
                    sql(f"UPDATE canonical.{TABLE[entity]} SET {top} = CAST(? AS JSON) WHERE id = ?",
                        [json.dumps(bad.value, ensure_ascii=False), cid])
                elif kind == "DOUBLE" or kind.startswith("DECIMAL"):
                    bad = data.draw(PUSH_NUMBERS)
                    sql(f"UPDATE canonical.{TABLE[entity]} SET {top} = CAST(? AS DOUBLE) WHERE id = ?",
                        [str(bad.value) if not isinstance(bad.value, float) else repr(bad.value), cid])
                    if kind.startswith("DECIMAL"):
                        (stored,) = sql(f"SELECT {top} FROM canonical.{TABLE[entity]} WHERE id = ?", [cid]).fetchone()
                        bad = _as_stored(bad, stored, stored_scale(world.canonical[entity]["properties"][top]))
                elif kind == "BOOLEAN":
                    continue  # a boolean column cannot hold a bad value
                else:
                    bad = data.draw(PUSH_TEXT)
                    sql(f"UPDATE canonical.{TABLE[entity]} SET {top} = ? WHERE id = ?", [bad.value, cid])
            except (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException):
                continue  # the typed store refuses it where it is typed (a CHECK, the column's type): never pushed
            placed.append((entity, cid, name, top, before, bad))
    con.close()
    try:
        result = world.sync.push()  # no exception
        sent = {(e, c) for e, c in world.sync.sql("SELECT entity, canonical_id FROM sync.outbox WHERE run_id = ? "
                                                  "AND status = 'sent'", [result.run_id])}
        # A refusal already on record for the same record, field and reason is not written twice.
        rejected = world.rejections(None, "push")
        for entity, cid, name, _, _, bad in placed:
            if (entity, cid) not in sent:  # set aside naming its field, or already in the CRM as it is
                assert rejected.get((entity, cid)) or world.holds(entity, cid, name), (entity, name, bad)
            else:
                assert not bad.always_bad, f"{world.crm} {entity}.{name} sent {bad}"
    finally:  # fix: the value each field had before
        con = world.db()
        for entity, cid, _, top, before, _ in placed:
            kind = columns(world.canonical[entity])[top]
            con.execute(f"UPDATE canonical.{TABLE[entity]} SET {top} = CAST(? AS {kind}) WHERE id = ?", [before, cid])
        con.close()
    fixed = world.sync.push()
    assert all(c["rejected"] == 0 for c in fixed.entities.values()), "a fixed value is still refused"
    world.sync.pull()
    again = world.sync.push()
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again.entities.values()), "not settled"


@pytest.mark.fuzz
@pytest.mark.timeout(600)
@FUZZ
@given(data=st.data())
def test_push_refuses_every_bad_value_and_sends_the_fix(world, data):
    _push_round(world, data)


@pytest.mark.fuzz_long
@pytest.mark.timeout(0)
@pytest.mark.parametrize("direction", ["pull", "push"])
def test_fuzz_long(world, direction):
    """Many examples: ``pytest -m fuzz_long`` (CRMSYNC_FUZZ_EXAMPLES sets how many, default 200)."""
    many = settings(FUZZ, max_examples=int(LONG or 200), derandomize=False)

    @many
    @given(data=st.data())
    def run(data):
        if direction == "pull":
            _pull_round(world, lambda: data.draw(RAW_VALUES))
        else:
            _push_round(world, data)

    run()
