"""A push looks only at rows that changed (crmsync.push.candidates), and plans exactly what comparing
every row would.

The reference is the plan made with the remembered states dropped: every bucket is then "changed"
and every row goes through the Python comparison, as every push did before. Edits are made with SQL
(as users make them, outside crmsync) on a real store pulled from the fake AmoCRM: NULLs, JSON
lists and objects, DECIMAL money, timestamps, booleans, deletions and inserts, and the same value
written again (which is no change).
"""

import json
import shutil
import uuid
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from crmsync.canonical.tables import columns
from crmsync.project import Project
from crmsync.push import run_push
from crmsync.push.candidates import Candidates
from tests.integration.push.test_push_cli import sql
from tests.integration.test_pull_cli import run_here


@pytest.fixture(scope="module")
def template(tmp_path_factory, fake_crm_module):
    """A project pulled from the fake and pushed once (nothing to send): every bucket remembered."""
    server = fake_crm_module
    root = tmp_path_factory.mktemp("candidates")
    run_here(root, "init", str(root / "p"))
    project = root / "p"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url, "--long-lived-token",
             "demo-token")
    run_here(project, "pull", "amocrm")
    first = run_push(Project.at(project), "amocrm")
    assert all(c["created"] == c["updated"] == 0 for c in first.entities.values()), first.entities
    return project


@pytest.fixture(scope="module")
def fake_crm_module():
    from crmsync.fakes import start_fake

    server = start_fake("amocrm", contacts=30, deals=15, tasks=10, rate_limit=False)
    yield server
    server.stop()


def copy_of(template, tmp_path):
    target = tmp_path / f"p-{uuid.uuid4().hex[:6]}"
    shutil.copytree(template, target)
    return target


def plans(project):
    """(the plan with the remembered states, the plan comparing every row): what each would send."""
    p = Project.at(project)
    cached = run_push(p, "amocrm", dry_run=True)
    sql(project, "DELETE FROM sync.push_checked")
    full = run_push(p, "amocrm", dry_run=True)
    return summary(cached), summary(full)


def summary(result):
    return sorted(result.planned), {e: {k: c[k] for k in ("created", "updated", "deleted", "rejected", "held")}
                                    for e, c in result.entities.items()}


def dirty_buckets(project, entity="contact"):
    import duckdb

    from crmsync.project import Project as P
    from crmsync.runs import prepare_run

    run = prepare_run(P.at(project), "amocrm", kind="push")
    spec = run.mappings[entity]
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    try:
        pull_only = [f.name for f in spec.fields if f.direction == "pull" and f.name not in ("updated_at", "created_at")
                     and "." not in f.name]
        push_fields = [f.name for f in spec.fields if f.pushes]
        found = Candidates.find(con, entity=entity, connection="amocrm", cols=columns(run.canonical[entity]),
                                settings=[push_fields, pull_only, "upsert"])
        return found.dirty
    finally:
        con.close()


def ids(project, table, n=3, where="true"):
    return [r[0] for r in sql(project, f"SELECT id FROM canonical.{table} WHERE deleted_at IS NULL AND {where} "
                                       f"ORDER BY id LIMIT {n}")]


# Golden edits: one statement each, with what the plan must then hold ("update" of which field, or
# nothing). Every one is also checked against the full comparison.
GOLDEN = [
    ("same value again", "UPDATE canonical.contacts SET position = position WHERE id = $id", None),
    ("NULL a text", "UPDATE canonical.contacts SET position = NULL WHERE id = $id", "position"),
    ("JSON list: a phone added",
     "UPDATE canonical.contacts SET phones = json_array(json_object('value', '+79990001122', 'type', 'work')) "
     "WHERE id = $id", "phones"),
    ("JSON object: one custom key", "UPDATE canonical.contacts SET custom = json_merge_patch(coalesce(custom, '{}'), "
     "'{\"notes\": \"changed by SQL\"}') WHERE id = $id", "custom.notes"),
    ("DECIMAL by one", "UPDATE canonical.deals SET amount = coalesce(amount, 0) + 1 WHERE id = $id",
     "amount"),
    ("timestamp by a second", "UPDATE canonical.tasks SET due_at = due_at + INTERVAL 1 SECOND WHERE id = $id",
     "due_at"),
    ("boolean flipped", "UPDATE canonical.tasks SET completed = NOT coalesce(completed, false) WHERE id = $id",
     "completed"),
]
TABLE_OF = {"contacts": "contact", "deals": "deal", "tasks": "task"}
# ids are random UUIDs, so the row edited is any row: for these edits it must hold a value, or NULLing it
# (or moving a NULL time by a second) is no edit at all
NEEDS = {"NULL a text": "position IS NOT NULL", "timestamp by a second": "due_at IS NOT NULL"}


