"""A pipeline's assets: one multi-asset per pipeline, one asset per entity, materialised together by
one crmsync run (what ``crmsync sync PIPELINE`` does), or a subset of them (``--entity``).

Why one multi-asset and not an asset per entity: a crmsync run reads and applies a pipeline's
entities in the engine's order (contacts before the deals and tasks that link to them) under one
lock per connection, and records them as one row in ``sync.runs``; entities materialised as separate
runs would take the lock in turn and lose the links found within one run. The engine's order is
shown as dependencies between the entities' assets.
"""

# No `from __future__ import annotations` here: Dagster reads the op's annotations (its config class) at
# definition time, and a string annotation cannot be resolved from a function defined in a function.

import hashlib
import re
from typing import Any

import dagster as dg

from crmsync.dagster.run import RunConfig
from crmsync.project import Project

CONNECTION_TAG = "crmsync/connection"  # run and op tag: the connection a run uses (one run per connection)
STORE_TAG = "crmsync/store"  # run tag: the staging store a run writes (DuckDB: one writer per store)
PIPELINE_TAG = "crmsync/pipeline"
_TAG_TEXT = re.compile(r"[^A-Za-z0-9_.-]")
TAG_LIMIT = 63  # Dagster's limit for a definition's tag value
ISSUES_CHECK = "nothing_set_aside"


def asset_key(pipeline: str, entity: str) -> dg.AssetKey:
    return dg.AssetKey(["crmsync", pipeline, entity])


def job_name(pipeline: str) -> str:
    """The pipeline's job and asset group (pipeline names are [a-z][a-z0-9_]*: valid Dagster names)."""
    return f"crmsync_{pipeline}"


def op_name(pipeline: str) -> str:
    return f"{job_name(pipeline)}_run"  # not the job's name: Dagster wants op and job names apart


def tag_value(text: str) -> str:
    """``text`` as a Dagster tag value (letters, digits, ``_.-``, at most 63): unchanged when it is one
    already, else cleaned and told apart from other names that clean the same by a short hash."""
    if not _TAG_TEXT.search(text) and len(text) <= TAG_LIMIT:
        return text
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:8]
    return f"{_TAG_TEXT.sub('_', text)[:TAG_LIMIT - 9]}-{digest}"


def pool_of(connection: str) -> str:
    """The Dagster concurrency pool of a connection's runs: with a pool limit of 1 (README: "Running on
    Dagster"), one run per connection at a time, however the run was started."""
    return f"crmsync/{tag_value(connection)}"


def store_identity(project: Project, pipeline: Any) -> str:
    """Which store a pipeline's runs write, as a tag value: the staging type and its settings within
    this project (two pipelines with the same ``staging:`` block share a store)."""
    staging = pipeline.staging
    kind = staging.type if staging else "duckdb"
    options = sorted((staging.options if staging else {}).items())
    digest = hashlib.sha1(repr((str(project.root), kind, options)).encode("utf-8")).hexdigest()[:10]
    return tag_value(f"{kind}-{digest}")


def run_tags(project: Project, pipeline: Any) -> dict[str, str]:
    """Tags for every run of a pipeline's job: what a deployment's run-queue limits key on."""
    return {CONNECTION_TAG: tag_value(pipeline.connection), STORE_TAG: store_identity(project, pipeline),
            PIPELINE_TAG: pipeline.name}


def engine_order(entities: list[str]) -> list[str]:
    from crmsync.pull import ordered_entities

    return ordered_entities(entities)


