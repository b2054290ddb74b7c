"""Phones and e-mails: the CRM multi-value shapes, and value normalisation.

Canonical phones and e-mails are lists of ``{value, type}``. ``contact_points`` converts a CRM's
list of entries and its kind codes, with the entry's keys as parameters (``multitext`` and
``multifield`` are two common shapes of it, kept as shorthands); ``contact_properties`` builds the
same list from separate one-value properties (email, phone, mobilephone); ``phone`` and ``email`` then
normalise each value, on a single text or on such a list.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..context import Context
from ..phonelib import phonenumbers  # imported on the first phone parsed, not when transforms register
from ..phonevalid import is_valid
from ..registry import Transform

KINDS = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
         "description": "CRM kind code → canonical type; push uses the first code listed for a type"}
DEFAULT_KIND = {"type": "string",
                "description": "canonical type for CRM codes not listed (else the record is set aside)"}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_BLANKS = re.compile(r"\s+")


_PUNCTUATION = re.compile(r"[\s().\-]+")


def _digits(cleaned: str) -> str:
    """_PUNCTUATION removed from a cleaned text (its only blanks are single spaces) at a quarter of the
    cost of the regex; any other blank stays, and the text then takes the full parse."""
    return cleaned.replace(" ", "").replace("-", "").replace("(", "").replace(")", "").replace(".", "")
_INTERNATIONAL = re.compile(r"\+[1-9][0-9]{6,14}")


def _international(cleaned: str) -> str | None:
    """E.164 for a valid number already written in international form (+7 916 123-45-67), without
    ``phonenumbers.parse`` (60 % of the cost): country code by the prefix-free table, then the same
    validity check. Anything else — an invalid number, a national leading zero — takes the full parse.
    """
    digits = _digits(cleaned)
    if not _INTERNATIONAL.fullmatch(digits):
        return None
    for size in (1, 2, 3):
        code = int(digits[1:1 + size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[1 + size:]
            if national.startswith("0"):
                return None
            return digits if is_valid(code, national) else None
    return None


_DIGITS = re.compile(r"[0-9]{4,17}")


@lru_cache(maxsize=256)
def _national_plan(region: str) -> tuple[int, str] | None:
    """(country code, national prefix) of a region whose prefix is plain digits (RU: 7, "8")."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule:
        return None
    prefix = meta.national_prefix_for_parsing or ""
    return (meta.country_code, prefix) if prefix.isdigit() else None


def _national(cleaned: str, region: str | None) -> str | None:
    """E.164 for a valid number in the region's national form (RU: 8 916 123-45-67) without
    ``phonenumbers.parse``: the national prefix off, the country code on, the same validity check.
    Anything else takes the full parse, which answers the same for these (tested)."""
    plan = _national_plan(region) if region else None
    digits = _digits(cleaned)
    if plan is None or not _DIGITS.fullmatch(digits):
        return None
    code, prefix = plan
    national = digits[len(prefix):] if prefix and digits.startswith(prefix) else digits
    if not national or national.startswith("0"):
        return None
    return f"+{code}{national}" if is_valid(code, national) else None


# A number and a Russian extension label, as typed ("8 (495) 649-82-10 доб. 248"): a tenth of the numbers
# in a Russian account, each a full parse before.
_EXTENSION = re.compile(r"([0-9()+\- ]+?) ?доб\. ?([0-9]{1,7})")


def _with_extension(cleaned: str, region: str | None) -> str | None:
    """E.164 with ``;ext=`` for a valid number the fast paths take followed by ``доб. <digits>``, as
    the full parse gives it (phonenumbers splits the extension off at its label and parses the rest)."""
    found = _EXTENSION.fullmatch(cleaned)
    if found is None:
        return None
    main = found.group(1).strip()
    fast = _international(main) if main.startswith("+") else _national(main, region)
    return None if fast is None else f"{fast};ext={found.group(2)}"


