"""Plain value conversions: text, numbers, enum maps, flags, and a few shape helpers."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from decimal import Context as DecimalContext
from typing import Any

from ..context import Context
from ..raw_values import exact_decimal, text_problem
from ..registry import Transform

# Wide enough for any number a JSON text can spell out in a CRM field: the default 28 digits made
# quantize() raise InvalidOperation on 1e26, and that stopped the whole run.
_WIDE = DecimalContext(prec=400, Emax=999, Emin=-999)
_DOUBLE_EXACT = 2**53  # every integer up to here is exact as a double

SCALAR = {"type": ["string", "number", "integer", "boolean", "null"]}


class Text(Transform):
    summary = "text with surrounding blanks removed; an empty text becomes null"
    params = {"write_none_as": {"type": "string",
                                "description": "what push sends for null (a CRM that wants \"\" in its name fields)"}}
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if value is None:
            return None
        if isinstance(value, dict | list):
            raise ctx.reject(f"expected text, got {type(value).__name__} {value!r}")
        text = str(value).strip()
        problem = text_problem(text)
        if problem:
            raise ctx.reject(f"the text {problem}")
        return text or None

    def inverse(self, value: Any, ctx: Context) -> Any:
        if value is None:
            return self.spec.get("write_none_as")
        if not isinstance(value, str):
            raise ctx.reject(f"expected text, got {type(value).__name__} {value!r}")
        problem = text_problem(value)
        if problem:
            raise ctx.reject(f"the text {problem}")
        return value


class Number(Transform):
    summary = "a decimal number (from a number or numeric text), rounded to `places`"
    params = {
        "places": {"type": "integer", "minimum": 0, "maximum": 6, "default": 2,
                   "description": "decimal places kept (money: 2)"},
        "write_as": {"enum": ["number", "integer", "string"], "default": "number",
                     "description": "how push sends it: an integer, or a string for a CRM that keeps money as text"},
    }

    def forward(self, value: Any, ctx: Context) -> Any:
        if isinstance(value, dict | list):
            raise ctx.reject(f"expected a number, got {type(value).__name__} {value!r}")
        number = exact_decimal(value)
        if number is None:
            raise ctx.reject(f"{value!r} is not a number")
        places = self.spec.get("places", 2)
        rounded = number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=_WIDE)
        return as_json_number(rounded)

    def inverse(self, value: Any, ctx: Context) -> Any:
        number = exact_decimal(value)
        if number is None:
            raise ctx.reject(f"{value!r} is not a number")
        how, places = self.spec.get("write_as", "number"), self.spec.get("places", 2)
        if how == "integer":
            places = 0
        exponent = number.normalize(_WIDE).as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            # The CRM would round it: what it keeps would not be what was written.
            kept = "whole numbers" if places == 0 else f"{places} decimal places"
            raise ctx.reject(f"{value} has more decimals than this CRM field keeps ({kept})")
        if how == "integer":
            return int(number)
        if how == "string":
            return f"{number:.{places}f}"
        exact = as_json_number(number)
        if isinstance(exact, Decimal):
            raise ctx.reject(f"{value} cannot be sent as a JSON number without losing digits")
        return exact


def as_json_number(number: Decimal) -> Any:
    """An exact Decimal as the Python number JSON writes exactly: an int when whole (any size), a
    float when the double reads back as the same decimal, else the Decimal itself (the canonical
    check then decides whether the column can keep it)."""
    if number == number.to_integral_value(context=_WIDE):
        if abs(number) <= _DOUBLE_EXACT:
            return float(number)  # canonical numbers are doubles; whole ones compare equal as ints
        return int(number)
    as_float = float(number)
    if abs(number) <= _DOUBLE_EXACT and Decimal(repr(as_float)) == number:
        return as_float
    return number


class Map(Transform):
    summary = "CRM value ⇄ canonical value by a table; push uses the first CRM value listed for a canonical one"
    params = {
        "values": {"type": "object", "minProperties": 1, "additionalProperties": SCALAR,
                   "description": "CRM value (as text) → canonical value"},
        "default": {**SCALAR,
                    "description": "canonical value for CRM values not listed (else the record is set aside)"},
    }
    required = ("values",)

    def forward(self, value: Any, ctx: Context) -> Any:
        table = self.spec["values"]
        key = str(value)
        if key in table:
            return table[key]
        if "default" in self.spec:
            return self.spec["default"]
        raise ctx.reject(f"{value!r} is not one of the mapped values ({', '.join(table)})")

    def inverse(self, value: Any, ctx: Context) -> Any:
        for raw, canonical in self.spec["values"].items():
            if canonical == value:
                return raw
        raise ctx.reject(f"{value!r} has no CRM value in this mapping")


class Flag(Transform):
    summary = "true when the CRM value equals `set`, else false; push writes `set` or `unset`"
    params = {"set": {**SCALAR, "description": "the CRM value meaning true"},
              "unset": {**SCALAR, "description": "the CRM value push writes for false"}}
    required = ("set", "unset")
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        return value is not None and str(value) == str(self.spec["set"])

    def inverse(self, value: Any, ctx: Context) -> Any:
        return self.spec["set"] if value else self.spec["unset"]


class Join(Transform):
    summary = "several CRM values joined into one text (pull only: a joined text cannot be split reliably)"
    params = {"separator": {"type": "string", "default": " ", "description": "put between non-empty parts"}}
    has_inverse = False

    def forward(self, value: Any, ctx: Context) -> Any:
        parts = [str(v).strip() for v in (value if isinstance(value, list) else [value]) if v is not None]
        return self.spec.get("separator", " ").join(p for p in parts if p) or None


class OnlyIf(Transform):
    summary = "from two CRM values [condition, value]: the value when the condition is one of `values`, else null"
    params = {"values": {"type": "array", "minItems": 1, "items": SCALAR,
                         "description": "condition values that let the value through"}}
    required = ("values",)
    has_inverse = False
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if not isinstance(value, list) or len(value) != 2:
            raise ctx.reject("only_if needs `from` to list two CRM fields: [condition, value]")
        condition, result = value
        return result if condition is not None and str(condition) in {str(v) for v in self.spec["values"]} else None


class First(Transform):
    summary = "the first item of a CRM list (or its `key`); push writes a one-item list"
    params = {"key": {"type": "string", "description": "take this key of the first item (e.g. id)"}}
    handles_none = True

    def forward(self, value: Any, ctx: Context) -> Any:
        if not value:
            return None
        item = value[0] if isinstance(value, list) else value
        key = self.spec.get("key")
        return item.get(key) if key and isinstance(item, dict) else item

    def inverse(self, value: Any, ctx: Context) -> Any:
        if value is None:
            return []
        key = self.spec.get("key")
        return [{key: value}] if key else [value]
