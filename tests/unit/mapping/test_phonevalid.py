"""``phonevalid.is_valid`` answers as ``phonenumbers.is_valid_number`` does, for every country code:
on each region's example numbers (valid by construction), their one-digit neighbours and one digit
longer or shorter (mostly invalid, close to the patterns), random digits, and hypothesis's numbers."""

from __future__ import annotations

import random

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from crmsync.mapping.phonevalid import is_valid

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip", "personal_number", "pager",
          "uan", "voicemail")


def _reference(code: int, nsn: str) -> bool:
    return phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=code, national_number=int(nsn)))


def _examples() -> list[tuple[int, str]]:
    out = []
    for code in CODES:
        for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
            meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
            for name in _TYPES:
                desc = getattr(meta, name, None) if meta is not None else None
                if desc is not None and desc.example_number:
                    out.append((code, desc.example_number))
    return out


def _cases() -> list[tuple[int, str]]:
    rng = random.Random(18)
    cases = []
    for code, example in _examples():
        cases.append((code, example))
        for _ in range(3):
            digits = list(example)
            digits[rng.randrange(len(digits))] = str(rng.randrange(10))
            text = "".join(digits) + (str(rng.randrange(10)) if rng.random() < 0.3 else "")
            cases.append((code, text[:-1] if rng.random() < 0.3 else text))
    for code in [*CODES, 0, 999, 3, 42]:  # and codes no region has
        for _ in range(10):
            cases.append((code, str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10))
                                                                    for _ in range(rng.randrange(2, 16)))))
    return [(code, text.lstrip("0")) for code, text in cases if text.lstrip("0")]


def test_is_valid_answers_as_phonenumbers_on_examples_neighbours_and_random_digits() -> None:
    cases = _cases()
    got = [is_valid(code, nsn) for code, nsn in cases]
    assert got == [_reference(code, nsn) for code, nsn in cases]
    assert 0.1 < sum(got) / len(got) < 0.9, "both answers must be exercised"


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from([7, 1, 44, 49, 375, 39, 33, 86, 61, 800, 882, 979]),
       nsn=st.from_regex(r"[1-9][0-9]{3,15}", fullmatch=True))
def test_is_valid_answers_as_phonenumbers_on_random_numbers(code: int, nsn: str) -> None:
    assert is_valid(code, nsn) == _reference(code, nsn)
