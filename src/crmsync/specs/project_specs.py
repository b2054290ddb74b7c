"""Load a whole project's specs, check each file and every reference between files.

:func:`load_specs` never stops at the first problem: a file that cannot be parsed is one problem and
the others still load; each file is checked against its JSON Schema; then the references between
files are checked with a "did you mean". Only files with no problems of their own become typed
spec objects.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from crmsync.project import Project

from .check_cache import CheckCache, file_bytes
from .connector_checks import connector_problems
from .discovery import CANONICAL_SUFFIX, Found, SpecFile, discover
from .models import Connector, Pipeline
from .problems import Problem, did_you_mean
from .schema_check import check
from .schemas import has_schema, load_schema
from .yamlload import line_of

MappingCheck = Callable[..., list[Problem]]


@dataclass
class Specs:
    project: Project
    connectors: dict[str, Connector] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    canonical: dict[str, dict[str, Any]] = field(default_factory=dict)       # entity -> JSON Schema
    mappings: dict[tuple[str, str], Any] = field(default_factory=dict)       # (crm, entity) -> mapping data
    files: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": [p.as_dict() for p in self.problems], "files": len(self.files)}


def load_specs(project: Project, *, mapping_check: MappingCheck | None = None) -> Specs:
    """Every spec of ``project``, checked; ``mapping_check`` replaces crmsync.mapping.validate_mapping."""
    found = discover(project)
    specs = Specs(project, files=[f.name for f in found.all_files()])
    problems = list(found.problems)
    cache = CheckCache(project)

    connectors = _check_named(found.connectors, "connector", problems, cache)
    pipelines = _check_named(found.pipelines, "pipeline", problems, cache)
    canonical = _check_canonical(found.canonical, problems, cache)
    # A check passed in by a caller is not the one the cache's keys stand for: run it every time.
    mapped = _check_mappings(found, connectors, canonical, problems, mapping_check or _mapping_check(),
                             cache if mapping_check is None else None)
    cache.save()
    stored = _stored_connection_crms(project)
    for f in found.pipelines:
        if isinstance(f.data, dict):
            problems.extend(_pipeline_references(f, connectors, canonical, mapped))
            problems.extend(_pipeline_connection(f, stored))

    bad_files = {p.file for p in problems}
    specs.connectors = {n: Connector.from_data(f.data) for n, f in connectors.items() if f.name not in bad_files}
    specs.pipelines = {n: Pipeline.from_data(f.data) for n, f in pipelines.items() if f.name not in bad_files}
    specs.canonical = {e: f.data for e, f in canonical.items() if f.name not in bad_files}
    specs.mappings = {key: f.data for key, f in mapped.items() if f.name not in bad_files}
    specs.problems = sorted(set(problems), key=lambda p: (p.file, p.line or 0, p.path, p.message))
    return specs


def _cached_check(cache: CheckCache | None, kind: str, texts: list[bytes], run: Callable[[], list[Problem]]
                  ) -> list[Problem]:
    """``run()``, unless the same check of the same texts passed before; only passes are remembered."""
    key = cache.key(kind, texts) if cache is not None else None
    if key is not None and cache.passed(key):
        return []
    found = run()
    if key is not None and not found:
        cache.remember(key)
    return found


def _check_named(files: list[SpecFile], kind: str, problems: list[Problem], cache: CheckCache | None = None
                 ) -> dict[str, SpecFile]:
    """Schema-check connectors or pipelines; {file stem: file} for those that parsed."""
    out: dict[str, SpecFile] = {}
    for f in files:
        out[f.path.stem] = f    # unparsable ones too: they exist, and their problem is already reported
        if f.data is None:
            _empty(f, kind, problems)
            continue
        file_problems = _cached_check(cache, kind, [file_bytes(f.path)],
                                      lambda f=f: _check_file(f, kind))
        problems.extend(file_problems)
        if kind == "connector" and not file_problems:
            problems.extend(_association_readers(f))
        name = f.data.get("name") if isinstance(f.data, dict) else None
        if isinstance(name, str) and name != f.path.stem and not any(p.path == "name" for p in file_problems):
            problems.append(Problem(f.name, line_of(f.data, ["name"]), "name",
                                    f"{name!r} must equal the file name {f.path.stem!r}"))
    return out


def _association_readers(f: SpecFile) -> list[Problem]:
    """An entity's written ``associations`` are diffed against what a ``links`` read puts under the
    same field: a field no ``links`` entry reads could never be compared, so a push could not tell
    which links to remove."""
    out = []
    for entity, spec in (f.data.get("entities") or {}).items():
        links = (spec or {}).get("links")
        reads = [b.get("into") for b in (links if isinstance(links, list) else [links] if links else [])
                 if isinstance(b, dict) and "path" in b]
        for i, block in enumerate((spec or {}).get("associations") or []):
            if block.get("field") not in reads:
                where = ["entities", entity, "associations", i, "field"]
                out.append(Problem(f.name, line_of(f.data, where), f"entities.{entity}.associations[{i}].field",
                                   f"{block.get('field')!r} is read by no REST `links` entry of {entity} (their "
                                   f"`into`: {', '.join(map(repr, reads)) or 'none'}): push reads the current "
                                   f"links there to know which to add and which to remove"))
    return out


def _check_file(f: SpecFile, kind: str) -> list[Problem]:
    """The schema check, then (connectors) what the schema cannot say, unless the schema already
    found a problem at the same field."""
    found = check(f.data, load_schema(kind), f.name)
    if kind == "connector":
        seen = {p.path.split("[")[0].split(".")[0] for p in found}
        found += [p for p in connector_problems(f.data, f.name) if p.path.split("[")[0].split(".")[0] not in seen]
    return found


def _empty(f: SpecFile, kind: str, problems: list[Problem]) -> None:
    """An empty file parses as nothing, without a YAML error: say so (it used to crash validate)."""
    if not any(p.file == f.name for p in problems):
        problems.append(Problem(f.name, 1, "", f"the file is empty: a {kind} spec is a YAML mapping "
                                               f"(`crmsync init` writes an example of each kind)"))


def _check_canonical(files: list[SpecFile], problems: list[Problem], cache: CheckCache | None = None
                     ) -> dict[str, SpecFile]:
    out: dict[str, SpecFile] = {}
    for f in files:
        entity = f.path.name[: -len(CANONICAL_SUFFIX)]
        out[entity] = f
        if f.data is None:
            _empty(f, "canonical schema", problems)
            continue
        found = _cached_check(cache, "canonical", [file_bytes(f.path)],
                              lambda f=f: check(f.data, _meta_schema(), f.name))
        if not found and not isinstance(f.data.get("properties") if isinstance(f.data, dict) else None, dict):
            found = [Problem(f.name, getattr(f.data, "line", None), "properties",
                             "a canonical schema must describe its fields under 'properties'")]
        problems.extend(found)
    return out


def _meta_schema() -> dict[str, Any]:
    from jsonschema import Draft202012Validator  # only when a canonical schema is checked (not cached)

    return Draft202012Validator.META_SCHEMA


def _canonical_fields(f: SpecFile | None) -> dict[str, Any]:
    props = f.data.get("properties") if f is not None and isinstance(f.data, dict) else None
    return props if isinstance(props, dict) else {}


def _check_mappings(found: Found, connectors: dict[str, SpecFile], canonical: dict[str, SpecFile],
                    problems: list[Problem], validate_mapping: MappingCheck | None,
                    cache: CheckCache | None = None) -> dict[tuple[str, str], SpecFile]:
    """Folders name connectors and files canonical entities; then each file's own checks (incl. `source`)."""
    out: dict[tuple[str, str], SpecFile] = {}
    for crm, files in found.mapping_dirs.items():
        connector = connectors.get(crm)
        if connector is None:
            folder = f"mappings/{crm}/"
            problems.append(Problem(folder, None, "", f"there is no connector {crm!r} (connectors/{crm}.yaml)"
                                    f"{did_you_mean(crm, connectors)}", tuple(sorted(connectors))))
        for f in files:
            entity = f.path.stem
            out[(crm, entity)] = f
            if f.data is None:
                _empty(f, "mapping", problems)
                continue
            here = _mapping_names(f, crm, entity, connector, canonical)
            problems.extend(here)
            if here or connector is None or not isinstance(connector.data, dict) or canonical[entity].data is None:
                continue  # the mapping's own checks would only repeat the same mistake field by field
            if validate_mapping is not None:
                schemas = {e: c.data for e, c in canonical.items() if c.data is not None}
                # The folder names the connector: a wrong `name:` inside it is reported once, on the connector.
                named = {**connector.data, "name": crm}
                # What the check reads: this file, its connector (named by the folder) and every canonical schema.
                texts = [file_bytes(f.path), crm.encode(), file_bytes(connector.path)]
                for e in sorted(schemas):
                    texts += [e.encode(), file_bytes(canonical[e].path)]
                problems.extend(_cached_check(cache, "mapping", texts, lambda f=f, s=schemas, n=named: validate_mapping(
                    f.data, file=f.name, canonical=s, connector=n)))
            elif has_schema("mapping"):
                problems.extend(check(f.data, load_schema("mapping"), f.name))
    return out


