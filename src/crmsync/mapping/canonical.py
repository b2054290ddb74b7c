"""The canonical schemas (``mappings/canonical/<entity>.schema.json``) and record validation."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from ..specs.problems import dotted
from .errors import Rejection
from .fastcheck import Unsupported, compile_schema


def load_canonical(project_dir: Path) -> dict[str, dict[str, Any]]:
    """``{entity: schema}`` for every ``mappings/canonical/<entity>.schema.json`` of a project."""
    folder = Path(project_dir) / "mappings" / "canonical"
    return {p.name.removesuffix(".schema.json"): json.loads(p.read_text(encoding="utf-8"))
            for p in sorted(folder.glob("*.schema.json"))}


DOUBLE_EXACT = 2**53  # every integer up to here, and every decimal of up to 15 digits below it, is exact


def within_scale(value: int | float | Decimal, places: int) -> bool:
    """``value`` has at most ``places`` decimals as written (repr: the shortest text that reads back as it)."""
    if type(value) is int:
        return True
    written = value if isinstance(value, Decimal) else Decimal(repr(value))
    return not written.is_finite() or -written.normalize().as_tuple().exponent <= places  # inf: the bounds say why


def _x_scale(validator: Any, places: Any, instance: Any, schema: dict[str, Any]) -> Any:
    from jsonschema import ValidationError

    if type(instance) in (int, float, Decimal) and not within_scale(instance, places):
        yield ValidationError(f"{instance!r} has more than {places} decimal places")


@cache
def canonical_validator() -> Any:
    """The validator class; built on first use, so a run that validates no record does not import jsonschema."""
    from jsonschema import Draft202012Validator, validators

    # ``x-scale`` (crmsync.canonical.tables: the DECIMAL column's scale) is checked, not rounded away by the store.
    return validators.extend(Draft202012Validator, {"x-scale": _x_scale})


def __getattr__(name: str) -> Any:
    if name == "CanonicalValidator":  # the old module-level name (conflict_review and plugins import it)
        return canonical_validator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class CanonicalCheck:
    """Validates canonical records; the first problem becomes a :class:`Rejection` naming the field.

    Beyond the schema's own rules, every number must be one its column keeps exactly. A number
    property with ``minimum``/``maximum`` has a column sized by them (the schema says so); any other
    number — and every number inside ``custom`` — is stored and read back as a double, which keeps
    integers up to 2^53 and decimals whose shortest text reads back the same. A value past that
    would change silently in the store (12345678901234567890 becomes 12345678901234567168).
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = canonical_validator()(schema)
        try:
            self._fast = compile_schema(schema)
        except Unsupported:
            self._fast = None
        props = schema.get("properties") or {}
        self._doubles = [name for name, prop in props.items() if _is_number(prop)
                         and not ({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & set(prop))]
        self._bounded = [name for name, prop in props.items() if _is_number(prop) and name not in self._doubles]
        self._custom = "custom" in props

    def __call__(self, record: dict[str, Any], direction: str = "pull") -> None:
        for name in self._bounded:
            value = record.get(name)
            # jsonschema compares a bound with ``<=``, which raises for a Decimal NaN instead of failing
            if isinstance(value, Decimal) and not value.is_finite():
                raise Rejection(f"{value} is not a number", name, direction)
        self._check_schema(record, direction)
        for name in self._doubles:
            problem = double_problem(record.get(name))
            if problem:
                raise Rejection(problem, name, direction)
        for name in self._bounded:
            value = record.get(name)
            if isinstance(value, float) and not math.isfinite(value):
                raise Rejection(f"{value} is not a number", name, direction)
        custom = record.get("custom") if self._custom else None
        if isinstance(custom, dict):
            for key, value in custom.items():
                for item in value if isinstance(value, list) else (value,):
                    problem = double_problem(item)
                    if problem:
                        raise Rejection(problem, f"custom.{key}", direction)

    def _check_schema(self, record: dict[str, Any], direction: str) -> None:
        if self._fast is not None and self._fast(record):
            return
        error = next(iter(self._validator.iter_errors(record)), None)
        if error is None:
            return
        field = dotted(error.absolute_path)
        if error.validator == "additionalProperties" and not field:
            field = next((k for k in record if k not in (error.schema.get("properties") or {})), "")
        raise Rejection(f"does not fit the canonical schema: {error.message}", field, direction)


def _is_number(prop: dict[str, Any]) -> bool:
    kinds = prop.get("type")
    return "number" in (kinds if isinstance(kinds, list) else [kinds]) or "integer" in (
        kinds if isinstance(kinds, list) else [kinds])


def double_problem(value: Any) -> str | None:
    """Why a number cannot be kept exactly as a double (None if it can, or if it is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value} is not a number"
    if isinstance(value, Decimal) and not value.is_finite():
        return f"{value} is not a number"
    if abs(value) > DOUBLE_EXACT:
        return (f"{value} is beyond what the store keeps exactly (at most {DOUBLE_EXACT:,} as a whole number; "
                "a larger one would be rounded)")
    if isinstance(value, Decimal) and Decimal(repr(float(value))) != value:
        return f"{value} has more significant digits than the store keeps (about 15)"
    return None
