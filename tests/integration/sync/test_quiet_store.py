"""A sync with nothing to do plans from the store's seal (crmsync.push.quiet) and reads nothing; the
seal never hides a change.

A real store pulled from the fake AmoCRM; edits are made with SQL in a DuckDB connection of their
own, as users make them, including edits that leave ``updated_at`` as it was, writes of the same
value, inserts, deletions and a moved base. The reference for what a sync must send is the plan that
compares every row (the remembered bucket states dropped), made on a copy of the edited project.
"""

import json
import shutil
import uuid

import duckdb
import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crmsync.project import Project
from crmsync.push import run_push
from crmsync.push.quiet import FILE, SWITCH, stamp
from crmsync.sync import run_sync
from tests.integration.test_pull_cli import run_here


@pytest.fixture(scope="module")
def fake():
    from crmsync.fakes import start_fake

    server = start_fake("amocrm", contacts=30, deals=15, tasks=10, rate_limit=False)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def template(tmp_path_factory, fake):
    root = tmp_path_factory.mktemp("quiet")
    run_here(root, "init", str(root / "p"))
    project = root / "p"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", fake.url, "--long-lived-token",
             "demo-token")
    run_here(project, "sync", "amocrm")
    return project


def sealed_copy(template, tmp_path):
    """A copy of the project, synced until a sync changed nothing and sealed. A copy is a new file, so
    its first sync compares by buckets, and seals when it found nothing; it may also pull what earlier
    tests wrote to the shared fake."""
    project = tmp_path / f"p-{uuid.uuid4().hex[:6]}"
    shutil.copytree(template, project)
    for _ in range(3):
        result = sync(project)
        if sealed(project) and counts(result) == NOTHING:
            break
    assert sealed(project) and counts(result) == NOTHING, result.entities
    return project


def sealed(project):
    try:
        entries = json.loads((project / ".crmsync" / "cache" / FILE).read_text())
    except FileNotFoundError:
        return False
    entry = entries.get(str((project / "crmsync.duckdb").resolve())) or {}
    return sorted(entry.get("plans", {})) == ["amocrm/contact", "amocrm/deal", "amocrm/task"]


def sync(project):
    return run_sync(Project.at(project), "amocrm")


def sql(project, statement, params=()):
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    try:
        return con.execute(statement, list(params)).fetchall()
    finally:
        con.close()


def counts(result):
    return {e: {k: c[k] for k in ("created", "updated", "deleted", "rejected", "held", "applied")}
            for e, c in result.entities.items()}


NOTHING = {e: dict.fromkeys(("created", "updated", "deleted", "rejected", "held", "applied"), 0)
           for e in ("contact", "deal", "task")}


def full_plan(project, tmp_path):
    """What comparing every row plans for ``project`` as it is now (on a copy: nothing is touched)."""
    other = tmp_path / f"ref-{uuid.uuid4().hex[:6]}"
    shutil.copytree(project, other)
    sql(other, "DELETE FROM sync.push_checked")
    planned = run_push(Project.at(other), "amocrm", dry_run=True)
    return {e: {k: c[k] for k in ("created", "updated", "deleted", "rejected", "held")}
            for e, c in planned.entities.items()}


def test_a_quiet_sync_reads_nothing_to_plan_and_sends_nothing(template, tmp_path):
    project = sealed_copy(template, tmp_path)
    for _ in range(2):
        again = sync(project)
        assert again.push.sealed == ["contact", "deal", "task"]
        assert counts(again) == NOTHING
    assert json.loads((project / ".crmsync" / "cache" / FILE).read_text())  # the seal is kept


EDITS_KEEPING_THE_CLOCK = [
    # (what, statement on one contact's id; updated_at never set, so it stays as it was)
    ("a text", "UPDATE canonical.contacts SET position = 'set by SQL' WHERE id = ?", "updated"),
    ("the same value again", "UPDATE canonical.contacts SET position = position WHERE id = ?", None),
    ("the same value written", "UPDATE canonical.contacts SET position = (SELECT position FROM canonical.contacts "
                               "WHERE id = $1) WHERE id = $1", None),
    ("a JSON list", "UPDATE canonical.contacts SET phones = json_array(json_object('value', '+79990001122', "
                    "'type', 'work')) WHERE id = ?", "updated"),
    ("a deletion", "UPDATE canonical.contacts SET deleted_at = now() WHERE id = ?", None),
    ("the CRM's base", "UPDATE sync.links SET base = json_merge_patch(base, '{\"position\": \"other\"}') "
                       "WHERE canonical_id = ?", "updated"),
]


