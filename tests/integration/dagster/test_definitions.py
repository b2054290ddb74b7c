"""crmsync.dagster's definitions against the project's YAML: assets, dependencies, jobs, tags, pools and
schedules, for the shipped project and for one made by ``crmsync init`` and then edited; the module
``dagster dev -m`` loads, through Dagster's own loader. ``project`` (made by ``crmsync init``) comes
from tests/integration/cli_project.py."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from crmsync.dagster import CONNECTION_TAG, STORE_TAG, asset_key, definitions, pool_of
from crmsync.errors import UserError
from crmsync.project import builtin_project_dir


def pipelines_of(root):
    return {p.stem: yaml.safe_load(p.read_text(encoding="utf-8")) for p in (root / "pipelines").glob("*.yaml")}


def check_against_yaml(defs, root):
    """Every pipeline's assets, job and schedule say what its YAML says."""
    dg.Definitions.validate_loadable(defs)
    specs = pipelines_of(root)
    assert specs
    graph = defs.resolve_asset_graph()
    assert set(graph.get_all_asset_keys()) == {asset_key(name, e) for name, s in specs.items() for e in s["entities"]}
    schedules = {s.name: s for s in defs.schedules}
    for name, spec in specs.items():
        job = defs.resolve_job_def(f"crmsync_{name}")
        assert job.tags[CONNECTION_TAG] == spec["connection"] and job.tags[STORE_TAG]
        assets = defs.resolve_assets_def(asset_key(name, spec["entities"][0]))
        assert assets.op.pool == pool_of(spec["connection"]) and assets.op.tags[CONNECTION_TAG] == spec["connection"]
        cron = (spec.get("schedule") or "manual").strip()
        if cron == "manual":
            assert f"crmsync_{name}_schedule" not in schedules
            continue
        schedule = schedules[f"crmsync_{name}_schedule"]
        assert schedule.cron_schedule == cron
        assert schedule.execution_timezone == spec.get("timezone", "UTC")
        assert schedule.job_name == job.name


def test_the_shipped_project_loads_with_its_schedules():
    root = builtin_project_dir()
    defs = definitions(root)
    check_against_yaml(defs, root)
    graph = defs.resolve_asset_graph()
    # the engine applies contacts before the deals and tasks that link to them: the lineage says so
    assert graph.get(asset_key("amocrm", "deal")).parent_keys == {asset_key("amocrm", "contact")}
    assert graph.get(asset_key("amocrm", "task")).parent_keys == {asset_key("amocrm", "contact"),
                                                                   asset_key("amocrm", "deal")}
    assert graph.get(asset_key("amocrm", "contact")).parent_keys == set()


def edit_pipeline(project, name, **changes):
    """Set the given keys of pipelines/NAME.yaml; a key given as None is removed."""
    path = project / "pipelines" / f"{name}.yaml"
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec.update(changes)
    spec = {k: v for k, v in spec.items() if v is not None}
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")


def test_an_init_project_with_edited_schedules(project):
    check_against_yaml(definitions(project), project)

    edit_pipeline(project, "amocrm", schedule="30 9 * * 1-5", timezone="Europe/Moscow", entities=["contact", "deal"])
    edit_pipeline(project, "bitrix24", schedule="manual")
    edit_pipeline(project, "hubspot", schedule="manual")
    defs = definitions(project)
    check_against_yaml(defs, project)
    assert [s.name for s in defs.schedules] == ["crmsync_amocrm_schedule"]
    moscow = defs.schedules[0]
    assert (moscow.cron_schedule, moscow.execution_timezone) == ("30 9 * * 1-5", "Europe/Moscow")
    assert asset_key("amocrm", "task") not in set(defs.resolve_asset_graph().get_all_asset_keys())

    edit_pipeline(project, "bitrix24", schedule=None)  # no schedule at all is manual too
    assert [s.name for s in definitions(project).schedules] == ["crmsync_amocrm_schedule"]


def test_pipelines_of_one_store_share_its_run_tag(project):
    def store_tags(defs):
        return {name: defs.resolve_job_def(f"crmsync_{name}").tags[STORE_TAG] for name in ("amocrm", "bitrix24")}

    shared = store_tags(definitions(project))
    assert shared["amocrm"] == shared["bitrix24"]  # both write crmsync.duckdb: the run queue keeps them apart
    edit_pipeline(project, "bitrix24", staging={"type": "duckdb", "path": "bitrix.duckdb"})
    apart = store_tags(definitions(project))
    assert apart["amocrm"] == shared["amocrm"] and apart["bitrix24"] != apart["amocrm"]


def test_a_schedule_skips_a_slot_while_its_connection_runs(project):
    defs = definitions(project)
    schedule = next(s for s in defs.schedules if s.name == "crmsync_amocrm_schedule")
    with dg.instance_for_test() as instance:
        tick = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert len(tick.run_requests) == 1 and not tick.skip_message

        job = defs.resolve_job_def("crmsync_amocrm")
        instance.create_run_for_job(job, status=dg.DagsterRunStatus.STARTED, tags=dict(job.tags))
        tick = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
        assert not tick.run_requests and "connection 'amocrm'" in tick.skip_message

        other = next(s for s in defs.schedules if s.name == "crmsync_bitrix24_schedule")  # another connection
        assert len(other.evaluate_tick(dg.build_schedule_context(instance=instance)).run_requests) == 1


def test_a_broken_project_is_refused_with_its_problems(project):
    edit_pipeline(project, "amocrm", direction="sideways")
    with pytest.raises(UserError) as caught:
        definitions(project)
    assert "pipelines/amocrm.yaml" in str(caught.value) and "direction" in str(caught.value)


def test_dagster_loads_the_module_dagster_dev_points_at(project):
    """What `dagster dev -m crmsync.dagster.project` does first: Dagster's loader imports the module
    and validates its definitions, with the project taken from CRMSYNC_PROJECT_DIR."""
    dagster = os.path.join(os.path.dirname(sys.executable), "dagster")
    env = {**os.environ, "CRMSYNC_PROJECT_DIR": str(project), "DAGSTER_HOME": str(project / ".dagster")}
    (project / ".dagster").mkdir()
    r = subprocess.run([dagster, "definitions", "validate", "-m", "crmsync.dagster.project"], env=env,
                       capture_output=True, text=True, timeout=110, cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Validation successful" in r.stdout + r.stderr


def test_the_readmes_dagster_yaml_limits_each_connection_to_one_run():
    """README's "Running on Dagster" deployment settings, as a Dagster instance reads them."""
    readme = (Path(__file__).parents[3] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running on Dagster", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    with dg.instance_for_test(overrides=yaml.safe_load(block)) as instance:
        assert instance.event_log_storage.get_concurrency_info(pool_of("amocrm")).limit == 1
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {"key": STORE_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1} in limits


def test_the_module_names_the_variable_when_no_project_is_found(tmp_path, monkeypatch, project):
    import runpy

    monkeypatch.delenv("CRMSYNC_PROJECT_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # holds the project folder p/, but is none itself
    with pytest.raises(UserError, match="set CRMSYNC_PROJECT_DIR to a crmsync project folder"):
        runpy.run_module("crmsync.dagster.project")
    monkeypatch.chdir(project)  # the current folder is the default
    defs = runpy.run_module("crmsync.dagster.project")["defs"]
    assert asset_key("amocrm", "contact") in set(defs.resolve_asset_graph().get_all_asset_keys())
