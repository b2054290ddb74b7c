"""Materialising a pipeline's assets in process (``dagster.materialize``) against a fake AmoCRM over real
HTTP: one crmsync run recorded in sync.runs, its records in the DuckDB store, its row as the
materialisation's metadata; failures as Dagster failures in crmsync's words, retried only when
another attempt can help. ``project`` (made by ``crmsync init``) and ``amo`` (a small fake AmoCRM
connected to it) come from tests/integration/cli_project.py."""

import dagster as dg
import duckdb
import pytest
import requests
import yaml

from crmsync.dagster import CONNECTION_TAG, asset_key, definitions
from crmsync.project import Project
from crmsync.run_history import list_runs

NO_DELAY = dg.RetryPolicy(max_retries=2, delay=0)


def pipeline_assets(defs, pipeline):
    return [defs.resolve_assets_def(asset_key(pipeline, "contact"))]


def materialise(project, pipeline="amocrm", *, retry_policy=None, selection=None, run_config=None):
    defs = definitions(project, retry_policy=retry_policy)
    job = defs.resolve_job_def(f"crmsync_{pipeline}")
    instance = dg.DagsterInstance.ephemeral()  # in memory: nothing of Dagster's outlives the test
    result = dg.materialize(pipeline_assets(defs, pipeline), instance=instance, selection=selection,
                            run_config=run_config, tags=dict(job.tags), raise_on_error=False)
    return result, instance.all_logs(result.run_id)


def runs_of(project, pipeline="amocrm"):
    return list_runs(Project.at(project), pipeline=pipeline, limit=10).runs