@pytest.mark.parametrize(("what", "statement", "expect"), EDITS_KEEPING_THE_CLOCK,
                         ids=[e[0] for e in EDITS_KEEPING_THE_CLOCK])
def test_an_sql_edit_after_the_seal_is_found_even_with_updated_at_unchanged(template, tmp_path, what, statement,
                                                                             expect):
    project = sealed_copy(template, tmp_path)
    (cid, clock), = sql(project, "SELECT id, updated_at FROM canonical.contacts WHERE position IS NOT NULL "
                                 "AND deleted_at IS NULL ORDER BY id LIMIT 1")
    sql(project, statement, [cid])
    assert sql(project, "SELECT updated_at FROM canonical.contacts WHERE id = ?", [cid])[0][0] == clock
    reference = full_plan(project, tmp_path)
    result = sync(project)
    if not what.startswith("the same value"):  # DuckDB writes nothing then: the store is the one sealed
        assert result.push.sealed == []  # the file changed: every plan compares by its buckets
    assert {e: {k: v for k, v in c.items() if k != "applied"} for e, c in counts(result).items()} == reference
    assert reference["contact"]["updated"] == (1 if expect == "updated" else 0)


def test_an_insert_right_after_a_sealing_sync_is_created(template, tmp_path):
    """The seal's stamp waits out the file system's clock tick: a write at once after is still seen."""
    project = sealed_copy(template, tmp_path)
    assert sync(project).push.sealed  # sealed again, and at once:
    sql(project, "INSERT INTO canonical.contacts (id, version, first_name, last_name) VALUES (?, 1, 'Quick', 'New')",
        [f"c-{uuid.uuid4().hex[:8]}"])
    result = sync(project)
    assert result.push.sealed == [] and result.entities["contact"]["created"] == 1


def test_a_sync_that_sent_something_does_not_seal(template, tmp_path):
    project = sealed_copy(template, tmp_path)
    (cid,), = sql(project, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")
    sql(project, "UPDATE canonical.contacts SET position = 'sent once', updated_at = now() WHERE id = ?", [cid])
    assert sync(project).entities["contact"]["updated"] == 1
    assert not sealed(project)  # our own write changed rows after the plan
    # The next sync reads the write back from the CRM (dlt opens the store), compares by buckets, finds
    # nothing, and seals what it saw once it held the store again; the one after plans from the seal.
    after = sync(project)
    assert after.push.sealed == [] and counts(after) == NOTHING and sealed(project)
    assert sync(project).push.sealed == ["contact", "deal", "task"]


def test_a_change_in_the_crm_is_pulled_and_the_plans_compare_again(template, tmp_path, fake):
    project = sealed_copy(template, tmp_path)
    rid = sql(project, "SELECT remote_id FROM sync.links WHERE entity = 'contact' ORDER BY remote_id LIMIT 1")[0][0]
    requests.post(fake.url + "/_fake/touch", json={"entity": "contacts", "ids": [int(rid)]},
                  timeout=10).raise_for_status()
    result = sync(project)
    assert result.pull.entities["contact"]["read"] >= 1
    assert result.push.sealed == []
    assert sync(project).push.sealed == ["contact", "deal", "task"]  # that run sealed what it compared


def test_the_seal_can_be_switched_off(template, tmp_path, monkeypatch):
    project = sealed_copy(template, tmp_path)
    monkeypatch.setenv(SWITCH, "off")
    assert sync(project).push.sealed == []
    assert sync(project).push.sealed == [] and not sealed(project)


def test_the_stamp_moves_with_every_committed_write(tmp_path):
    path = tmp_path / "s.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (v INTEGER)")
    con.execute("CHECKPOINT")
    before = stamp(path)
    con.execute("INSERT INTO t VALUES (1)")  # committed to the write-ahead log
    assert stamp(path) != before
    con.execute("CHECKPOINT")
    folded = stamp(path)
    con.close()
    assert stamp(path) == folded  # closing a checkpointed store writes nothing
    for same in ("UPDATE t SET v = v", "UPDATE t SET v = 1"):  # DuckDB logs nothing: the store is unchanged
        con = duckdb.connect(str(path))
        con.execute(same)
        con.close()
        assert stamp(path) == folded
    con = duckdb.connect(str(path))
    con.execute("UPDATE t SET v = 2")
    con.close()
    assert stamp(path) != folded