def pipeline_assets(project: Project, pipeline: Any, *, retry_policy: dg.RetryPolicy | None) -> dg.AssetsDefinition:
    """The multi-asset of one pipeline: an asset per entity, each depending on the entities the engine
    applies before it; materialising any of them is one crmsync run of the selected entities."""
    ordered = engine_order(list(pipeline.entities))
    tags = run_tags(project, pipeline)
    kinds = {"crmsync", pipeline.staging.type if pipeline.staging else "duckdb"}
    specs = [dg.AssetSpec(asset_key(pipeline.name, entity), deps=[asset_key(pipeline.name, e) for e in ordered[:i]],
                          description=f"canonical {entity} records of pipeline {pipeline.name} "
                                      f"({pipeline.crm}, connection {pipeline.connection}, {pipeline.direction})",
                          group_name=job_name(pipeline.name), kinds=kinds,
                          tags={CONNECTION_TAG: tags[CONNECTION_TAG]},
                          metadata={"pipeline": pipeline.name, "crm": pipeline.crm, "entity": entity,
                                    "direction": pipeline.direction, "schedule": pipeline.schedule or "manual"})
             for i, entity in enumerate(ordered)]
    # what `crmsync sync` answers with exit 5 ("issues"): a warning on the entity, not a failed run
    checks = [dg.AssetCheckSpec(ISSUES_CHECK, asset=asset_key(pipeline.name, entity),
                                description=f"the run set no {entity} aside (sync.rejected: the mapping or the CRM "
                                            "refused it) and held no field in a manual conflict")
              for entity in ordered]
    by_key = {asset_key(pipeline.name, entity): entity for entity in ordered}

    @dg.multi_asset(name=op_name(pipeline.name), specs=specs, check_specs=checks, can_subset=True,
                    pool=pool_of(pipeline.connection), op_tags=tags, retry_policy=retry_policy,
                    description=f"crmsync run of pipeline {pipeline.name}: `crmsync sync {pipeline.name}` "
                                "(run config kind: pull or push for those commands)")
    def _materialise(context: dg.AssetExecutionContext, config: RunConfig) -> Any:
        chosen = [by_key[key] for key in context.selected_asset_keys]
        entities = None if set(chosen) == set(ordered) else [e for e in ordered if e in chosen]
        yield from materialise(context, project, pipeline.name, entities or ordered, config,
                               whole=entities is None)

    return _materialise


def materialise(context: dg.AssetExecutionContext, project: Project, pipeline: str, entities: list[str],
                config: Any, *, whole: bool) -> Any:
    """Run crmsync, then one MaterializeResult per entity with the run's metadata; a crmsync error
    becomes a Dagster Failure with crmsync's message (crmsync.dagster.run)."""
    import datetime as dt

    from crmsync.dagster.run import entity_metadata, failure_of, row_from_result, run_pipeline, run_row, stopped
    from crmsync.logs import log_to_project

    log_to_project(project)
    started = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    only = "" if whole else "".join(f" --entity {e}" for e in entities)
    context.log.info(f"crmsync {config.kind} {pipeline}{only}")
    try:
        result = run_pipeline(project, pipeline, None if whole else entities, config)
    except BaseException as exc:
        if stopped(exc):
            raise
        row = _quietly(lambda: run_row(project, pipeline, since=started))
        raise failure_of(exc, row if row and row["status"] in ("failed", "interrupted") else None) from exc
    row = _quietly(lambda: run_row(project, pipeline, result.run_id))
    if row is None:
        context.log.warning(f"run {result.run_id}: its sync.runs row could not be read back; metadata from the result")
        row = row_from_result(result, config.kind)
    if row["status"] == "issues":
        issues = row.get("issues") or {}
        context.log.warning(f"run {row['run_id']}: done, but {issues.get('rejected', 0)} record(s) set aside or "
                            f"refused and {issues.get('held', 0)} held in manual conflicts (sync.rejected, "
                            "`crmsync conflicts list`)")
    checked = context.selected_asset_check_keys
    for entity in entities:
        key = asset_key(pipeline, entity)
        found = dg.AssetCheckKey(key, ISSUES_CHECK)
        yield dg.MaterializeResult(asset_key=key, metadata=entity_metadata(row, entity),
                                   check_results=[issues_check(row, key, entity)] if found in checked else None)


def issues_check(row: dict[str, Any], key: dg.AssetKey, entity: str) -> dg.AssetCheckResult:
    counts = row.get("entities", {}).get(entity) or {}
    rejected, held = int(counts.get("rejected", 0)), int(counts.get("held", 0))
    return dg.AssetCheckResult(asset_key=key, check_name=ISSUES_CHECK, passed=not (rejected or held),
                               severity=dg.AssetCheckSeverity.WARN, metadata={"rejected": rejected, "held": held},
                               description=None if not (rejected or held) else
                               f"{rejected} set aside, {held} held: see sync.rejected and `crmsync conflicts list`")


def _quietly(read: Any) -> Any:
    """A read of the run history that must not turn a run's outcome into another failure."""
    from crmsync.logs import log

    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - the run's own outcome is what the step reports
        log.warning("reading the run's row from sync.runs failed: %s", exc)
        return None
