"""Where a CRM keeps custom field values inside a record, for reading and for writing: a connector
setting (``catalog.custom_fields.layout``), one of the registered layout types.

* ``values_array``: an array of entries under ``key``, each naming its field by id (``id_key``)
  or code (``code_key``) and holding its value under ``values_key`` (AmoCRM:
  ``custom_fields_values: [{field_id, field_code, values: […]}]``);
* ``flat_keys``: the field id is a key of the record, or of the object at ``under`` (Bitrix24:
  ``UF_CRM_…`` at the top level; HubSpot: ``properties.<name>``).

A layout YAML cannot say registers its own type, as the built-ins do::

    register_layout("mine", lambda block: MyLayout(block))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .catalog import CustomField


class CustomFieldLayout(Protocol):
    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        """The field's raw value in ``raw``; None when the record has no value for it."""

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        """Put ``value`` (already in the CRM's write shape) into the write ``payload``."""

    def where(self, payload: dict[str, Any], field: CustomField) -> list[tuple[str, ...]]:
        """The paths in a write ``payload`` that hold the field's value (how a CRM's error names it)."""


class ValuesArrayLayout:
    def __init__(self, block: dict[str, Any]) -> None:
        self.key = block.get("key", "custom_fields_values")
        self.id_key, self.code_key = block.get("id_key", "field_id"), block.get("code_key")
        self.values_key = block.get("values_key", "values")

    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        for entry in raw.get(self.key) or ():
            if entry.get(self.id_key) == field.id or (
                    self.code_key and field.code and entry.get(self.code_key) == field.code):
                return entry.get(self.values_key)
        return None

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        payload.setdefault(self.key, []).append({self.id_key: field.id, self.values_key: value})

    def where(self, payload: dict[str, Any], field: CustomField) -> list[tuple[str, ...]]:
        entries = payload.get(self.key)
        return [(self.key, str(n)) for n, e in enumerate(entries if isinstance(entries, list) else ())
                if isinstance(e, dict) and e.get(self.id_key) == field.id]


class FlatKeysLayout:
    def __init__(self, block: dict[str, Any]) -> None:
        self.under = block.get("under")

    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        holder = raw.get(self.under) if self.under else raw
        return holder.get(field.id) if isinstance(holder, dict) else None

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        (payload.setdefault(self.under, {}) if self.under else payload)[field.id] = value

    def where(self, payload: dict[str, Any], field: CustomField) -> list[tuple[str, ...]]:
        return [(self.under, str(field.id)) if self.under else (str(field.id),)]


class NoLayout:
    """A catalog made without one (a connector that declares no custom fields)."""

    def __init__(self, crm: str) -> None:
        self.crm = crm

    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        raise LookupError(f"connector {self.crm} declares no catalog.custom_fields.layout: "
                          f"custom field {field.name!r} cannot be read")

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        raise LookupError(f"connector {self.crm} declares no catalog.custom_fields.layout: "
                          f"custom field {field.name!r} cannot be written")

    def where(self, payload: dict[str, Any], field: CustomField) -> list[tuple[str, ...]]:
        return []


LayoutFactory = Callable[[dict[str, Any]], CustomFieldLayout]
_LAYOUTS: dict[str, LayoutFactory] = {}


def register_layout(name: str, factory: LayoutFactory) -> None:
    _LAYOUTS[name] = factory


def layout_types() -> list[str]:
    return sorted(_LAYOUTS)


def layout_from(block: dict[str, Any] | None, crm: str = "the connector") -> CustomFieldLayout:
    """The layout a connector's ``catalog.custom_fields.layout`` block describes."""
    if not block:
        return NoLayout(crm)
    try:
        return _LAYOUTS[block["type"]](block)
    except KeyError:
        raise LookupError(f"custom field layout type {block.get('type')!r} is not one of: "
                          f"{', '.join(layout_types())}") from None


register_layout("values_array", ValuesArrayLayout)
register_layout("flat_keys", FlatKeysLayout)
