"""The one escape hatch for what a connector's YAML cannot say: plugins found by entry point.

A plugin is an installed Python distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."crmsync.plugins"]
    mycrm = "mycrm_plugin:setup"

``setup(registry)`` receives a :class:`PluginRegistry` and registers paginators, writers and
transforms through it, with the same ``register_*`` functions crmsync's own built-ins use, so
``crmsync validate`` lists them among the allowed types and checks their keys against the JSON
Schema the plugin gives. Plugins load once per process, the first time a spec, a transform or a
writer is looked up. A plugin that fails to load stops with its name and the error: nothing is
skipped silently.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

from crmsync.errors import UserError

GROUP = "crmsync.plugins"


class Setup(Protocol):
    def __call__(self, registry: PluginRegistry) -> None: ...


@dataclass
class PluginRegistry:
    """What a plugin may add. Every method registers with crmsync's own registry."""

    plugin: str
    added: list[tuple[str, str]] = field(default_factory=list)  # (kind, name), for messages and tests

    def transform(self, name: str, cls: type) -> None:
        """A mapping transform: a :class:`crmsync.mapping.registry.Transform` subclass with its inverse."""
        from crmsync.mapping.registry import register_transform

        register_transform(name, cls)
        self.added.append(("transform", name))

    def writer(self, name: str, factory: Callable[..., Any], *, description: str,
               properties: dict[str, Any] | None = None, required: tuple[str, ...] | list[str] = ()) -> None:
        """A write call kind (``type: name`` in create/update/delete): ``factory(owner, kind, call)``
        returns a :class:`crmsync.push.writer.KindWriter`; ``properties`` is the JSON Schema of its keys."""
        from crmsync.push.writer import register_writer
        from crmsync.specs.registry import register_block_type

        register_block_type("write_call", name, description=description, properties=properties, required=required)
        register_writer(name, factory)
        self.added.append(("writer", name))

    def paginator(self, name: str, reader: Callable[..., Any], *, description: str,
                  properties: dict[str, Any] | None = None, required: tuple[str, ...] | list[str] = ()) -> None:
        """A connector paginator (``paginator.type: name``) read by ``reader`` (crmsync.read.source)."""
        from crmsync.read.source import register_reader
        from crmsync.specs.registry import register_block_type

        register_block_type("paginator", name, description=description, properties=properties, required=required)
        register_reader(name, reader)
        self.added.append(("paginator", name))


_lock = threading.Lock()
_loaded: dict[str, list[tuple[str, str]]] | None = None


def load_plugins() -> dict[str, list[tuple[str, str]]]:
    """Load every ``crmsync.plugins`` entry point once; returns what each one added."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        found: dict[str, list[tuple[str, str]]] = {}
        _loaded = found  # set first: a plugin that looks a transform up while it loads must not recurse
        for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
            registry = PluginRegistry(ep.name)
            try:
                setup = ep.load()
                if not callable(setup):
                    raise TypeError(f"{ep.value} is not a function taking the plugin registry")
                setup(registry)
            except Exception as exc:
                _loaded = None
                raise UserError(f"crmsync plugin {ep.name!r} ({ep.value}) failed to load: "
                                f"{type(exc).__name__}: {exc}. Fix or uninstall it "
                                f"(pip uninstall the package that provides it).") from exc
            found[ep.name] = registry.added
        return found
