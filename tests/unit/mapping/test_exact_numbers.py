"""Numbers stay exact: no value a column cannot keep is stored rounded, none is written rounded."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from crmsync.mapping import CanonicalCheck, Rejection
from crmsync.mapping.canonical import double_problem

from .test_transforms import run


@pytest.mark.parametrize(("raw", "expected"), [
    ("1500", 1500.0), (1e26, 10**26), ("1e26", 10**26), (10**25, 10**25), ("0.125", 0.12), ("12,5", 12.5),
])
def test_pull_reads_any_number_exactly_and_never_stops(raw, expected):
    value = run("number", raw)
    assert value == expected and type(value) is type(expected)  # 1e26 no longer raises InvalidOperation


@pytest.mark.parametrize("raw", ["NaN", math.nan, math.inf, "abc", True, {"x": 1}])
def test_pull_refuses_what_is_not_a_number(raw):
    with pytest.raises(Rejection):
        run("number", raw)


@pytest.mark.parametrize(("value", "write_as", "sent"), [
    (12345678901234567890, "integer", 12345678901234567890), (Decimal("12.30"), "string", "12.30"),
    (100.0, "integer", 100), (0.1, "number", 0.1),
])
def test_push_writes_exact_values(value, write_as, sent):
    out = run("number", value, "inverse", write_as=write_as)
    assert out == sent and type(out) is type(sent)


@pytest.mark.parametrize(("value", "write_as"), [
    (100.5, "integer"), (1.234, "string"), (Decimal("0.1") ** 30, "number")])
def test_push_refuses_a_value_the_crm_would_round(value, write_as):
    with pytest.raises(Rejection, match="decimals"):
        run("number", value, "inverse", write_as=write_as)


@pytest.mark.parametrize(("value", "bad"), [
    (2**53, False), (2**53 + 1, True), (1.2345678901234567e19, True), (math.nan, True), (0.1, False),
    (Decimal("12345678901234.57"), False), (Decimal("123456789012345.678"), True), ("text", False),
])
def test_a_number_is_checked_against_what_a_double_keeps(value, bad):
    assert (double_problem(value) is not None) == bad


def test_the_canonical_check_names_the_field_and_follows_declared_bounds():
    schema = {"type": "object", "properties": {
        "amount": {"type": ["number", "null"]},
        "bounded": {"type": ["number", "null"], "maximum": 99999999999999999999},
        "custom": {"type": "object"}}}
    check = CanonicalCheck(schema)
    with pytest.raises(Rejection) as caught:
        check({"amount": 1e30})
    assert caught.value.field == "amount"
    with pytest.raises(Rejection) as caught:
        check({"custom": {"budget": 1e26}})
    assert caught.value.field == "custom.budget"
    check({"bounded": Decimal("12345678901234567890")})  # a column sized by the schema's bounds keeps it
    with pytest.raises(Rejection):
        check({"bounded": Decimal("123456789012345678901")})
