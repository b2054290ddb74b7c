import pytest

from crmsync.fakes.settings import SettingError, describe, parse_settings


def test_values_are_typed_by_the_config_field():
    got = parse_settings("bitrix24", ["bucket_capacity=250", "bucket_rate=5", "operating_limit=none",
                                      "timezone=+02:00", "rate-limit=off"])
    assert got == {"bucket_capacity": 250, "bucket_rate": 5.0, "operating_limit": None, "timezone": "+02:00",
                   "rate_limit": False}
    assert parse_settings("amocrm", ["filter_enabled=false", "next_link=exact"]) == {
        "filter_enabled": False, "next_link": "exact"}


@pytest.mark.parametrize("pair, message", [
    ("next_lnk=exact", "did you mean 'next_link'"),
    ("filter_enabled=maybe", "expected true/false"),
    ("rate_limit_rps=fast", r"expected a number \(int\)"),
    ("novalue", "expected KEY=VALUE"),
])
def test_bad_settings_say_what_is_allowed(pair, message):
    with pytest.raises(SettingError, match=message):
        parse_settings("amocrm", [pair])


def test_describe_lists_defaults():
    assert ("token", "str", "demo-token") in describe("amocrm")
