"""REST methods by name, and what a handler receives and returns.

Each ``methods_*`` module registers its handlers with :func:`method`; the app and ``batch`` look
them up here, so a method behaves the same called directly or as a batch sub-command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import ApiError

if TYPE_CHECKING:
    from .app import FakeBitrix24


class Params:
    """Top-level parameters with case-insensitive names (``FILTER`` and ``filter`` are the same)."""

    def __init__(self, raw: dict[str, Any] | None) -> None:
        self.raw = dict(raw or {})
        self._by_lower = {str(k).lower(): v for k, v in self.raw.items()}

    def get(self, name: str, default: Any = None) -> Any:
        return self._by_lower.get(name.lower(), default)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._by_lower

    def object(self, name: str) -> dict[str, Any]:
        """A parameter that must be a PHP array (JSON object, or a list read as 0..n-1 keys)."""
        value = self.get(name)
        if value is None or value == "":
            return {}
        if isinstance(value, list):
            return {str(i): v for i, v in enumerate(value)}
        if not isinstance(value, dict):
            raise ApiError(400, "", f"Parameter '{name}' must be array.")
        return value


@dataclass
class Call:
    app: FakeBitrix24
    method: str
    params: Params
    user_id: int


@dataclass
class Result:
    """A method's ``result`` plus the list extras (``total``, ``next``) for the envelope."""

    result: Any
    total: int | None = None
    next: int | None = None


Handler = Callable[[Call], Result]
METHODS: dict[str, Handler] = {}


def method(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            METHODS[name.lower()] = fn
        return fn
    return register


def lookup(name: str) -> Handler | None:
    _load()
    return METHODS.get(name.lower())


_loaded = False


def _load() -> None:
    """Import the method modules once; they register themselves on import."""
    global _loaded
    if not _loaded:
        from . import batch, methods_crm, methods_item, methods_misc, methods_tasks  # noqa: F401
        _loaded = True