def _mapping_names(f: SpecFile, crm: str, entity: str, connector: SpecFile | None,
                   canonical: dict[str, SpecFile]) -> list[Problem]:
    out: list[Problem] = []
    if entity not in canonical:
        out.append(Problem(f.name, None, "", f"there is no canonical entity {entity!r} "
                           f"(mappings/canonical/{entity}{CANONICAL_SUFFIX}){did_you_mean(entity, canonical)}",
                           tuple(sorted(canonical))))
    if not isinstance(f.data, dict):
        return out
    for key, expected in (("crm", crm), ("entity", entity)):
        value = f.data.get(key)
        if isinstance(value, str) and value != expected:
            out.append(Problem(f.name, line_of(f.data, [key]), key,
                               f"{value!r} does not match the file's place mappings/{crm}/{entity}.yaml "
                               f"(expected {expected!r})"))
    return out


def _connector_entities(connector: SpecFile | None) -> dict[str, Any] | None:
    data = connector.data if connector is not None else None
    entities = data.get("entities") if isinstance(data, dict) else None
    return entities if isinstance(entities, dict) else None


def _pipeline_references(f: SpecFile, connectors: dict[str, SpecFile], canonical: dict[str, SpecFile],
                         mapped: dict[tuple[str, str], SpecFile]) -> list[Problem]:
    data, out = f.data, []
    crm = data.get("crm")
    connector = connectors.get(crm) if isinstance(crm, str) else None
    if isinstance(crm, str) and connector is None:
        out.append(Problem(f.name, line_of(data, ["crm"]), "crm",
                           f"there is no connector {crm!r} in connectors/{did_you_mean(crm, connectors)}",
                           tuple(sorted(connectors))))
    entities = data.get("entities") if isinstance(data.get("entities"), list) else []
    known = _connector_entities(connector)
    for i, entity in enumerate(entities):
        if not isinstance(entity, str) or connector is None or known is None:
            continue
        if entity not in known:
            out.append(Problem(f.name, line_of(data, ["entities", i]), f"entities[{i}]",
                               f"connector {crm!r} defines no entity {entity!r}{did_you_mean(entity, known)}",
                               tuple(sorted(known))))
        elif (crm, entity) not in mapped:
            out.append(Problem(f.name, line_of(data, ["entities", i]), f"entities[{i}]",
                               f"{entity!r} has no mapping: create mappings/{crm}/{entity}.yaml"))
    out.extend(_conflict_references(f, entities, canonical))
    out.extend(_hard_deletes(f, crm, entities, known))
    out.extend(_schedule(f))
    return out


