"""Block types registered by code: the escape hatch for what a connector's YAML cannot say.

A polymorphic block of a spec (``paginator`` today) lists its declarative types in the JSON Schema
file. A type that needs Python — Bitrix24's keyset pages packed into ``batch`` calls — is registered
here by name with the JSON Schema of its own keys, exactly as a plugin would register one. The
schema loader (:mod:`crmsync.specs.schemas`) adds every registered type as one more branch of the
block, so validation, "is not one of the known types (allowed: …)" and the docs all see it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.errors import CrmsyncError


@dataclass(frozen=True)
class BlockType:
    block: str                       # the schema's $defs entry this type belongs to, e.g. "paginator"
    name: str                        # the value of `type:` that selects it
    description: str                 # user docs, like every description in the schemas
    properties: dict[str, Any] = field(default_factory=dict)  # JSON Schema of its other keys
    required: tuple[str, ...] = ()

    def branch(self) -> dict[str, Any]:
        """This type as one ``oneOf`` branch of its block."""
        return {
            "type": "object",
            "title": self.name,
            "additionalProperties": False,
            "required": ["type", *self.required],
            "properties": {"type": {"const": self.name, "description": self.description}, **self.properties},
        }


_TYPES: dict[str, dict[str, BlockType]] = {}


def register_block_type(block: str, name: str, *, description: str, properties: dict[str, Any] | None = None,
                        required: tuple[str, ...] | list[str] = ()) -> BlockType:
    """Make ``type: name`` valid in ``block``; registering the same name twice is a programming error."""
    known = _TYPES.setdefault(block, {})
    if name in known:
        raise CrmsyncError(f"{block} type {name!r} is already registered")
    entry = BlockType(block, name, description, dict(properties or {}), tuple(required))
    known[name] = entry
    return entry


def block_types(block: str) -> dict[str, BlockType]:
    """The registered types of ``block`` by name (the declarative ones live in the schema file)."""
    return dict(_TYPES.get(block, {}))


def registered_blocks() -> list[str]:
    return sorted(_TYPES)
