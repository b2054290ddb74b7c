"""A mapping file as Python data: :class:`MappingSpec` mirrors ``schemas/mapping.schema.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

from ..specs.yamlload import SpecYAMLError, load_yaml
from .errors import MappingError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "mapping.schema.json"


@lru_cache(maxsize=1)
def mapping_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class CustomFieldRef:
    by: str                      # id | code | name
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {self.by: self.value}


Source = Union[str, tuple[str, ...], CustomFieldRef]  # noqa: UP007  (a runtime alias on 3.10)


@dataclass(frozen=True)
class FieldSpec:
    name: str                    # canonical field: first_name, custom.source
    source: Source               # `from`
    target: Source               # `to` (default: `from`)
    transforms: tuple[dict[str, Any], ...] = ()
    direction: str = "both"
    description: str = ""
    limits: dict[str, Any] | None = None  # what the CRM keeps of it (crmsync.push.checks refuses the rest)

    @property
    def pulls(self) -> bool:
        return self.direction in ("both", "pull")

    @property
    def pushes(self) -> bool:
        return self.direction in ("both", "push")


@dataclass(frozen=True)
class MappingSpec:
    crm: str
    entity: str
    source: str
    fields: tuple[FieldSpec, ...]
    file: str = ""
    description: str = ""


def parse_source(raw: Any) -> Source:
    if isinstance(raw, dict):
        (by, value), = raw["custom_field"].items()
        return CustomFieldRef(by, value)
    if isinstance(raw, list):
        return tuple(raw)
    return str(raw)


def parse_mapping(data: dict[str, Any], file: str = "") -> MappingSpec:
    """Build the spec from a document that passed :func:`validate_mapping`."""
    default_direction = (data.get("defaults") or {}).get("direction", "both")
    fields = []
    for name, body in data["fields"].items():
        body = {"from": body} if isinstance(body, str) else body
        source = parse_source(body["from"])
        fields.append(FieldSpec(
            name=name, source=source, target=parse_source(body["to"]) if "to" in body else source,
            transforms=tuple(dict(t) for t in body.get("transforms") or ()),
            direction=body.get("direction", default_direction), description=body.get("description", ""),
            limits=dict(body["limits"]) if body.get("limits") else None))
    return MappingSpec(data["crm"], data["entity"], data["source"], tuple(fields), file, data.get("description", ""))


def load_mapping(path: Path, *, canonical: dict[str, dict[str, Any]] | None = None,
                 connector: dict[str, Any] | None = None, display_name: str | None = None) -> MappingSpec:
    """Read and check a mapping file; :class:`MappingError` lists every problem found."""
    from .validate import validate_mapping

    name = display_name or str(path)
    try:
        data = load_yaml(path, name)
    except SpecYAMLError as exc:
        raise MappingError([str(exc.problem)]) from None
    problems = validate_mapping(data, file=name, canonical=canonical, connector=connector)
    if problems:
        raise MappingError([str(p) for p in problems])
    return parse_mapping(data, name)
