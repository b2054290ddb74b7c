"""`crmsync validate` and `crmsync init` end to end: texts, exit codes, --json."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crmsync.cli import cli
from crmsync.project import builtin_project_dir
from tests.unit.specs.project_fixture import edit, make_project

HAS_MAPPINGS = any((builtin_project_dir() / "mappings" / "canonical").glob("*.schema.json"))
needs_mappings = pytest.mark.skipif(not HAS_MAPPINGS, reason="the built-in project has no mappings/ yet")


def crmsync(*args: str) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "crmsync"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "crmsync"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@needs_mappings
def test_the_shipped_project_is_green():
    r = crmsync("validate", "--project-dir", str(builtin_project_dir()))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("files checked: no problems")


@needs_mappings
def test_init_scaffolds_a_green_project(tmp_path):
    target = tmp_path / "my project"
    r = crmsync("init", str(target))
    assert r.returncode == 0, r.stderr
    assert "crmsync connect amocrm --name amocrm" in r.stdout and "crmsync validate" in r.stdout
    assert crmsync("validate", "--project-dir", str(target)).returncode == 0
    again = crmsync("init", str(target))
    assert again.returncode == 2 and "already holds spec files" in again.stderr and "Traceback" not in again.stderr


def test_problems_exit_2_sorted_with_a_summary(tmp_path):
    project = make_project(tmp_path / "p")
    edit(project, "pipelines/bitrix24.yaml", "direction: both", "direction: puhs")
    edit(project, "pipelines/amocrm.yaml", "crm: amocrm", "crm: amocmr")
    pages = edit(project, "connectors/bitrix24.yaml", "  type: keyset_batch", "  type: pages")
    r = crmsync("validate", "--project-dir", str(project.root))
    assert r.returncode == 2, r.stderr
    assert r.stdout.splitlines() == [
        f"connectors/bitrix24.yaml:{pages}: paginator.type: 'pages' is not one of the known types "
        "(allowed: cursor, keyset_batch, next_url, offset, page_number)",
        "pipelines/amocrm.yaml:3: crm: there is no connector 'amocmr' in connectors/ (did you mean 'amocrm'?) "
        "(allowed: amocrm, bitrix24, hubspot)",
        "pipelines/bitrix24.yaml:6: direction: 'puhs' is not allowed (did you mean 'push'?) "
        "(allowed: pull, push, both)",
        f"{len(_files(project.root))} files checked: 3 problems in 3 files",
    ]


def test_json_output(tmp_path):
    project = make_project(tmp_path / "p")
    r = invoke("validate", "--project-dir", str(project.root), "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"command": "validate", "ok": True, "exit_code": 0, "problems": [],
                                    "files": len(_files(project.root))}
    edit(project, "pipelines/amocrm.yaml", "write_mode: upsert", "write_mode: upsret")
    r = invoke("validate", "--project-dir", str(project.root), "--json")
    assert r.exit_code == 2
    assert json.loads(r.output)["problems"] == [{
        "file": "pipelines/amocrm.yaml", "line": 12, "path": "write_mode",
        "message": "'upsret' is not allowed (did you mean 'upsert'?)",
        "allowed": ["upsert", "update_only", "insert_only"]}]


def test_not_a_project_is_a_usage_error(tmp_path):
    r = invoke("validate", "--project-dir", str(tmp_path))
    assert r.exit_code != 0 and "is not a crmsync project" in str(r.exception)


def _files(root: Path) -> list[Path]:
    specs = [*root.glob("connectors/*.yaml"), *root.glob("pipelines/*.yaml"), *root.glob("mappings/*/*.yaml"),
             *root.glob("mappings/canonical/*.schema.json"), *root.glob("config/*.toml")]
    return specs



def test_a_schedule_croniter_cannot_read_and_an_unknown_time_zone_are_problems(tmp_path):
    project = make_project(tmp_path / "p")
    line = edit(project, "pipelines/amocrm.yaml", 'schedule: "*/15 * * * *"', 'schedule: "*/15 25 * * *"')
    edit(project, "pipelines/bitrix24.yaml", 'schedule: "*/15 * * * *"',
         'schedule: "0 9 * * *"\ntimezone: Mars/Olympus')
    r = crmsync("validate", "--project-dir", str(project.root))
    assert r.returncode == 2, r.stderr
    assert f"pipelines/amocrm.yaml:{line}: schedule: schedule '*/15 25 * * *' is not a five-field cron" in r.stdout
    assert "timezone: timezone 'Mars/Olympus' is not an IANA time zone name" in r.stdout


def test_a_paginator_without_its_paths_and_a_custom_field_without_a_layout_are_caught_at_rest(tmp_path):
    project = make_project(tmp_path / "p")
    pages = edit(project, "connectors/bitrix24.yaml", "  type: keyset_batch", "  type: cursor") - 1  # paginator:
    edit(project, "connectors/amocrm.yaml",
         "    layout: {type: values_array, key: custom_fields_values, id_key: field_id, code_key: field_code, "
         "values_key: values}\n", "")
    r = crmsync("validate", "--project-dir", str(project.root))
    assert r.returncode == 2, r.stderr
    lines = r.stdout.splitlines()
    assert f"connectors/bitrix24.yaml:{pages}: paginator: missing required field 'cursor_param'" in lines
    assert f"connectors/bitrix24.yaml:{pages}: paginator: missing required field 'cursor_path'" in lines
    phone = next(n for n, text in enumerate((project.root / "mappings/amocrm/contact.yaml").read_text().splitlines(),
                                            start=1) if "custom_field: {code: PHONE}" in text)
    assert (f"mappings/amocrm/contact.yaml:{phone}: fields.phones.from: looks up a custom field, but connector "
            "'amocrm' declares no catalog.custom_fields.layout (where its records keep custom field values) "
            "(allowed: flat_keys, values_array)") in lines
    assert "Traceback" not in r.stderr and "internal error" not in r.stdout + r.stderr