@pytest.mark.parametrize(("name", "statement", "field"), GOLDEN, ids=[g[0] for g in GOLDEN])
def test_a_sql_edit_is_planned_as_comparing_every_row_plans_it(template, tmp_path, name, statement, field):
    project = copy_of(template, tmp_path)
    table = statement.split("canonical.")[1].split()[0]
    target = ids(project, table, where=NEEDS.get(name, "true"))[1]
    sql(project, statement.replace("$id", "?"), [target])
    cached, full = plans(project)
    assert cached == full
    mine = [p for p in cached[0] if p[2] == target]
    if field is None:
        assert mine == []
    else:
        assert [(e, k) for e, k, _, _ in mine] == [(TABLE_OF[table], "update")], cached[1]
        assert field in mine[0][3], mine


def test_a_push_with_nothing_to_do_looks_at_no_row(template, tmp_path):
    project = copy_of(template, tmp_path)
    assert dirty_buckets(project) == {}
    target = ids(project, "contacts")[0]
    sql(project, "UPDATE canonical.contacts SET position = 'moved' WHERE id = ?", [target])
    assert len(dirty_buckets(project)) == 1  # only the edited row's bucket is compared in Python
    sql(project, "UPDATE canonical.contacts SET position = (SELECT json_extract_string(base, '$.position') "
                 "FROM sync.links WHERE canonical_id = ?) WHERE id = ?", [target, target])
    assert dirty_buckets(project) == {}  # back to what was agreed: the remembered state matches again


def test_a_changed_mapping_or_link_makes_every_affected_row_looked_at_again(template, tmp_path):
    project = copy_of(template, tmp_path)
    sql(project, "UPDATE sync.links SET base = json_merge_patch(base, '{\"position\": \"from the CRM\"}') "
                 "WHERE canonical_id = ?", [ids(project, "contacts")[2]])
    assert len(dirty_buckets(project)) == 1
    cached, full = plans(project)
    assert cached == full and cached[1]["contact"]["updated"] == 1


EDIT = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(["position", "company", "first_name", "last_name"]), st.integers(0, 29),
              st.one_of(st.none(), st.text("abc xyzé", max_size=6))),
    st.tuples(st.just("phones"), st.integers(0, 29), st.lists(st.sampled_from(["+79990001122", "+74951234567"]),
                                                              max_size=2)),
    st.tuples(st.just("custom"), st.integers(0, 29), st.one_of(st.none(), st.text("ab", max_size=3))),
    st.tuples(st.just("amount"), st.integers(0, 14), st.one_of(st.none(), st.decimals("0", "99999", places=2))),
    st.tuples(st.just("due"), st.integers(0, 9), st.integers(-86400, 86400)),
    st.tuples(st.just("delete"), st.sampled_from(["contacts", "deals", "tasks"]), st.integers(0, 9)),
    st.tuples(st.just("insert"), st.text("abcdef", min_size=1, max_size=5)),
    st.tuples(st.just("base"), st.integers(0, 29), st.text("ab", max_size=3)),
)


def pick(project, table, index):
    """The index-th live row (modulo: deletions earlier in the same edit set shrink the table)."""
    found = ids(project, table, 100)
    return found[index % len(found)] if found else None


def apply(project, edits):
    for edit in edits:
        kind = edit[0]
        if kind == "text":
            cid = pick(project, "contacts", edit[2])
            sql(project, f"UPDATE canonical.contacts SET {edit[1]} = ? WHERE id = ?", [edit[3], cid])
        elif kind == "phones":
            cid = pick(project, "contacts", edit[1])
            sql(project, "UPDATE canonical.contacts SET phones = ? WHERE id = ?",
                [json.dumps([{"value": v, "type": "work"} for v in edit[2]]), cid])
        elif kind == "custom":
            cid = pick(project, "contacts", edit[1])
            sql(project, "UPDATE canonical.contacts SET custom = json_merge_patch(coalesce(custom, '{}'), ?) "
                         "WHERE id = ?", [json.dumps({"notes": edit[2]}), cid])
        elif kind == "amount":
            cid = pick(project, "deals", edit[1])
            value = None if edit[2] is None else Decimal(edit[2])
            sql(project, "UPDATE canonical.deals SET amount = ? WHERE id = ?", [value, cid])
        elif kind == "due":
            cid = pick(project, "tasks", edit[1])
            sql(project, f"UPDATE canonical.tasks SET due_at = due_at + to_seconds({edit[2]}) WHERE id = ?",
                [cid])
        elif kind == "delete":
            sql(project, f"UPDATE canonical.{edit[1]} SET deleted_at = now() WHERE id = ?",
                [pick(project, edit[1], edit[2])])
        elif kind == "insert":
            sql(project, "INSERT INTO canonical.contacts (id, version, first_name, last_name) VALUES (?, 1, ?, 'New')",
                [f"c-{uuid.uuid4().hex[:8]}", edit[1]])
        else:  # the CRM's side moved (a pull wrote a new base)
            cid = pick(project, "contacts", edit[1])
            sql(project, "UPDATE sync.links SET base = json_merge_patch(base, ?) WHERE canonical_id = ?",
                [json.dumps({"company": edit[2] or None}), cid])


@settings(max_examples=8, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=6))
def test_random_sql_edits_are_planned_as_comparing_every_row_plans_them(template, tmp_path, edits):
    project = copy_of(template, tmp_path)
    apply(project, edits)
    cached, full = plans(project)
    assert cached == full
