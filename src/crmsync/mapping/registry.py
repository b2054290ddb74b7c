"""Transforms: small named converters between a CRM value and a canonical value.

A transform is a class with ``forward`` (pull: CRM → canonical) and, when the conversion can be
undone, ``inverse`` (push: canonical → CRM). A field whose chain has a transform without an inverse
can only be pulled. Built-in transforms register here exactly as a plugin would::

    register_transform("my_cast", MyCast)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .context import Context


class Transform:
    """Base class. Subclasses set ``name``, ``summary``, ``params`` and implement the conversions."""

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""                     # one line for docs and `validate` messages
    params: ClassVar[dict[str, Any]] = {}           # JSON Schema properties of the parameters
    required: ClassVar[tuple[str, ...]] = ()        # parameters that must be given
    has_inverse: ClassVar[bool] = True
    handles_none: ClassVar[bool] = False            # False: a null value passes through untouched
    needs_custom_field: ClassVar[bool] = False      # reads the field's options from the catalog
    # The parts of the account's metadata (FieldCatalog) it looks up: users, stages, companies. A run
    # fetches only the metadata its mappings need; a part it did not fetch refuses lookups loudly.
    catalog: ClassVar[tuple[str, ...]] = ()
    # ``forward`` depends only on the value, the parameters, the catalog and the custom field (not on
    # the rest of the record, the resolver or earlier calls), and never changes the value it is given:
    # a batch then maps each distinct value once (crmsync.mapping.batch). Off unless a transform says so.
    pure: ClassVar[bool] = False
    # ``forward`` needs nothing of the running engine (no resolver: it mints ids in the store), so a
    # chunk may be mapped in a process of its own (crmsync.map_process). Off unless a transform says so:
    # a plugin's transform maps in the engine's process.
    portable: ClassVar[bool] = False

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = {k: v for k, v in spec.items() if k != "type"}

    @classmethod
    def params_schema(cls) -> dict[str, Any]:
        return {"type": "object", "required": ["type", *cls.required], "additionalProperties": False,
                "properties": {"type": {"const": cls.name, "description": cls.summary}, **cls.params}}

    def forward(self, value: Any, ctx: Context) -> Any:
        raise NotImplementedError

    def inverse(self, value: Any, ctx: Context) -> Any:
        raise NotImplementedError(f"transform {self.name!r} has no inverse")


class UnknownTransform(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown transform {self.name!r}; known: {', '.join(transform_names())}"


_TRANSFORMS: dict[str, type[Transform]] = {}


def register_transform(name: str, cls: type[Transform]) -> type[Transform]:
    if not (isinstance(cls, type) and issubclass(cls, Transform)):
        raise TypeError(f"transform {name!r} must be a Transform subclass, not {cls!r}")
    if cls.name != name:
        cls.name = name
    _TRANSFORMS[name] = cls
    return cls


def get_transform(name: str) -> type[Transform]:
    _load_builtins()
    try:
        return _TRANSFORMS[name]
    except KeyError:
        raise UnknownTransform(name) from None


def transform_names() -> list[str]:
    _load_builtins()
    return sorted(_TRANSFORMS)


def _load_builtins() -> None:
    from crmsync.plugins import load_plugins

    from . import transforms  # noqa: F401  (registers the built-ins on first use)

    load_plugins()  # a plugin's transforms register the same way, once per process
