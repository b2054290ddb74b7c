"""Typed, validated specs: Python mirrors of the JSON Schemas in crmsync/schemas/.

The schemas are the one source of truth; each class here names the schema object it mirrors in
``SCHEMA`` (kind, JSON pointer), and a test checks that the fields are exactly that object's
properties and that defaults agree. Objects are built only from data that already passed its
schema, so construction does no checking of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar


def plain(value: Any) -> Any:
    """LineDict/LineList → dict/list (line numbers are for messages, not for the engine)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


@dataclass(frozen=True)
class TypedBlock:
    """A polymorphic block: its ``type`` and the keys that type defines."""

    type: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> TypedBlock:
        rest = {k: plain(v) for k, v in data.items() if k != "type"}
        return cls(str(data["type"]), rest)


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True)
class Retry:
    SCHEMA: ClassVar[tuple[str, str]] = ("connector", "/$defs/retry")
    max_attempts: int = 5
    initial_backoff_seconds: float = 0.5
    max_backoff_seconds: float = 60
    honor_retry_after: bool = True


@dataclass(frozen=True)
class ErrorRule:
    SCHEMA: ClassVar[tuple[str, str]] = ("connector", "/$defs/error_rule")
    status: tuple[int, ...]
    action: str
    error: tuple[str, ...] = ()
    hint: str | None = None
    executed: bool | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ErrorRule:
        return cls(_tuple(data["status"]), data["action"], _tuple(data.get("error")), data.get("hint"),
                   data.get("executed"))


@dataclass(frozen=True)
class Entity:
    """One record type of a connector; the calls stay plain dicts in the schema's shape."""

    SCHEMA: ClassVar[tuple[str, str]] = ("connector", "/$defs/entity")
    list: dict[str, Any]
    incremental: dict[str, Any] | None = None
    get: dict[str, Any] | None = None
    create: dict[str, Any] | None = None
    update: dict[str, Any] | None = None
    delete: dict[str, Any] | None = None
    read_back: dict[str, Any] | None = None
    recover: dict[str, Any] | None = None
    links: dict[str, Any] | None = None
    deletes: TypedBlock | None = None

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Entity:
        values = {k: plain(v) for k, v in data.items() if k != "deletes"}
        deletes = TypedBlock.from_data(data["deletes"]) if "deletes" in data else None
        return cls(**values, deletes=deletes)


@dataclass(frozen=True)
class Connector:
    SCHEMA: ClassVar[tuple[str, str]] = ("connector", "")
    name: str
    base_url: str
    auth: tuple[TypedBlock, ...]
    entities: dict[str, Entity]
    title: str | None = None
    check: dict[str, Any] | None = None
    connect: dict[str, Any] | None = None     # crmsync.connections.connect: where the account's address comes from
    account: dict[str, Any] | None = None     # crmsync.connections.binding reads its identity parts
    rate_limit: TypedBlock | None = None
    retry: Retry = field(default_factory=Retry)
    errors: tuple[ErrorRule, ...] = ()
    error_body: dict[str, Any] | None = None  # crmsync.http.error_body reads the CRM's words with it
    paginator: TypedBlock | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    catalog: dict[str, Any] = field(default_factory=dict)    # crmsync.mapping.catalog_build reads it

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Connector:
        return cls(
            name=data["name"], base_url=data["base_url"], title=data.get("title"),
            auth=tuple(TypedBlock.from_data(a) for a in data["auth"]),
            entities={name: Entity.from_data(e) for name, e in data["entities"].items()},
            check=plain(data.get("check")), connect=plain(data.get("connect")), account=plain(data.get("account")),
            rate_limit=TypedBlock.from_data(data["rate_limit"]) if "rate_limit" in data else None,
            retry=Retry(**data.get("retry", {})),
            errors=tuple(ErrorRule.from_data(r) for r in data.get("errors", [])),
            error_body=plain(data.get("error_body")),
            paginator=TypedBlock.from_data(data["paginator"]) if "paginator" in data else None,
            metadata=plain(data.get("metadata", {})), catalog=plain(data.get("catalog", {})),
        )

    def auth_kinds(self) -> list[str]:
        return [a.type for a in self.auth]


@dataclass(frozen=True)
class Conflicts:
    SCHEMA: ClassVar[tuple[str, str]] = ("pipeline", "/$defs/conflicts")
    default: str = "manual"
    clock_skew_seconds: float = 5
    fields: dict[str, str] = field(default_factory=dict)

    def policy(self, entity: str, canonical_field: str) -> str:
        return self.fields.get(f"{entity}.{canonical_field}", self.default)


@dataclass(frozen=True)
class Pipeline:
    SCHEMA: ClassVar[tuple[str, str]] = ("pipeline", "")
    name: str
    crm: str
    connection: str
    entities: tuple[str, ...]
    direction: str = "both"
    schedule: str | None = None
    timezone: str | None = None
    conflicts: Conflicts = field(default_factory=Conflicts)
    write_mode: str = "upsert"
    deletes: str = "soft"
    match: dict[str, list[str]] = field(default_factory=lambda: {"contact": ["emails"]})
    staging: TypedBlock = field(default_factory=lambda: TypedBlock("duckdb", {"path": "crmsync.duckdb"}))

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Pipeline:
        values = {k: plain(v) for k, v in data.items() if k not in ("entities", "conflicts", "staging")}
        if "conflicts" in data:
            values["conflicts"] = Conflicts(**plain(data["conflicts"]))
        if "staging" in data:
            values["staging"] = TypedBlock.from_data(data["staging"])
        return cls(**values, entities=tuple(data["entities"]))


MODELS = (Connector, Entity, Retry, ErrorRule, Pipeline, Conflicts)