def _stored_connection_crms(project: Project) -> dict[str, str]:
    """Connection name → its CRM, from the store's ``sync.connections`` when it can be read without waiting
    (offline: no CRM is called). A store another process holds is skipped: each run checks it again."""
    import duckdb

    from crmsync.errors import CrmsyncError, UserError
    from crmsync.store import home_store, open_store, postgres_env

    try:
        path = home_store(project)
    except UserError:  # pipelines on two Postgres stores: the run says so; validate checks the rest
        return {}
    if postgres_env(path) is not None or not path.is_file():  # validate stays offline: no database call
        return {}
    try:  # the store's own open: beside a read round or its checkpoint in this process too
        with open_store(path, read_only=True, wait=False) as con:
            return dict(con.execute("SELECT name, crm FROM sync.connections").fetchall())
    except (duckdb.Error, CrmsyncError):  # held by another process (BusyError), or no connections table yet
        return {}


def _pipeline_connection(f: SpecFile, stored: dict[str, str]) -> list[Problem]:
    """A pipeline's ``crm`` must be its connection's CRM: otherwise its calls go to another CRM's API."""
    crm, name = f.data.get("crm"), f.data.get("connection")
    have = stored.get(name) if isinstance(name, str) else None
    if not isinstance(crm, str) or have is None or have == crm:
        return []
    same = sorted(n for n, c in stored.items() if c == crm)
    return [Problem(f.name, line_of(f.data, ["connection"]), "connection",
                    f"connection {name!r} is a {have} connection, but this pipeline has crm: {crm}; point "
                    f"`connection:` at a {crm} connection" + ("" if same else
                                                              f" (create one with `crmsync connect {crm} --name ...`)"),
                    tuple(same))]


