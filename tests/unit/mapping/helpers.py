"""Shared helpers for the mapping tests: the repository's own mappings, golden cases and metadata."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from crmsync.mapping import KeyResolver, Mapper, build_catalog, catalog_needs, load_canonical, load_mapping
from crmsync.mapping.paths import MISSING, get_path, set_path
from crmsync.mapping.spec import CustomFieldRef
from crmsync.specs.yamlload import load_yaml

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden"
CRMS = ("amocrm", "bitrix24")
ENTITIES = ("contact", "deal", "task")
PAIRS = [(crm, entity) for crm in CRMS for entity in ENTITIES]


@cache
def canonical() -> dict[str, dict[str, Any]]:
    return load_canonical(ROOT)


@cache
def connector(crm: str) -> dict[str, Any]:
    return load_yaml(ROOT / "connectors" / f"{crm}.yaml")


@cache
def metadata(crm: str) -> dict[str, Any]:
    return json.loads((GOLDEN / crm / "metadata.json").read_text(encoding="utf-8"))


def mapping_path(crm: str, entity: str) -> Path:
    return ROOT / "mappings" / crm / f"{entity}.yaml"


@cache
def mapper(crm: str, entity: str) -> Mapper:
    spec = load_mapping(mapping_path(crm, entity), canonical=canonical(), connector=connector(crm))
    # only the parts the mapping says it uses, as a run fetches them: every golden case proves the list complete
    catalog = build_catalog(crm, metadata(crm), spec.source, catalog_needs(spec))
    return Mapper(spec, catalog, KeyResolver(), canonical()[spec.entity])


def golden_files(crm: str | None = None, entity: str | None = None) -> list[Path]:
    return sorted(p for p in GOLDEN.glob(f"{crm or '*'}/{entity or '*'}/*.json"))


def golden(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def golden_id(path: Path) -> str:
    return "/".join(path.relative_to(GOLDEN).with_suffix("").parts)


def stored(m: Mapper, payload: dict[str, Any]) -> dict[str, Any]:
    """The raw record a CRM would return after taking ``payload``: write names moved to read names."""
    raw = copy.deepcopy(payload)
    for bound in m.fields:
        spec = bound.spec
        if isinstance(spec.source, CustomFieldRef) or spec.target == spec.source:
            continue
        sources = spec.source if isinstance(spec.source, tuple) else (spec.source,)
        targets = spec.target if isinstance(spec.target, tuple) else (spec.target,)
        for src, dst in zip(sources, targets, strict=True):
            value = get_path(payload, dst)
            if value is not MISSING:
                raw.pop(dst, None)
                set_path(raw, src, value)
    return raw


def two_way(m: Mapper, record: dict[str, Any]) -> dict[str, Any]:
    """Only the two-way fields of a canonical record (custom values flattened to custom.<name>)."""
    out = {}
    for name in m.two_way_fields:
        if name.startswith("custom."):
            custom = record.get("custom") or {}
            if name[7:] in custom:
                out[name] = custom[name[7:]]
        elif name in record:
            out[name] = record[name]
    return out

