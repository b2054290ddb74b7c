"""``staging: {type: postgres, dsn_env: …}`` through the real CLI: validated offline, the DSN taken from the
environment (or config/secrets.toml) and never shown, a missing variable named, a pull landing in Postgres."""

import json

import psycopg
import pytest

from tests.integration.test_exit_codes import exit_code
from tests.integration.test_pull_cli import run_here
from tests.unit.specs.project_fixture import edit, make_project

STAGING = "staging:\n  type: duckdb\n  path: crmsync.duckdb"


def use_postgres(root, env="CRMSYNC_PG_DSN"):
    path = root / "pipelines" / "amocrm.yaml"
    text = path.read_text()
    assert STAGING in text
    path.write_text(text.replace(STAGING, f"staging:\n  type: postgres\n  dsn_env: {env}"))


def validate(root):
    from click.testing import CliRunner

    from crmsync.cli import cli

    return CliRunner().invoke(cli, ["validate", "--project-dir", str(root)])


def test_an_unknown_store_type_names_the_line_and_the_allowed_types(tmp_path):
    project = make_project(tmp_path / "p")
    line = edit(project, "pipelines/amocrm.yaml", "type: duckdb", "type: postgresql")
    r = validate(project.root)
    assert r.exit_code == 2
    assert (f"pipelines/amocrm.yaml:{line}: staging.type: 'postgresql' is not one of the known types "
            "(allowed: duckdb, postgres)") in r.output


def test_a_postgres_store_validates_and_a_dsn_in_the_yaml_is_refused_without_being_shown(tmp_path):
    project = make_project(tmp_path / "p")
    use_postgres(project.root)
    assert validate(project.root).exit_code == 0
    edit(project, "pipelines/amocrm.yaml", "dsn_env: CRMSYNC_PG_DSN", "dsn_env: postgresql://me:hunter22@db/x")
    r = validate(project.root)
    assert r.exit_code == 2 and "staging.dsn_env:" in r.output and "environment variable" in r.output
    assert "hunter22" not in r.output
    edit(project, "pipelines/amocrm.yaml", "dsn_env: postgresql://me:hunter22@db/x", "dsn: x")
    r = validate(project.root)
    assert r.exit_code == 2 and "staging.dsn: unknown field (did you mean 'dsn_env'?)" in r.output


def connect(project, fake_crm):
    server = fake_crm("amocrm", contacts=8, deals=3, tasks=3, rate_limit=False)
    return ["connect", "amocrm", "--name", "amocrm", "--base-url", server.url, "--long-lived-token", "demo-token"]


def test_a_missing_dsn_variable_is_named(project, fake_crm, monkeypatch):
    use_postgres(project, env="CRMSYNC_TEST_NO_SUCH_DSN")
    monkeypatch.delenv("CRMSYNC_TEST_NO_SUCH_DSN", raising=False)
    for command in (connect(project, fake_crm), ["pull", "amocrm"]):
        r = exit_code(project, *command)
        assert r.returncode == 2, r.stderr
        assert "CRMSYNC_TEST_NO_SUCH_DSN is not set" in r.stderr and "internal error" not in r.stderr


def test_a_pull_lands_in_postgres_with_its_connection_and_the_dsn_stays_out_of_the_log(project, fake_crm, pg_dsn,
                                                                                          monkeypatch):
    monkeypatch.setenv("CRMSYNC_PG_DSN", pg_dsn)
    use_postgres(project)
    run_here(project, *connect(project, fake_crm))
    run_here(project, "pull", "amocrm")
    with psycopg.connect(pg_dsn) as con:
        assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone() == (8,)
        assert con.execute("SELECT count(*) FROM raw_amocrm.contact").fetchone() == (8,)
        assert con.execute("SELECT kind, status FROM sync.runs").fetchall() == [("pull", "ok")]
        # the sealed credentials live with the data, where every worker finds them
        assert con.execute("SELECT name, crm FROM sync.connections").fetchall() == [("amocrm", "amocrm")]
    assert not (project / "crmsync.duckdb").exists()
    assert "amocrm" in run_here(project, "connections", "list")
    status = json.loads(run_here(project, "status", "amocrm", "--json"))  # the read-only commands read Postgres
    (shown,) = status["pipelines"]
    assert {e["entity"]: e["rows"] for e in shown["entities"]} == {"contact": 8, "deal": 3, "task": 3}
    assert [(r["kind"], r["status"]) for r in json.loads(run_here(project, "runs", "--json"))["runs"]] == [
        ("pull", "ok")]
    password = psycopg.conninfo.conninfo_to_dict(pg_dsn)["password"]
    assert password not in (project / ".crmsync" / "logs" / "crmsync.log").read_text()


def test_the_dsn_can_live_in_the_projects_secrets_file(project, fake_crm, pg_dsn, monkeypatch):
    monkeypatch.delenv("CRMSYNC_PG_DSN", raising=False)
    use_postgres(project)
    (project / "config" / "secrets.toml").write_text(f'CRMSYNC_PG_DSN = "{pg_dsn}"\n')
    run_here(project, *connect(project, fake_crm))
    run_here(project, "pull", "amocrm")
    with psycopg.connect(pg_dsn) as con:
        assert con.execute("SELECT count(*) FROM canonical.contacts").fetchone() == (8,)


@pytest.fixture(autouse=True)
def _no_inherited_dsn(monkeypatch):
    monkeypatch.delenv("CRMSYNC_PG_DSN", raising=False)
