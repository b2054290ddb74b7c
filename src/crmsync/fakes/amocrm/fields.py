"""Custom fields: their metadata, how their values read, and how written values are checked.

Phone, e-mail and position are not columns in AmoCRM but predefined custom fields with a
``field_code``; the world's neutral custom fields become account fields with ids and enum ids.
One :class:`FieldBook` per entity type resolves a written ``field_id``/``field_code`` and turns a
written value list into the stored (read) shape, collecting errors at AmoCRM's dotted paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import INVALID_TYPE, NOT_SUPPORTED_CHOICE, ItemErrors

ENUM_TYPES = ("select", "multiselect", "radiobutton", "multitext")


@dataclass
class Enum:
    id: int
    value: str
    sort: int


@dataclass
class FieldDef:
    id: int
    name: str
    type: str
    entity_type: str
    sort: int
    code: str | None = None
    enums: list[Enum] = field(default_factory=list)
    is_predefined: bool = False
    key: str | None = None  # the world's neutral key, for seeding

    def enum_by_id(self, enum_id: Any) -> Enum | None:
        return next((e for e in self.enums if e.id == enum_id), None)

    def enum_by_value(self, value: Any) -> Enum | None:
        return next((e for e in self.enums if e.value == value), None)

    def metadata(self, base_url: str, account_id: int) -> dict[str, Any]:
        href = f"{base_url}/api/v4/{self.entity_type}/custom_fields/{self.id}"
        return {
            "id": self.id, "name": self.name, "type": self.type, "account_id": account_id, "code": self.code,
            "sort": self.sort, "is_api_only": False,
            "enums": [{"id": e.id, "value": e.value, "sort": e.sort} for e in self.enums] or None,
            "group_id": None, "required_statuses": [], "is_deletable": not self.is_predefined,
            "is_predefined": self.is_predefined, "entity_type": self.entity_type, "remind": None,
            "triggers": [], "currency": None, "hidden_statuses": [], "_links": {"self": {"href": href}},
        }

    def read_value(self, value: Any, enum: Enum | None = None) -> dict[str, Any]:
        """One stored value in the shape reads return (selects carry enum_id, multitext its code)."""
        if self.type == "multitext":
            assert enum is not None
            return {"value": value, "enum_id": enum.id, "enum_code": enum.value}
        if self.type in ("select", "multiselect", "radiobutton"):
            assert enum is not None
            return {"value": enum.value, "enum_id": enum.id, "enum_code": None}
        if self.type == "numeric":
            return {"value": _numeric_text(value)}
        return {"value": value}

    def entry(self, values: list[dict[str, Any]]) -> dict[str, Any]:
        return {"field_id": self.id, "field_name": self.name, "field_code": self.code, "field_type": self.type,
                "values": values}


def _numeric_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class FieldBook:
    """The custom fields of one entity type, by id and by code."""

    def __init__(self, fields: list[FieldDef]) -> None:
        self.fields = list(fields)
        self.by_id = {f.id: f for f in fields}
        self.by_code = {f.code: f for f in fields if f.code}
        self.by_key = {f.key: f for f in fields if f.key}

    def apply(self, current: list[dict[str, Any]] | None, written: Any, errors: ItemErrors) -> list | None:
        """The new ``custom_fields_values`` after writing ``written`` over ``current``.

        A written field replaces all of its values, ``"values": null`` clears it, fields not in the
        write keep theirs. Errors are added to ``errors``; the result is then meaningless.
        """
        if not isinstance(written, list):
            errors.type_error("custom_fields_values", "array")
            return current
        merged = {e["field_id"]: e for e in current or []}
        for n, item in enumerate(written):
            path = f"custom_fields_values.{n}"
            if not isinstance(item, dict):
                errors.type_error(path, "array")
                continue
            fdef = self._resolve(item, path, errors)
            if fdef is None:
                continue
            raw = item.get("values")
            if raw is None:
                merged.pop(fdef.id, None)
                continue
            if not isinstance(raw, list):
                errors.type_error(f"{path}.values", "array")
                continue
            values = [v for m, one in enumerate(raw)
                      if (v := self._value(fdef, one, f"{path}.values.{m}", errors)) is not None]
            if values:
                merged[fdef.id] = fdef.entry(values)
            else:
                merged.pop(fdef.id, None)
        # Reads list fields in the account's field order, whatever order they were written in.
        order = {f.id: i for i, f in enumerate(self.fields)}
        out = sorted(merged.values(), key=lambda e: order.get(e["field_id"], 1 << 30))
        return out or None

    def _resolve(self, item: dict[str, Any], path: str, errors: ItemErrors) -> FieldDef | None:
        if "field_id" in item and item["field_id"] is not None:
            fid = item["field_id"]
            if not _is_int(fid):
                errors.type_error(f"{path}.field_id", "int")
                return None
            fdef = self.by_id.get(fid)
            if fdef is None:
                errors.add(NOT_SUPPORTED_CHOICE, f"{path}.field_id")
            return fdef
        code = item.get("field_code")
        if isinstance(code, str) and code:
            fdef = self.by_code.get(code.upper())
            if fdef is None:
                errors.add(NOT_SUPPORTED_CHOICE, f"{path}.field_code")
            return fdef
        errors.add(NOT_SUPPORTED_CHOICE, f"{path}.field_id", "Either field_id or field_code is required.")
        return None

    def _value(self, fdef: FieldDef, one: Any, path: str, errors: ItemErrors) -> dict[str, Any] | None:
        if not isinstance(one, dict):
            errors.type_error(path, "array")
            return None
        value = one.get("value")
        if fdef.type == "multitext":
            enum = self._pick_enum(fdef, one, path, errors, default=fdef.enums[0] if fdef.enums else None)
            if enum is None:
                return None
            if not isinstance(value, str) or not value.strip():
                errors.type_error(f"{path}.value", "string")
                return None
            return fdef.read_value(value, enum)
        if fdef.type in ("select", "multiselect", "radiobutton"):
            enum = self._pick_enum(fdef, one, path, errors, default=None)
            return fdef.read_value(None, enum) if enum else None
        if fdef.type == "numeric":
            if _is_int(value) or isinstance(value, float):
                return fdef.read_value(value)
            if isinstance(value, str):
                try:
                    float(value.replace(",", "."))
                except ValueError:
                    pass
                else:
                    return fdef.read_value(value.replace(",", "."))
            errors.add(INVALID_TYPE, f"{path}.value", "This value should be of type numeric.")
            return None
        if fdef.type in ("date", "date_time", "birthday"):
            if _is_int(value) or (isinstance(value, str) and value.lstrip("-").isdigit()):
                return fdef.read_value(int(value))
            errors.type_error(f"{path}.value", "int")
            return None
        if fdef.type == "checkbox":
            if isinstance(value, bool):
                return fdef.read_value(value)
            errors.type_error(f"{path}.value", "bool")
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = _numeric_text(value)
        if not isinstance(value, str):
            errors.type_error(f"{path}.value", "string")
            return None
        return fdef.read_value(value)

    @staticmethod
    def _pick_enum(fdef: FieldDef, one: dict[str, Any], path: str, errors: ItemErrors,
                   default: Enum | None) -> Enum | None:
        if one.get("enum_id") is not None:
            enum = fdef.enum_by_id(one["enum_id"])
            if enum is None:
                errors.add(NOT_SUPPORTED_CHOICE, f"{path}.enum_id")
            return enum
        if one.get("enum_code") is not None:
            code = one["enum_code"]
            enum = fdef.enum_by_value(code.upper() if isinstance(code, str) else code) \
                if fdef.type == "multitext" else None
            if enum is None:
                errors.add(NOT_SUPPORTED_CHOICE, f"{path}.enum_code")
            return enum
        if fdef.type != "multitext" and one.get("value") is not None:
            enum = fdef.enum_by_value(one["value"])
            if enum is None:
                errors.add(NOT_SUPPORTED_CHOICE, f"{path}.value")
            return enum
        if default is None:
            errors.add(NOT_SUPPORTED_CHOICE, f"{path}.enum_id", "An enum_id or value is required.")
        return default
