"""Issue 14's "smaller breaks", each through the real CLI: configuration mistakes are configuration errors
(exit 2, file and field), logs land in the project, read-only commands open the store read-only, a
meaningless SQL decision on a conflict is said out loud."""

import json
import logging

import duckdb
import pytest

from crmsync.cli import cli
from crmsync.logs import log_to_project, write_crash
from crmsync.project import Project
from tests.integration.push.test_push_cli import sql
from tests.integration.sync.test_sync_cli import Amo, clash, set_policy
from tests.integration.test_exit_codes import exit_code
from tests.integration.test_pull_cli import run_here
from tests.unit.specs.project_fixture import edit, make_project


def validate(project):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, ["validate", "--project-dir", str(project.root)])


@pytest.fixture
def spec_project(tmp_path):
    return make_project(tmp_path / "p")


@pytest.mark.parametrize("path", ["pipelines/amocrm.yaml", "mappings/amocrm/deal.yaml"])
def test_an_empty_spec_file_is_a_problem_not_a_crash(spec_project, path):
    (spec_project.root / path).write_text("")
    r = validate(spec_project)
    assert r.exit_code == 2 and f"{path}:1: the file is empty" in r.output and "internal error" not in r.output


def test_an_unknown_phone_region_is_refused(spec_project):
    edit(spec_project, "mappings/amocrm/contact.yaml", "default_region: RU", "default_region: XX")
    r = validate(spec_project)
    assert r.exit_code == 2 and "default_region: 'XX' is not allowed (allowed: one of " in r.output
    edit(spec_project, "mappings/amocrm/contact.yaml", "default_region: XX", "default_region: ru")
    assert "did you mean 'RU'?" in validate(spec_project).output


def test_a_cron_no_scheduler_can_run_is_refused(spec_project):
    edit(spec_project, "pipelines/amocrm.yaml", 'schedule: "*/15 * * * *"', 'schedule: "61 * * * *"')
    r = validate(spec_project)
    assert r.exit_code == 2
    assert "pipelines/amocrm.yaml:7: schedule: schedule '61 * * * *' is not a five-field cron" in r.output


def test_a_custom_field_name_typo_is_a_configuration_error(project, amo):
    path = project / "mappings" / "amocrm" / "contact.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("name: Источник", "name: Истчник"), encoding="utf-8")
    r = exit_code(project, "pull", "amocrm")
    assert r.returncode == 2 and "no custom field with name 'Истчник'" in r.stderr
    assert "did you mean 'Источник'" in r.stderr and "internal error" not in r.stderr


def test_a_missing_staging_folder_is_a_configuration_error(project, amo):
    path = project / "pipelines" / "amocrm.yaml"
    path.write_text(path.read_text().replace("path: crmsync.duckdb", "path: nowhere/crmsync.duckdb"))
    r = exit_code(project, "pull", "amocrm")
    assert r.returncode == 2 and "staging.path: the folder" in r.stderr and "does not exist" in r.stderr
    assert not (project / "nowhere").exists()  # nothing was created on the way out either


def test_the_log_file_records_commands_and_crash_files_go_beside_it(project, amo):
    run_here(project, "pull", "amocrm")
    exit_code(project, "pull", "amocrn")
    text = (project / ".crmsync" / "logs" / "crmsync.log").read_text()
    assert "INFO crmsync: crmsync connect" in text and "INFO crmsync: crmsync pull" in text
    assert "pull amocrm started" in text and ": done" in text and "exit 2: no pipeline 'amocrn'" in text

    log_to_project(Project(project))
    path = write_crash("Traceback (most recent call last):\nRuntimeError: a bug")
    assert path.parent == project / ".crmsync" / "logs" and "RuntimeError: a bug" in path.read_text()
    for handler in logging.getLogger("crmsync").handlers:
        handler.flush()
    assert f"traceback in {path}" in (project / ".crmsync" / "logs" / "crmsync.log").read_text()


def test_read_only_commands_work_beside_another_reader(project, amo):
    """DuckDB lets many processes read a file, or one write it: a reader held here (a BI tool, an
    analyst's read-only session) must not stop status, runs or conflicts list."""
    run_here(project, "pull", "amocrm")
    reader = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    try:
        for args in (["status"], ["runs"], ["conflicts", "list"]):
            r = exit_code(project, *args, "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["ok"] and "waiting" not in r.stderr
    finally:
        reader.close()


def test_an_sql_take_that_means_nothing_is_said_and_the_field_stays_held(project, amo):
    set_policy(project, "amocrm", "manual")
    run_here(project, "sync", "amocrm")
    clash(project, Amo(amo))
    assert exit_code(project, "sync", "amocrm").returncode == 5
    sql(project, "UPDATE sync.conflicts SET take = 'bogus' WHERE status = 'pending'")
    r = exit_code(project, "sync", "amocrm")
    assert r.returncode == 5 and "take 'bogus' is not one of: crm, local, value" in r.stderr
    listed = json.loads(run_here(project, "conflicts", "list", "--json"))
    assert listed["pending"] == 1 and "take 'bogus'" in listed["conflicts"][0]["reason"]


def test_a_dry_run_beside_a_reader_works_on_a_copy_and_changes_nothing(project, amo):
    run_here(project, "sync", "amocrm")
    (cid,) = sql(project, "SELECT id FROM canonical.contacts ORDER BY id LIMIT 1")[0]
    sql(project, "UPDATE canonical.contacts SET last_name = 'Dry' WHERE id = ?", [cid])
    before = sql(project, "SELECT (SELECT count(*) FROM sync.runs), (SELECT count(*) FROM sync.outbox)")
    reader = duckdb.connect(str(project / "crmsync.duckdb"), read_only=True)
    try:
        for command in ("sync", "push"):
            r = exit_code(project, command, "amocrm", "--dry-run", "--json")
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["entities"]["contact"]["updated"] == 1
            assert "works on a copy" in r.stderr
    finally:
        reader.close()
    assert sql(project, "SELECT (SELECT count(*) FROM sync.runs), (SELECT count(*) FROM sync.outbox)") == before
    assert json.loads(run_here(project, "sync", "amocrm", "--json"))["entities"]["contact"]["updated"] == 1
    assert Amo(amo).contact(sql(project, "SELECT remote_id FROM sync.links WHERE canonical_id = ?",
                                [cid])[0][0])["last_name"] == "Dry"