# Parsing costs ~50 us. The cache serves what comes back within a run or two: the incremental
# overlap, a push's read-back, our writes read by the next pull. A full pull of distinct people hit
# it 3.5 % of the time, and 65,536 entries held ~18 MB (a 100k pull's memory grew by it).
@lru_cache(maxsize=8192)
def _e164(cleaned: str, region: str | None) -> str | None:
    fast = _international(cleaned) if cleaned.startswith("+") else _national(cleaned, region)
    if fast is not None:
        return fast
    if "доб" in cleaned:
        fast = _with_extension(cleaned, region)
        if fast is not None:
            return fast
    try:
        number = phonenumbers.parse(cleaned, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164


def _each(value: Any, fix: Any) -> Any:
    if isinstance(value, list):
        return [{**item, "value": fix(item["value"])} if isinstance(item, dict) else fix(item) for item in value]
    return fix(value)


class Phone(Transform):
    summary = "phone numbers in E.164 (+79161234567) when the number is valid, else the cleaned text as typed"
    # the regions phonenumbers has numbering plans for: `XX` would pass a pattern and parse nothing
    params = {"default_region": {"enum": sorted(phonenumbers.SUPPORTED_REGIONS),
                                 "description": "ISO country for numbers written without a country code, e.g. RU"}}

    def forward(self, value: Any, ctx: Context) -> Any:
        region = self.spec.get("default_region")

        def fix(text: Any) -> str:
            cleaned = " ".join(str(text).split())  # as _BLANKS.sub(" ", …).strip(), at a fifth of the cost
            e164 = _e164(cleaned, region)
            if e164 is None:
                ctx.note(f"{cleaned!r} is not a valid phone number; kept as written")
                return cleaned
            return e164

        return _each(value, fix)

    def inverse(self, value: Any, ctx: Context) -> Any:
        return value  # CRMs store any text; E.164 is the clearest to write back


class Email(Transform):
    summary = "e-mail addresses trimmed and lower-cased; an address without user@domain sets the record aside"

    def forward(self, value: Any, ctx: Context) -> Any:
        def fix(text: Any) -> str:
            address = str(text).strip().lower()
            if not _EMAIL.match(address):
                raise ctx.reject(f"{str(text).strip()!r} is not an e-mail address")
            return address

        return _each(value, fix)

    def inverse(self, value: Any, ctx: Context) -> Any:
        return self.forward(value, ctx)


def _kind(spec: dict[str, Any], code: Any, ctx: Context) -> str:
    kinds = spec["kinds"]
    if code in kinds:
        return kinds[code]
    if "default" in spec:
        return spec["default"]
    raise ctx.reject(f"kind {code!r} is not mapped (known: {', '.join(kinds)})")


def _code(spec: dict[str, Any], kind: str, ctx: Context) -> str:
    for code, canonical in spec["kinds"].items():
        if canonical == kind:
            return code
    raise ctx.reject(f"type {kind!r} has no CRM kind in this mapping (known: {', '.join(set(spec['kinds'].values()))})")


ENTRY_PARAMS = {
    "kinds": KINDS, "default": DEFAULT_KIND,
    "value_key": {"type": "string", "description": "the entry key that holds the value (default value)"},
    "kind_key": {"type": "string", "description": "the entry key that holds the kind code (default type)"},
    "kind_id_key": {"type": "string", "description": "an entry key holding the kind as an option id of the custom "
                                                      "field, read when kind_key is missing (e.g. enum_id)"},
    "deleted": {"type": "object", "additionalProperties": {"type": "string"},
                "description": "what marks an entry the CRM is deleting, skipped when read (e.g. {DELETE: Y})"},
    "replace": {"type": "object", "additionalProperties": False,
                "description": "an update adds entries rather than replacing them: send each entry the record has "
                               "now first, marked as `deleted` (its id under `id`)",
                "properties": {"id": {"type": "string", "description": "the entry key that holds its id"}}},
    "empty_as_null": {"type": "boolean",
                      "description": "write an empty list as null (a CRM that clears a field written as null); "
                                     "default false: []"},
}


class ContactPoints(Transform):
    summary = ("a CRM's list of phone / e-mail entries [{<value_key>, <kind_key>}] ⇄ [{value, type}], kind codes "
               "mapped by `kinds`")
    params = ENTRY_PARAMS
    required = ("kinds",)
    handles_none = True
    defaults: dict[str, Any] = {}

    def __init__(self, spec: Any) -> None:
        super().__init__({**self.defaults, **spec})

    def forward(self, value: Any, ctx: Context) -> Any:
        spec = self.spec
        value_key, kind_key, kind_id = spec.get("value_key", "value"), spec.get("kind_key", "type"), spec.get(
            "kind_id_key")
        deleted = spec.get("deleted") or {}
        out = []
        for item in value or ():
            if not isinstance(item, dict) or item.get(value_key) in (None, ""):
                continue
            if deleted and all(item.get(k) == v for k, v in deleted.items()):
                continue
            code = item.get(kind_key)
            if code is None and kind_id and ctx.custom is not None and item.get(kind_id) is not None:
                code = ctx.custom.options.get(str(item[kind_id]))
            out.append({"value": item[value_key], "type": _kind(spec, code, ctx)})
        return out

    def inverse(self, value: Any, ctx: Context) -> Any:
        spec = self.spec
        if not value and spec.get("empty_as_null") and not spec.get("replace"):
            return None
        value_key, kind_key = spec.get("value_key", "value"), spec.get("kind_key", "type")
        drop = []
        if spec.get("replace"):
            id_key = spec["replace"].get("id", "id")
            drop = [{id_key: e[id_key], **(spec.get("deleted") or {})}
                    for e in ctx.current or () if isinstance(e, dict) and e.get(id_key)]
        return drop + [{value_key: item["value"], kind_key: _code(spec, item["type"], ctx)} for item in value or ()]


class Multitext(ContactPoints):
    summary = "contact_points with value / enum_code entries (option ids as enum_id); an empty list is written as null"
    params = {"kinds": KINDS, "default": DEFAULT_KIND}
    defaults = {"value_key": "value", "kind_key": "enum_code", "kind_id_key": "enum_id", "empty_as_null": True}


class Multifield(ContactPoints):
    summary = ("contact_points with VALUE / VALUE_TYPE entries (push replaces all entries: the ones there are now "
               "go first with DELETE: Y)")
    params = {"kinds": KINDS, "default": DEFAULT_KIND}
    defaults = {"value_key": "VALUE", "kind_key": "VALUE_TYPE", "deleted": {"DELETE": "Y"}, "replace": {"id": "ID"}}


class ContactProperties(Transform):
    summary = ("separate properties, one value each (`from: [a.phone, a.mobile]`, or one path for one property) ⇄ "
               "[{value, type}]; push puts "
               "each entry in the free property of its type and sets aside more entries than there are properties")
    params = {"properties": {
        "type": "object", "minProperties": 1, "additionalProperties": {"type": "string"},
        "description": "property → canonical type, in the order of the field's `from` list (e.g. {phone: work, "
                       "mobilephone: mobile}); a type may be listed for several properties"}}
    required = ("properties",)
    handles_none = True

    def _values(self, value: Any, ctx: Context) -> list[Any]:
        names = list(self.spec["properties"])
        if len(names) == 1:  # `from` is then the property's own path, not a list
            if isinstance(value, (list, dict)):
                raise ctx.reject(f"expects the one value of property {names[0]}, got {value!r}")
            return [value]
        # The names only label the positions: a `from` of another length is a mapping error, said loudly
        if not isinstance(value, list) or len(value) != len(names):
            raise ctx.reject(f"expects the values of {len(names)} properties ({', '.join(names)}) from a `from` list "
                             f"of the same length, got {value!r}")
        return value

    def forward(self, value: Any, ctx: Context) -> Any:
        kinds = list(self.spec["properties"].values())
        return [{"value": v, "type": kind} for v, kind in zip(self._values(value, ctx), kinds, strict=True)
                if v not in (None, "")]

    def inverse(self, value: Any, ctx: Context) -> Any:
        slots = list(self.spec["properties"].items())
        out: list[Any] = [None] * len(slots)   # a property with no entry is cleared, as the record now says
        entries = list(value or ())
        now = [ctx.current] if len(slots) == 1 else ctx.current
        if not isinstance(now, list) or len(now) != len(slots):
            now = [None] * len(slots)
        # A value the CRM holds now stays in its property: two properties of one type never swap on a push
        for i, (_, kind) in enumerate(slots):
            held = next((e for e in entries if e["type"] == kind and now[i] not in (None, "") and e["value"] == now[i]),
                        None)
            if held is not None:
                out[i] = held["value"]
                entries.remove(held)
        for item in entries:
            free = next((i for i, (_, kind) in enumerate(slots) if kind == item["type"] and out[i] is None), None)
            if free is None:
                same = [name for name, kind in slots if kind == item["type"]]
                where = (f"its properties ({', '.join(same)}) already hold " + ", ".join(
                    repr(out[i]) for i, (_, kind) in enumerate(slots) if kind == item["type"])) if same else (
                    f"no property takes that type (properties: {', '.join(f'{n}: {k}' for n, k in slots)})")
                raise ctx.reject(f"cannot write {item['value']!r} ({item['type']}): {where}; the CRM keeps one value "
                                 "per property, so the field is set aside rather than losing an entry")
            out[free] = item["value"]
        return out[0] if len(slots) == 1 else out