def store_count(project, table):
    with duckdb.connect(str(project / "crmsync.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT count(*) FROM {table} WHERE deleted_at IS NULL").fetchone()[0]


def metadata_of(result):
    return {m.asset_key: {k: v.value for k, v in m.metadata.items()}
            for m in result.asset_materializations_for_node("crmsync_amocrm_run")}


def test_materialising_a_pipeline_is_one_recorded_crmsync_run(project, amo):
    result, _ = materialise(project)
    assert result.success
    assert result.dagster_run.tags[CONNECTION_TAG] == "amocrm"  # what a deployment's run queue keys on

    runs = runs_of(project)
    assert len(runs) == 1
    row = runs[0]
    assert (row["kind"], row["status"], row["error"]) == ("sync", "ok", None)
    assert {e: store_count(project, f"canonical.{e}s") for e in row["entities"]} == {"contact": 8, "deal": 3, "task": 3}

    metadata = metadata_of(result)
    assert set(metadata) == {asset_key("amocrm", e) for e in ("contact", "deal", "task")}
    for entity, counts in row["entities"].items():
        shown = metadata[asset_key("amocrm", entity)]
        assert (shown["run_id"], shown["kind"], shown["status"]) == (row["run_id"], "sync", "ok")
        assert {k: shown[k] for k in counts} == counts  # applied, created, updated, … as sync.runs has them
        assert shown["read"] == row["parts"]["pull"]["entities"][entity]["read"] == counts["applied"]
        assert shown["written"] == counts["created"] + counts["updated"] + counts["deleted"] == 0
        assert shown["seconds"] == row["seconds"] and "error" not in shown
        assert shown["run"]["run_id"] == row["run_id"] and shown["run"]["entities"] == row["entities"]
        assert shown["run"]["started_at"] == str(row["started_at"])  # as `crmsync runs --json` prints it
    assert checks_of(result) == {e: True for e in ("contact", "deal", "task")}

    # an edit in the CRM: the next materialisation is the next incremental run, and says what it read
    requests.post(amo.url + "/_fake/touch", json={"entity": "contacts", "count": 2}, timeout=10).raise_for_status()
    again, _ = materialise(project)
    assert again.success
    latest = runs_of(project)[0]
    assert latest["run_id"] != row["run_id"]
    assert metadata_of(again)[asset_key("amocrm", "contact")]["read"] == 2 == latest["entities"]["contact"]["applied"]


def test_a_subset_of_entities_is_one_run_of_those_entities(project, amo):
    result, _ = materialise(project, selection=[asset_key("amocrm", "contact")])
    assert result.success
    assert set(metadata_of(result)) == {asset_key("amocrm", "contact")}
    (row,) = runs_of(project)
    assert set(row["entities"]) == {"contact"} and store_count(project, "canonical.contacts") == 8


def test_run_config_picks_the_command(project, amo):
    result, _ = materialise(project, run_config={"ops": {"crmsync_amocrm_run": {"config": {"kind": "pull"}}}})
    assert result.success
    assert runs_of(project)[0]["kind"] == "pull"
    shown = metadata_of(result)[asset_key("amocrm", "deal")]
    assert shown["kind"] == "pull" and shown["read"] == 3 and "written" not in shown


def test_an_unknown_run_kind_is_refused_before_anything_runs(project):
    defs = definitions(project)
    with pytest.raises(dg.DagsterInvalidConfigError, match="not in enum type"):
        dg.materialize(pipeline_assets(defs, "amocrm"), instance=dg.DagsterInstance.ephemeral(),
                       run_config={"ops": {"crmsync_amocrm_run": {"config": {"kind": "merge"}}}})
    assert runs_of(project) == []


def checks_of(result):
    return {c.asset_key.path[-1]: c.passed for c in result.get_asset_check_evaluations()}


def test_records_set_aside_are_a_warning_not_a_failure(project, amo):
    """What `crmsync sync` ends with exit 5: the materialisation succeeds, the entity's check warns."""
    assert materialise(project)[0].success
    with duckdb.connect(str(project / "crmsync.duckdb")) as con:  # a name longer than AmoCRM keeps (255)
        con.execute("INSERT INTO canonical.contacts (first_name, last_name) VALUES (repeat('x', 300), 'Long')")

    result, events = materialise(project)
    assert result.success
    row = runs_of(project)[0]
    assert row["status"] == "issues" and row["entities"]["contact"]["rejected"] == 1
    shown = metadata_of(result)[asset_key("amocrm", "contact")]
    assert (shown["status"], shown["rejected"]) == ("issues", 1)
    assert checks_of(result) == {"contact": False, "deal": True, "task": True}
    (warned,) = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert warned.severity == dg.AssetCheckSeverity.WARN and warned.metadata["rejected"].value == 1
    assert any("1 record(s) set aside" in (e.user_message or "") for e in events)


def failure_of(events):
    failures = [e for e in events if e.dagster_event and e.dagster_event.is_step_failure]
    assert len(failures) == 1
    return failures[0].dagster_event.step_failure_data


def retries_in(events):
    kind = dg.DagsterEventType.STEP_UP_FOR_RETRY
    return sum(1 for e in events if e.dagster_event and e.dagster_event.event_type == kind)


def test_a_missing_connection_fails_in_crmsyncs_words_without_retries(project):
    result, events = materialise(project, retry_policy=NO_DELAY)
    assert not result.success
    failure = failure_of(events)
    assert "no connection named 'amocrm'" in failure.error.message and "crmsync connect" in failure.error.message
    assert failure.user_failure_data.metadata["exit_code"].value == 2
    assert failure.user_failure_data.metadata["error_code"].value == "config"
    assert retries_in(events) == 0  # a configuration error does not fix itself


def test_a_crm_refusal_is_the_failure_with_the_crms_message(project, amo):
    requests.post(amo.url + "/_fake/faults", json={"spec": "403:1.0@/api/v4/account"}, timeout=10).raise_for_status()
    result, events = materialise(project, retry_policy=NO_DELAY)
    assert not result.success
    failure = failure_of(events)
    assert "answered 403" in failure.error.message and "AmoCRM blocked this IP" in failure.error.message
    assert failure.user_failure_data.metadata["exit_code"].value == 3
    # exit 3 like a CRM that kept failing, but a refusal: the CRM will not change its mind, so no retry
    assert failure.user_failure_data.metadata["transient"].value is False
    assert retries_in(events) == 0
    (row,) = runs_of(project)  # the failed run is in sync.runs too, and its row is on the failure
    assert row["status"] == "failed" and "answered 403" in row["error"]
    assert failure.user_failure_data.metadata["run_id"].value == row["run_id"]


def test_a_transient_failure_is_retried_by_dagster_and_then_succeeds(project, amo):
    connector = project / "connectors" / "amocrm.yaml"
    spec = yaml.safe_load(connector.read_text(encoding="utf-8"))
    spec["retry"].update(max_attempts=2, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)
    connector.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    # the first run's account check meets two 503s (crmsync's own two attempts): exit 3, a transient failure
    requests.post(amo.url + "/_fake/faults", json={"spec": "503:x2@/api/v4/account"}, timeout=10).raise_for_status()

    result, events = materialise(project, retry_policy=NO_DELAY)
    assert result.success
    assert retries_in(events) == 1
    failed, ok = sorted(runs_of(project), key=lambda r: r["started_at"])
    assert failed["status"] == "failed" and "still failing after 2 attempts" in failed["error"]
    assert ok["status"] == "ok" and metadata_of(result)[asset_key("amocrm", "contact")]["run_id"] == ok["run_id"]


def test_metadata_from_a_result_says_what_its_row_says(project, amo):
    """When a run's row cannot be read back (the store held elsewhere longer than crmsync waits), the
    metadata comes from the run's result: the same numbers as the row would have given."""
    from crmsync.dagster.run import as_json, entity_metadata, row_from_result
    from crmsync.pull import run_pull
    from crmsync.sync import run_sync

    for kind, run in (("pull", run_pull), ("sync", run_sync)):
        result = run(Project.at(project), "amocrm")
        (row,) = [r for r in runs_of(project) if r["run_id"] == result.run_id]
        for entity in ("contact", "deal", "task"):
            told = entity_metadata(row_from_result(result, kind), entity)
            stored = entity_metadata(as_json(row), entity)
            for shown in (told, stored):
                del shown["seconds"], shown["run"]  # the row's seconds include writing the row itself
            assert told == stored and told["kind"] == kind and "read" in told
