"""Single transforms: normalisation rules and forward(inverse(v)) == v over their canonical domain."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmsync.mapping import FieldCatalog, Rejection, get_transform
from crmsync.mapping.context import Context

from .strategies import DAYS, MOMENTS


def run(name: str, value: Any, direction: str = "forward", **params: Any) -> Any:
    ctx = Context(FieldCatalog("x", "contact"), None, {}, "pull" if direction == "forward" else "push")
    ctx.field = "f"
    transform = get_transform(name)({"type": name, **params})
    return getattr(transform, direction)(value, ctx)


@pytest.mark.parametrize("typed,expected", [
    ("8 916 123 45 67", "+79161234567"), ("916 123-45-67", "+79161234567"), (" +7 916 123 4567 ", "+79161234567"),
    ("8 (495) 6498210 доб. 248", "+74956498210;ext=248"), ("+44 20 7946 1234", "+442079461234"),
    ("(212)   555-1234", "(212) 555-1234"), ("1231231", "1231231"),
])
def test_phones_become_e164_when_valid_else_tidied(typed: str, expected: str) -> None:
    assert run("phone", typed, default_region="RU") == expected


def test_an_invalid_phone_is_kept_with_a_note() -> None:
    ctx = Context(FieldCatalog("x", "contact"), None, {}, "pull")
    ctx.field = "phones"
    get_transform("phone")({"type": "phone", "default_region": "RU"}).forward([{"value": "123", "type": "work"}], ctx)
    assert ctx.notes == ["phones: '123' is not a valid phone number; kept as written"]


def test_emails_are_trimmed_and_lowered_and_bad_ones_rejected() -> None:
    typed = [{"value": " Ann.Lee@Mail.RU ", "type": "work"}]
    assert run("email", typed) == [{"value": "ann.lee@mail.ru", "type": "work"}]
    with pytest.raises(Rejection, match="'ann@' is not an e-mail address"):
        run("email", "ann@")


def test_a_bitrix24_date_keeps_its_calendar_day() -> None:
    assert run("iso_date", "1987-06-25T00:00:00+03:00") == "1987-06-25"
    assert run("iso_time", "2025-04-15T08:58:11+03:00") == "2025-04-15T05:58:11Z"
    with pytest.raises(Rejection, match="has no UTC offset"):
        run("iso_time", "2025-04-15T08:58:11")


def test_a_unix_timestamp_out_of_any_calendar_sets_the_record_aside() -> None:
    assert run("unix_time", 1767205600) == "2025-12-31T18:26:40Z"
    assert run("unix_time", "-62135596800") == "1-01-01T00:00:00Z"
    for value in (10**12, 10**20, -10**15):  # year 33658; beyond the platform's time_t (it used to crash the run)
        with pytest.raises(Rejection, match="not a Unix timestamp of the years 1 to 9999"):
            run("unix_time", value)


def test_a_unix_date_out_of_any_calendar_sets_the_record_aside() -> None:
    assert run("unix_date", 551577600) == "1987-06-25"
    for value in (2**62, 10**20, -10**15, "253402300800"):  # an OSError, an OverflowError, year 10000
        with pytest.raises(Rejection, match="not a Unix timestamp of the years 1 to 9999"):
            run("unix_date", value)


def test_numbers_keep_two_places_and_write_as_the_crm_wants() -> None:
    assert run("number", "1000000.005") == 1000000.0
    assert run("number", "12,5") == 12.5
    assert run("number", 19.99, "inverse", write_as="string") == "19.99"
    assert run("number", 1500.0, "inverse", write_as="integer") == 1500
    with pytest.raises(Rejection, match="'abc' is not a number"):
        run("number", "abc")


def test_map_and_flag() -> None:
    kinds = {"WORK": "work", "WORKDD": "work", "MOB": "mobile"}
    assert run("map", "WORKDD", values=kinds) == "work"
    assert run("map", "work", "inverse", values=kinds) == "WORK"  # the first listed wins on push
    assert run("map", "PAGER", values=kinds, default="other") == "other"
    assert run("flag", "5", set="5", unset="2") is True
    assert run("flag", "3", set="5", unset="2") is False
    assert run("flag", False, "inverse", set="5", unset="2") == "2"


@given(MOMENTS)
def test_times_round_trip(moment: str) -> None:
    for name in ("unix_time", "iso_time"):
        assert run(name, run(name, moment, "inverse")) == moment


@given(DAYS)
def test_dates_round_trip(day: str) -> None:
    for name in ("unix_date", "iso_date"):
        assert run(name, run(name, day, "inverse")) == day


@given(st.decimals(-10**12, 10**12, places=2, allow_nan=False, allow_infinity=False))
def test_amounts_round_trip_through_text(amount: Any) -> None:
    value = float(amount)
    assert run("number", run("number", value, "inverse", write_as="string")) == value


def test_phone_fast_path_matches_the_full_parse():
    import random

    from crmsync.fakes.world import _phone
    from crmsync.mapping.transforms import contact_points as cp

    rng = random.Random(7)
    samples = [_phone(rng) for _ in range(2000)] + [
        "+44 20 7946 0958", "+1 (212) 555-0123", "+39 06 6982 0000", "+7 800 555 35 35", "+380 44 123 4567",
        "+79161234567", "+7 916 123-45-67 доб. 12", "+999 123 4567", "+1 23", "+0 916 123"]
    for text in samples:
        cleaned = cp._BLANKS.sub(" ", text).strip()
        try:
            number = cp.phonenumbers.parse(cleaned, "RU")
            valid = cp.phonenumbers.is_valid_number(number)
        except cp.phonenumbers.NumberParseException:
            valid = False
        fast = cp._international(cleaned)
        if fast is not None:  # the fast path only ever answers with what the full parse says
            assert valid and not number.extension
            assert fast == cp.phonenumbers.format_number(number, cp.phonenumbers.PhoneNumberFormat.E164), text


@pytest.mark.parametrize("region", ["RU", "US", "DE", "KZ", "GB", "BY"])
def test_phone_national_fast_path_matches_the_full_parse(region: str):
    """RU, US, DE, KZ have a plain-digit national prefix (fast path); GB and BY a pattern (full parse)."""
    import random

    from crmsync.fakes.world import _phone
    from crmsync.mapping.transforms import contact_points as cp

    rng = random.Random(11)
    samples = [_phone(rng) for _ in range(500)]
    samples += ["".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13))) for _ in range(1500)]
    samples += ["8 (916) 123-45-67", "8 800 555 35 35", "9161234567", "0 30 123456", "(212) 555-0123",
                "1 212 555 0123", "020 7946 0958", "07700 900123", "8 (727) 250-00-00", "8 017 200-00-00"]
    answered = 0
    for text in samples:
        cleaned = cp._BLANKS.sub(" ", text).strip()
        fast = cp._national(cleaned, region)
        if fast is None:
            continue
        answered += 1
        number = cp.phonenumbers.parse(cleaned, region)  # the fast path only answers what the full parse says
        assert cp.phonenumbers.is_valid_number(number) and not number.extension, text
        assert fast == cp.phonenumbers.format_number(number, cp.phonenumbers.PhoneNumberFormat.E164), text
    if region in ("GB", "BY"):
        assert answered == 0
    else:
        assert answered > 20  # the fast path is actually taken for this region's national numbers


@pytest.mark.parametrize("region", ["RU", "US", "DE", "KZ", "GB"])
def test_phone_extension_fast_path_matches_the_full_parse(region: str):
    """A number with `доб. <digits>` after it: the fast path answers only what the full parse says."""
    import random

    from crmsync.fakes.world import _phone
    from crmsync.mapping.transforms import contact_points as cp

    rng = random.Random(19)
    mains = [_phone(rng) for _ in range(300)] + ["".join(rng.choice("0123456789") for _ in range(rng.randint(5, 13)))
                                                 for _ in range(300)]
    mains += ["8 (916) 123-45-67", "+7 916 123 45 67", "(212) 555-0123", "+1 212 555 0123", "030 123456"]
    samples = [f"{m}{rng.choice(['', ' '])}доб.{rng.choice(['', ' '])}{rng.randrange(10 ** rng.randint(0, 7))}"
               for m in mains] + [f"{m} доб. 0{rng.randrange(100)}" for m in mains[:50]]
    samples += ["8 916 123 45 67 доб. 12345678", "доб. 12", "8 916 123 45 67 доб 12", "+7 916 1234567 доб. 1 2"]
    answered = 0
    for text in samples:
        cleaned = " ".join(text.split())
        fast = cp._with_extension(cleaned, region)
        if fast is None:
            continue
        answered += 1
        number = cp.phonenumbers.parse(cleaned, region)
        assert cp.phonenumbers.is_valid_number(number) and number.extension, text
        e164 = cp.phonenumbers.format_number(number, cp.phonenumbers.PhoneNumberFormat.E164)
        assert fast == f"{e164};ext={number.extension}", text
    assert answered > (20 if region in ("RU", "KZ") else 0) or region in ("GB", "DE")
