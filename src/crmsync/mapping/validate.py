"""Offline checks of a mapping file, for ``crmsync validate``: every problem, with line and fix."""

from __future__ import annotations

from typing import Any

from ..specs.problems import Problem, did_you_mean, dotted
from ..specs.schema_check import check
from ..specs.yamlload import line_of
from .registry import Transform, UnknownTransform, get_transform, transform_names
from .spec import mapping_schema


def validate_mapping(data: Any, *, file: str, canonical: dict[str, dict[str, Any]] | None = None,
                     connector: dict[str, Any] | None = None) -> list[Problem]:
    """Problems of one mapping document (as loaded by ``specs.yamlload``).

    ``canonical`` maps entity names to canonical JSON Schemas and ``connector`` is the loaded
    connector spec of the mapping's CRM; either may be None to skip the cross-file checks.
    """
    problems = check(data, mapping_schema(), file)
    if not isinstance(data, dict):
        return problems
    fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
    default_direction = (data.get("defaults") or {}).get("direction", "both") \
        if isinstance(data.get("defaults"), dict) else "both"
    for name, body in fields.items():
        if isinstance(body, dict):
            problems += _field_transforms(data, file, name, body, default_direction)
    if canonical is not None:
        problems += _canonical_names(data, file, canonical, fields)
    if connector is not None:
        problems += _connector_refs(data, file, connector)
    return sorted(set(problems), key=lambda p: (p.line or 0, p.path, p.message))


def _field_transforms(data: Any, file: str, name: str, body: dict[str, Any], default: str) -> list[Problem]:
    out: list[Problem] = []
    chain = body.get("transforms") if isinstance(body.get("transforms"), list) else []
    direction = body.get("direction", default)
    custom_source = isinstance(body.get("from"), dict)
    for i, spec in enumerate(chain):
        if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
            continue  # the schema check has said so
        where = ["fields", name, "transforms", i]
        try:
            cls = get_transform(spec["type"])
        except UnknownTransform:
            out.append(Problem(file, line_of(data, [*where, "type"]), dotted([*where, "type"]),
                               f"unknown transform {spec['type']!r}{did_you_mean(spec['type'], transform_names())}",
                               tuple(transform_names())))
            continue
        out += _params(file, where, spec, cls, data)
        if not cls.has_inverse and direction in ("both", "push"):
            out.append(Problem(file, line_of(data, [*where, "type"]), dotted(where),
                               f"transform {cls.name!r} has no inverse: set direction: pull"))
        if getattr(cls, "needs_custom_field", False) and not custom_source:
            out.append(Problem(file, line_of(data, [*where, "type"]), dotted(where),
                               f"transform {cls.name!r} reads a custom field: use from: {{custom_field: …}}"))
    return out


def _params(file: str, where: list[Any], spec: dict[str, Any], cls: type[Transform], data: Any) -> list[Problem]:
    prefix = dotted(where)
    out = []
    for p in check(spec, cls.params_schema(), file):
        inner = "" if p.path == "(top level)" else p.path
        path = f"{prefix}.{inner}" if inner else prefix
        out.append(Problem(file, p.line or line_of(data, where), path, p.message, p.allowed))
    return out


def _canonical_names(data: dict[str, Any], file: str, canonical: dict[str, dict[str, Any]],
                     fields: dict[str, Any]) -> list[Problem]:
    entity = data.get("entity")
    if not isinstance(entity, str):
        return []
    if entity not in canonical:
        return [Problem(file, line_of(data, ["entity"]), "entity",
                        f"no canonical entity {entity!r}{did_you_mean(entity, canonical)}", tuple(sorted(canonical)))]
    props = canonical[entity].get("properties") or {}
    names = sorted(props)
    out = []
    for name in fields:
        head, _, tail = str(name).partition(".")
        line, path = line_of(data, ["fields", name]), f"fields.{name}"
        if head not in props:
            out.append(Problem(file, line, path, f"{entity} has no field {head!r}{did_you_mean(head, names)}",
                               tuple(names)))
        elif tail and head != "custom":
            out.append(Problem(file, line, path, "only custom values take a dotted name (custom.<name>)"))
        elif head == "custom" and not tail:
            out.append(Problem(file, line, path, "map custom values one by one, as custom.<name>"))
    return out


def _connector_refs(data: dict[str, Any], file: str, connector: dict[str, Any]) -> list[Problem]:
    out = []
    crm, name = data.get("crm"), connector.get("name")
    if isinstance(crm, str) and name and crm != name:
        out.append(Problem(file, line_of(data, ["crm"]), "crm", f"{crm!r} does not match the connector {name!r}"))
    out += _catalog_refs(data, file, connector)
    entities = sorted((connector.get("entities") or {}).keys())
    source = data.get("source")
    if isinstance(source, str) and source not in entities:
        out.append(Problem(file, line_of(data, ["source"]), "source",
                           f"connector {name!r} has no entity {source!r}{did_you_mean(source, entities)}",
                           tuple(entities)))
    return out


def _catalog_refs(data: dict[str, Any], file: str, connector: dict[str, Any]) -> list[Problem]:
    """A custom field needs the connector's ``catalog.custom_fields`` with a ``layout`` (where values
    sit in a record); a transform that looks up users, stages or companies needs that catalog part."""
    from .layouts import layout_types

    catalog = connector.get("catalog") if isinstance(connector.get("catalog"), dict) else {}
    custom = catalog.get("custom_fields") if isinstance(catalog.get("custom_fields"), dict) else {}
    name = connector.get("name")
    out = []
    fields = data.get("fields") if isinstance(data.get("fields"), dict) else {}
    for field, body in fields.items():
        if not isinstance(body, dict):
            continue
        if isinstance(body.get("from"), dict) and "custom_field" in body["from"] and not custom.get("layout"):
            out.append(Problem(file, line_of(data, ["fields", field, "from"]), f"fields.{field}.from",
                               f"looks up a custom field, but connector {name!r} declares no "
                               f"catalog.custom_fields.layout (where its records keep custom field values)",
                               tuple(layout_types())))
        chain = body.get("transforms") if isinstance(body.get("transforms"), list) else []
        for i, spec in enumerate(chain):
            if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
                continue
            try:
                parts = get_transform(spec["type"]).catalog
            except UnknownTransform:
                continue
            for part in parts:
                if part != "custom_fields" and part not in catalog:
                    where = ["fields", field, "transforms", i]
                    out.append(Problem(file, line_of(data, [*where, "type"]), dotted(where),
                                       f"transform {spec['type']!r} looks up {part}, but connector {name!r} "
                                       f"declares no catalog.{part}", tuple(sorted(catalog))))
    return out