# Random SQL edit sets after a seal: the next sync sends what comparing every row plans.
EDIT = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(["position", "first_name", "last_name"]), st.integers(0, 29),
              st.one_of(st.none(), st.text("abc xyzé", max_size=6)), st.booleans()),
    st.tuples(st.just("custom"), st.integers(0, 29), st.one_of(st.none(), st.text("ab", max_size=3)), st.booleans()),
    st.tuples(st.just("delete"), st.sampled_from(["contacts", "deals", "tasks"]), st.integers(0, 9), st.booleans()),
    st.tuples(st.just("insert"), st.text("abcdef", min_size=1, max_size=5), st.booleans()),
    st.tuples(st.just("base"), st.integers(0, 29), st.text("ab", max_size=3), st.booleans()),
)


def _pick(project, table, index):
    found = [r[0] for r in sql(project, f"SELECT id FROM canonical.{table} WHERE deleted_at IS NULL ORDER BY id")]
    return found[index % len(found)] if found else None


def _apply(project, edits):
    for edit in edits:
        kind, clock = edit[0], (", updated_at = now()" if edit[-1] else "")  # half keep updated_at as it was
        if kind == "text":
            sql(project, f"UPDATE canonical.contacts SET {edit[1]} = ?{clock} WHERE id = ?",
                [edit[3], _pick(project, "contacts", edit[2])])
        elif kind == "custom":
            sql(project, f"UPDATE canonical.contacts SET custom = json_merge_patch(coalesce(custom, '{{}}'), ?){clock} "
                         "WHERE id = ?", [json.dumps({"notes": edit[2]}), _pick(project, "contacts", edit[1])])
        elif kind == "delete":
            sql(project, f"UPDATE canonical.{edit[1]} SET deleted_at = now(){clock} WHERE id = ?",
                [_pick(project, edit[1], edit[2])])
        elif kind == "insert":
            sql(project, "INSERT INTO canonical.contacts (id, version, first_name, last_name) VALUES (?, 1, ?, 'New')",
                [f"c-{uuid.uuid4().hex[:8]}", edit[1]])
        else:
            sql(project, "UPDATE sync.links SET base = json_merge_patch(base, ?) WHERE canonical_id = ?",
                [json.dumps({"company": edit[2] or None}), _pick(project, "contacts", edit[1])])


@settings(max_examples=4, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=5))
def test_random_sql_edits_after_a_seal_are_sent_as_comparing_every_row_plans(template, tmp_path, edits):
    project = sealed_copy(template, tmp_path)  # the edits below come right after a sealing run
    seal = stamp(project / "crmsync.duckdb")
    _apply(project, edits)
    written = stamp(project / "crmsync.duckdb") != seal  # not when every edit set the values rows had
    reference = full_plan(project, tmp_path)
    result = sync(project)
    assert result.push.sealed == ([] if written else ["contact", "deal", "task"])
    assert {e: {k: v for k, v in c.items() if k != "applied"} for e, c in counts(result).items()} == reference


def test_a_dry_run_neither_plans_from_the_seal_nor_writes_one(template, tmp_path):
    project = sealed_copy(template, tmp_path)
    before = (project / ".crmsync" / "cache" / FILE).read_text()
    dry = run_sync(Project.at(project), "amocrm", dry_run=True)
    assert dry.push.sealed == []  # it does not hold the store: it compares by buckets
    assert (project / ".crmsync" / "cache" / FILE).read_text() == before
