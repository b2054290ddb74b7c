"""Custom field values: AmoCRM's ``values`` lists and Bitrix24's list (enumeration) user fields.

Select options are canonical by their label (``"Рекомендация"``), never by the account's option
id, so a mapping and the canonical data mean the same in every account.
"""

from __future__ import annotations

from typing import Any

from ..catalog import CustomField
from ..context import Context
from ..registry import Transform


def _field(ctx: Context) -> CustomField:
    if ctx.custom is None:
        raise ctx.reject("this transform reads a custom field: give `from: {custom_field: …}`")
    return ctx.custom


def _label(ctx: Context, option_id: Any, fallback: Any = None) -> str:
    field = _field(ctx)
    label = field.options.get(str(option_id), fallback)
    if label is None:
        raise ctx.reject(f"option {option_id!r} is not an option of {field.name!r}; refresh the CRM metadata")
    return label


def _option(ctx: Context, label: Any) -> Any:
    field = _field(ctx)
    option = field.option_id(label)
    if option is None:
        raise ctx.reject(f"{label!r} is not an option of {field.name!r} (allowed: {', '.join(field.options.values())})")
    return option


class CfValue(Transform):
    summary = "a custom field whose values are a list of {value}: values[0].value ⇄ [{value}]"
    needs_custom_field = True

    def forward(self, value: Any, ctx: Context) -> Any:
        return value[0].get("value") if value else None

    def inverse(self, value: Any, ctx: Context) -> Any:
        return [{"value": value}]


class CfEnum(Transform):
    summary = "a single-choice custom field (select, radio): the chosen option's label ⇄ [{enum_id}]"
    needs_custom_field = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if not value:
            return None
        return _label(ctx, value[0].get("enum_id"), value[0].get("value"))

    def inverse(self, value: Any, ctx: Context) -> Any:
        return [{"enum_id": _option(ctx, value)}]


class CfEnums(Transform):
    summary = "a multiple-choice custom field: the list of chosen labels ⇄ [{enum_id}, …] (none chosen: [])"
    needs_custom_field = True
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        return [_label(ctx, item.get("enum_id"), item.get("value")) for item in value or ()]

    def inverse(self, value: Any, ctx: Context) -> Any:
        return [{"enum_id": _option(ctx, label)} for label in value] if value else None


class UfEnum(Transform):
    summary = ("a list (enumeration) field holding option ids: option id(s) ⇄ label(s); a multiple field gives a "
               "list ([] when empty)")
    needs_custom_field = True
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if _field(ctx).multiple:
            items = value if isinstance(value, list) else [value]
            return [_label(ctx, v) for v in items if v not in (None, "", False)]
        if isinstance(value, list):
            value = value[0] if value else None
        return None if value in (None, "", False) else _label(ctx, value)

    def inverse(self, value: Any, ctx: Context) -> Any:
        if _field(ctx).multiple:
            return [_option(ctx, label) for label in value or ()]
        return None if value is None else _option(ctx, value)
