"""Where a CRM keeps custom field values inside a record, for reading and for writing.

AmoCRM nests them in a ``custom_fields_values`` array; Bitrix24 puts each user field at the top
level (``UF_CRM_…``). A CRM with another layout registers its own::

    register_layout("mycrm", MyLayout())
"""

from __future__ import annotations

from typing import Any, Protocol

from .catalog import CustomField


class CustomFieldLayout(Protocol):
    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        """The field's raw value in ``raw``; None when the record has no value for it."""

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        """Put ``value`` (already in the CRM's write shape) into the write ``payload``."""


class ValuesArrayLayout:
    """AmoCRM: ``custom_fields_values: [{field_id, field_code, values: […]}]``; the value is ``values``."""

    key = "custom_fields_values"

    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        for entry in raw.get(self.key) or ():
            if entry.get("field_id") == field.id or (field.code and entry.get("field_code") == field.code):
                return entry.get("values")
        return None

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        payload.setdefault(self.key, []).append({"field_id": field.id, "values": value})


class FlatKeysLayout:
    """Bitrix24: the field id is a top-level key of the record (``UF_CRM_1736400000100``)."""

    def read(self, raw: dict[str, Any], field: CustomField) -> Any:
        return raw.get(field.id)

    def write(self, payload: dict[str, Any], field: CustomField, value: Any) -> None:
        payload[field.id] = value


_LAYOUTS: dict[str, CustomFieldLayout] = {"amocrm": ValuesArrayLayout(), "bitrix24": FlatKeysLayout()}


def register_layout(crm: str, layout: CustomFieldLayout) -> None:
    _LAYOUTS[crm] = layout


def layout_for(crm: str) -> CustomFieldLayout:
    try:
        return _LAYOUTS[crm]
    except KeyError:
        raise LookupError(f"no custom field layout for CRM {crm!r}; known: {', '.join(sorted(_LAYOUTS))}") from None