def _schedule(f: SpecFile) -> list[Problem]:
    """The schema checks the shape of ``schedule``; croniter and zoneinfo say whether it can be scheduled."""
    from crmsync.schedule import schedule_problem

    schedule, zone = f.data.get("schedule"), f.data.get("timezone")
    problem = schedule_problem(schedule if isinstance(schedule, str) else None, zone if isinstance(zone, str) else None)
    if problem is None:
        return []
    key = "timezone" if problem.startswith("timezone") else "schedule"
    return [Problem(f.name, line_of(f.data, [key]), key, problem)]


def _hard_deletes(f: SpecFile, crm: Any, entities: list[Any], known: dict[str, Any] | None) -> list[Problem]:
    """``deletes: hard`` sends local deletions to the CRM: every synced entity needs a ``delete`` call."""
    if f.data.get("deletes") != "hard" or known is None:
        return []
    missing = [e for e in entities if isinstance(e, str) and isinstance(known.get(e), dict)
               and "delete" not in known[e]]
    if not missing:
        return []
    return [Problem(f.name, line_of(f.data, ["deletes"]), "deletes",
                    f"'hard' sends local deletions to the CRM, but connector {crm!r} cannot delete "
                    f"{', '.join(repr(e) for e in missing)} (its entities have no 'delete' call); "
                    "use soft to keep deletions local, or sync only entities it can delete", ("soft", "never"))]


def _conflict_references(f: SpecFile, entities: list[Any], canonical: dict[str, SpecFile]) -> list[Problem]:
    conflicts = f.data.get("conflicts")
    rules = conflicts.get("fields") if isinstance(conflicts, dict) else None
    if not isinstance(rules, dict):
        return []
    out = []
    for key in rules:
        if not isinstance(key, str) or key.count(".") not in (1, 2):
            continue  # the schema already said what form the key must have
        entity, name, *sub = key.split(".")
        path = ["conflicts", "fields", key]
        where, line = f"conflicts.fields.{key}", line_of(f.data, path)
        if entity not in canonical:
            out.append(Problem(f.name, line, where, f"there is no canonical entity {entity!r}"
                               f"{did_you_mean(entity, canonical)}", tuple(sorted(canonical))))
            continue
        fields = _canonical_fields(canonical[entity])
        if canonical[entity].data is not None and name not in fields:
            out.append(Problem(f.name, line, where, f"canonical {entity!r} has no field {name!r}"
                               f"{did_you_mean(name, fields)}", tuple(sorted(fields))))
        elif sub and name != "custom":
            out.append(Problem(f.name, line, where, f"only custom values have a rule per key ({entity}.custom.<name>);"
                               f" {entity}.{name} is a plain field", (f"{entity}.{name}", f"{entity}.custom.<name>")))
        if entity not in entities:
            out.append(Problem(f.name, line, where, f"this pipeline does not sync {entity!r}",
                               tuple(str(e) for e in entities)))
    return out


def _mapping_check() -> MappingCheck | None:
    """The mapping layer's own checks, when it is installed (its import errors are bugs: let them surface)."""
    if importlib.util.find_spec("crmsync.mapping") is None:
        return None
    from crmsync import mapping

    return getattr(mapping, "validate_mapping", None)
