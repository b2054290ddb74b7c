"""``crmsync remap``: a changed mapping re-applied to the stored raw records, the real CLI, no CRM call."""

import json

import duckdb
from click.testing import CliRunner

from crmsync.cli import cli
from crmsync.output import check
from tests.integration.test_pull_cli import run, run_here

NEW_FIELDS = """
  custom.memo: {from: {custom_field: {name: Заметки}}, transforms: [{type: cf_value}, {type: text}], direction: pull}
"""
SOURCE_BEFORE = "custom.source: {from: {custom_field: {name: Источник}}, transforms: [{type: cf_enum}]}"
# an enum map without "Cold call": those records cannot map and must be set aside, not blanked
SOURCE_AFTER = ("custom.source: {from: {custom_field: {name: Источник}}, transforms: [{type: cf_enum}, "
                "{type: map, values: {Сайт: web, Рекомендация: referral, Выставка: expo}}]}")
MAPPED = {"Сайт": "web", "Рекомендация": "referral", "Выставка": "expo"}


def invoke(project, *args):
    result = CliRunner().invoke(cli, [*args, "--project-dir", str(project)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def rows(project, sql, params=()):
    con = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def contacts(project):
    return {rid: (first, json.loads(custom) if custom else {}) for rid, first, custom in rows(
        project, "SELECT l.remote_id, c.first_name, c.custom FROM canonical.contacts c "
                 "JOIN sync.links l ON l.canonical_id = c.id AND l.entity = 'contact'")}


def change_mapping(project):
    path = project / "mappings" / "amocrm" / "contact.yaml"
    text = path.read_text()
    assert SOURCE_BEFORE in text
    path.write_text(text.replace(SOURCE_BEFORE, SOURCE_AFTER) + NEW_FIELDS)


def test_remap_applies_a_changed_mapping_without_the_crm(project, amo):
    run_here(project, "pull", "amocrm", "--entity", "contact", "--json")
    before = contacts(project)
    assert len(before) == 8
    edited = sorted(before)[0]
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    con.execute("UPDATE canonical.contacts SET first_name = 'Edited locally', updated_at = now() WHERE id = "
                "(SELECT canonical_id FROM sync.links WHERE entity = 'contact' AND remote_id = ?)", [edited])
    con.close()
    change_mapping(project)
    requests_before = amo.stats.total

    code, out, _ = invoke(project, "remap", "amocrm", "--entity", "contact", "--json")
    assert amo.stats.total == requests_before  # not one request to the CRM
    doc = json.loads(out)
    check(doc)  # crmsync/schemas/output/remap.schema.json
    cold = {rid for rid, (_, custom) in before.items() if custom.get("source") == "Cold call"}
    counts = doc["entities"]["contact"]
    assert counts["read"] == 8 and counts["rejected"] == len(cold) and counts["new_rows"] == 0
    assert code == (5 if cold else 0) and doc["command"] == "remap" and doc["status"] == ("issues" if cold else "ok")

    after = contacts(project)
    assert after[edited][0] == "Edited locally"  # the local edit survives the remap
    changed = 0
    for rid, (_, custom) in after.items():
        old = before[rid][1]
        if rid in cold:
            assert custom == old  # set aside: the row keeps what it had, nothing became null
            continue
        assert custom.get("memo") == old.get("notes")
        assert custom.get("source") == MAPPED.get(old.get("source"))
        changed += custom != old
    assert counts["applied"] == changed > 0 and counts["unchanged"] == 8 - len(cold) - changed

    reasons = rows(project, "SELECT remote_id, field, reason FROM sync.rejected WHERE run_id = ?", [doc["run_id"]])
    assert {r[0] for r in reasons} == cold and all(r[1] == "custom.source" and "Cold call" in r[2] for r in reasons)
    history = rows(project, "SELECT field, side, old, new FROM sync.changes WHERE run_id = ?", [doc["run_id"]])
    assert len(history) == changed and all(f == "custom" and side == "remap:amocrm" for f, side, _, _ in history)
    assert rows(project, "SELECT kind, status FROM sync.runs WHERE run_id = ?", [doc["run_id"]]) == [
        ("remap", doc["status"])]

    # the CRM holds the same raw records: the only write a push would make is the local edit
    plan = json.loads(run_here(project, "push", "amocrm", "--entity", "contact", "--dry-run", "--json"))
    assert plan["entities"]["contact"]["updated"] == 1 and plan["entities"]["contact"]["created"] == 0
    requests_before = amo.stats.total  # the dry run asked the CRM for metadata

    code, out, _ = invoke(project, "remap", "amocrm", "--entity", "contact", "--json", "--no-strict")
    again = json.loads(out)["entities"]["contact"]
    assert code == 0 and again["applied"] == 0 and again["unchanged"] == 8 - len(cold)
    assert contacts(project) == after
    assert rows(project, "SELECT count(*) FROM sync.changes WHERE run_id = ?", [json.loads(out)["run_id"]]) == [(0,)]
    assert amo.stats.total == requests_before

    status, history = (json.loads(run_here(project, command, "--json")) for command in ("status", "runs"))
    for document in (status, history):
        check(document)  # a remap run in status and runs documents, in their schemas
    (amocrm,) = [p for p in status["pipelines"] if p["pipeline"] == "amocrm"]
    assert amocrm["last_runs"]["remap"]["run_id"] == json.loads(out)["run_id"]
    assert [r["kind"] for r in history["runs"]] == ["remap", "remap", "pull"]  # a dry run leaves no trace


def test_remap_without_stored_metadata_or_store_says_what_to_do(project, amo, tmp_path):
    code, out, _ = invoke(project, "remap", "amocrm", "--json")  # connected, nothing pulled: nothing to map
    assert code == 0 and all(c["read"] == 0 for c in json.loads(out)["entities"].values())
    (project / "pipelines" / "amocrm.yaml").write_text(
        (project / "pipelines" / "amocrm.yaml").read_text().replace("path: crmsync.duckdb", "path: other.duckdb"))
    failed = run(project, "remap", "amocrm", ok=False)  # the real process: its one place for errors
    assert failed.returncode == 2 and "does not exist yet" in failed.stderr and "crmsync pull amocrm" in failed.stderr
    (project / "pipelines" / "amocrm.yaml").write_text(
        (project / "pipelines" / "amocrm.yaml").read_text().replace("path: other.duckdb", "path: crmsync.duckdb"))
    run_here(project, "pull", "amocrm", "--entity", "contact")
    con = duckdb.connect(str(project / "crmsync.duckdb"))
    con.execute("DELETE FROM sync.metadata")  # a store pulled before crmsync kept the metadata
    con.close()
    requests_before = amo.stats.total
    failed = run(project, "remap", "amocrm", "--entity", "contact", "--json", ok=False)
    assert failed.returncode == 2 and "no pull of connection 'amocrm' has stored" in failed.stderr
    assert json.loads(failed.stdout)["error"]["code"] == "config" and "--full-refresh" in failed.stdout
    assert amo.stats.total == requests_before
    assert "Traceback" not in failed.stderr


def test_remap_leaves_records_the_crm_deleted_deleted(project, amo):
    run_here(project, "pull", "amocrm", "--entity", "contact")
    gone = sorted(contacts(project))[1]
    con = duckdb.connect(str(project / "crmsync.duckdb"))  # what a pull does when the CRM's feed says so
    con.execute("UPDATE sync.links SET remote_deleted_at = now() WHERE entity = 'contact' AND remote_id = ?", [gone])
    con.execute("UPDATE canonical.contacts SET deleted_at = now() WHERE id = "
                "(SELECT canonical_id FROM sync.links WHERE entity = 'contact' AND remote_id = ?)", [gone])
    con.close()
    change_mapping(project)
    code, out, _ = invoke(project, "remap", "amocrm", "--entity", "contact", "--json", "--no-strict")
    assert code == 0 and json.loads(out)["entities"]["contact"]["read"] == 7  # its raw row is not mapped again
    (deleted_at, custom), = rows(project, "SELECT c.deleted_at, c.custom FROM canonical.contacts c JOIN sync.links l "
                                          "ON l.canonical_id = c.id WHERE l.entity = 'contact' AND l.remote_id = ?",
                                 [gone])
    assert deleted_at is not None and "memo" not in json.loads(custom)


def test_remap_of_an_unchanged_mapping_changes_nothing_bitrix24(project, fake_crm):
    b24 = fake_crm("bitrix24", contacts=12, deals=4, tasks=3, rate_limit=False)
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", b24.url + "/rest/1/demo/")
    run_here(project, "pull", "bitrix24")
    requests_before, history = b24.stats.total, rows(project, "SELECT count(*) FROM sync.changes")
    doc = json.loads(run_here(project, "remap", "bitrix24", "--json"))
    assert {e: (c["read"], c["applied"], c["unchanged"]) for e, c in doc["entities"].items()} == {
        "contact": (12, 0, 12), "deal": (4, 0, 4), "task": (3, 0, 3)}
    assert b24.stats.total == requests_before and rows(project, "SELECT count(*) FROM sync.changes") == history
