"""``phonenumbers.is_valid_number`` for a number given as its country code and national significant
number, at a small part of the cost (issue 18: phones were ~half of mapping a contact, every number
distinct, so no cache could help).

phonenumbers answers by calling a Python function per number type (premium rate, toll free, …,
fixed line, mobile), each checking the number's length and then its pattern — ~20 pattern matches
and ~60 Python calls for a Russian mobile. Here the same rules are compiled once per region and
number length: the general pattern, then one pattern joining every type's pattern that allows the
length (``(?:a)|(?:b)`` matches the whole number exactly when one of them does). The choice of a
region for a code shared by several (+7: RU, KZ; +1: US, CA, …) follows ``region_code_for_number``
step by step. ``tests/unit/mapping/test_phonevalid.py`` holds it equal to phonenumbers on every
region's example numbers, their neighbours and random digits.
"""

from __future__ import annotations

import re
from typing import Any

from .phonelib import phonenumbers

# phonenumbers' _number_type_helper order; mobile comes last, and only when its pattern differs from fixed line's.
_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
          "fixed_line")
_NON_GEO = "001"


def _fits(desc: Any, length: int) -> bool:
    """phonenumbers' _is_number_matching_desc before the pattern: the desc exists and allows the length."""
    if desc is None or not desc.national_number_pattern:
        return False
    lengths = desc.possible_length
    return not (len(lengths) > 0 and length not in lengths)


class _Typed:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` for one region's metadata."""

    __slots__ = ("meta", "by_length")

    def __init__(self, meta: Any) -> None:
        self.meta = meta
        self.by_length: dict[int, Any] = {}

    def _compile(self, length: int) -> Any:
        meta = self.meta
        if not _fits(meta.general_desc, length):
            return None
        descs = [getattr(meta, name) for name in _TYPES]
        if not meta.same_mobile_and_fixed_line_pattern:
            descs.append(meta.mobile)
        patterns = [d.national_number_pattern for d in descs if _fits(d, length)]
        if not patterns:
            return None
        general = re.compile(meta.general_desc.national_number_pattern).fullmatch
        anyof = re.compile("|".join(f"(?:{p})" for p in patterns)).fullmatch
        return general, anyof

    def __call__(self, nsn: str) -> bool:
        length = len(nsn)
        try:
            rule = self.by_length[length]
        except KeyError:
            rule = self.by_length[length] = self._compile(length)
        return rule is not None and rule[0](nsn) is not None and rule[1](nsn) is not None


_TYPED: dict[int, _Typed] = {}  # by id() of the metadata object, which phonenumbers keeps for the process


def _typed(meta: Any) -> _Typed:
    found = _TYPED.get(id(meta))
    if found is None or found.meta is not meta:
        found = _TYPED[id(meta)] = _Typed(meta)
    return found


def _final(code: int, region: str) -> Any:
    """is_valid_number_for_region's checks before the number type: None when it answers False."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region.upper())
    if meta is None:
        return None
    if region != _NON_GEO and code != phonenumbers.country_code_for_valid_region(region):
        return None
    return _typed(meta)


class _Plan:
    """How ``is_valid_number`` decides for one country code."""

    __slots__ = ("single", "steps")

    def __init__(self, code: int) -> None:
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        self.single: Any = None
        self.steps: list[tuple[Any, Any, Any]] = []
        if regions is None:
            return
        if len(regions) == 1:
            self.single = _final(code, regions[0]) or False
            return
        for region in regions:  # _region_code_for_number_from_list
            meta = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
            if meta is None:
                continue
            leading = re.compile(meta.leading_digits).match if meta.leading_digits is not None else None
            self.steps.append((leading, _typed(meta), _final(code, region)))

    def __call__(self, nsn: str) -> bool:
        if self.single is not None:
            return bool(self.single) and self.single(nsn)
        for leading, typed, final in self.steps:
            if (leading(nsn) is not None) if leading is not None else typed(nsn):
                return final is not None and final(nsn)
        return False


_PLANS: dict[int, _Plan] = {}


def is_valid(code: int, nsn: str) -> bool:
    """``phonenumbers.is_valid_number(PhoneNumber(country_code=code, national_number=int(nsn)))`` for
    ``nsn`` of digits without a leading zero (the number's national significant number)."""
    plan = _PLANS.get(code)
    if plan is None:
        plan = _PLANS[code] = _Plan(code)
    return plan(nsn)
