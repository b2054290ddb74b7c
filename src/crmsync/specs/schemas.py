"""The JSON Schemas of the spec kinds, as shipped in crmsync/schemas/ plus the registered block types."""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from crmsync.errors import CrmsyncError

from . import builtin_types  # noqa: F401  (registers crmsync's own block types)
from .registry import block_types, registered_blocks

KINDS = ("connector", "pipeline", "mapping")


def _schema_file(kind: str) -> Any:
    return resources.files("crmsync").joinpath("schemas", f"{kind}.schema.json")


def schema_text(kind: str) -> str:
    return _schema_file(kind).read_text(encoding="utf-8")


def has_schema(kind: str) -> bool:
    return _schema_file(kind).is_file()


@cache
def _file_schema(kind: str) -> dict[str, Any]:
    return json.loads(schema_text(kind))


def load_schema(kind: str) -> dict[str, Any]:
    """The schema of ``kind`` with every registered block type added to its block's ``oneOf``."""
    from crmsync.plugins import load_plugins

    load_plugins()  # plugins register their block types (crmsync.plugins)
    schema = copy.deepcopy(_file_schema(kind))
    defs = schema.get("$defs", {})
    for block in registered_blocks():
        if block not in defs:
            continue
        branches = defs[block].setdefault("oneOf", [])
        builtin = {((b.get("properties") or {}).get("type") or {}).get("const") for b in branches}
        for name, entry in sorted(block_types(block).items()):
            if name in builtin:
                raise CrmsyncError(f"{block} type {name!r} is registered in code but is also declared in "
                                   f"{kind}.schema.json")
            branches.append(entry.branch())
    return schema
