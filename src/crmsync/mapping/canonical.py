"""The canonical schemas (``mappings/canonical/<entity>.schema.json``) and record validation."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from ..specs.problems import dotted
from .errors import Rejection
from .fastcheck import Unsupported, compile_schema


def load_canonical(project_dir: Path) -> dict[str, dict[str, Any]]:
    """``{entity: schema}`` for every ``mappings/canonical/<entity>.schema.json`` of a project."""
    folder = Path(project_dir) / "mappings" / "canonical"
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.schema.json"))}


def within_scale(value: int | float, places: int) -> bool:
    """``value`` has at most ``places`` decimals as written (repr: the shortest text that reads back as it)."""
    if type(value) is int:
        return True
    written = Decimal(repr(value))
    return not written.is_finite() or -written.as_tuple().exponent <= places  # inf: the bounds say why


def _x_scale(validator: Any, places: Any, instance: Any, schema: dict[str, Any]) -> Any:
    if type(instance) in (int, float) and not within_scale(instance, places):
        yield ValidationError(f"{instance!r} has more than {places} decimal places")


# ``x-scale`` (crmsync.canonical.tables: the DECIMAL column's scale) is checked, not rounded away by the store.
CanonicalValidator = validators.extend(Draft202012Validator, {"x-scale": _x_scale})


class CanonicalCheck:
    """Validates canonical records; the first problem becomes a :class:`Rejection` naming the field."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._validator = CanonicalValidator(schema)
        try:
            self._fast = compile_schema(schema)
        except Unsupported:
            self._fast = None

    def __call__(self, record: dict[str, Any], direction: str = "pull") -> None:
        if self._fast is not None and self._fast(record):
            return
        error = next(iter(self._validator.iter_errors(record)), None)
        if error is None:
            return
        field = dotted(error.absolute_path)
        if error.validator == "additionalProperties" and not field:
            field = next((k for k in record if k not in (error.schema.get("properties") or {})), "")
        raise Rejection(f"does not fit the canonical schema: {error.message}", field, direction)
