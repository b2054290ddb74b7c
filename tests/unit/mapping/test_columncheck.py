"""The column form of the canonical check flags every record the record check refuses (and the batch
then asks the record check, so the reason is the same)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmsync.mapping import CanonicalCheck, Rejection
from crmsync.mapping.columncheck import ColumnCheck

from .helpers import canonical

SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(),
                   st.decimals(places=4, allow_nan=True), st.sampled_from(
                       ["", "x", "open", "won", "work", "mobile", "a@b.ru", "RUB", "rub", "2026-01-01T00:00:00Z",
                        "2026-01-01", "contact", "deal", "c-1", "\x01"]))
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["value", "type", "kind", "id", "extra"]), inner, max_size=3)), max_leaves=6)
# Lists of entries and links that mostly fit, so that one wrong part is the only thing wrong.
ENTRIES = st.lists(st.fixed_dictionaries({"value": SCALAR, "type": SCALAR},
                                         optional={"extra": SCALAR, "kind": SCALAR, "id": SCALAR}), max_size=3)
VALUES = st.one_of(VALUE, ENTRIES, st.lists(SCALAR, max_size=3),
                   st.fixed_dictionaries({"kind": SCALAR, "id": SCALAR}, optional={"extra": SCALAR}))


def _place(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if name.startswith("custom."):
            out.setdefault("custom", {})[name[7:]] = value
        else:
            out[name] = value
    return out


@pytest.mark.parametrize("entity", ["contact", "deal", "task"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_column_flags_cover_every_record_the_record_check_refuses(entity: str, data: Any) -> None:
    schema = canonical()[entity]
    names = sorted(set(schema["properties"]) - {"custom"}) + ["custom.source", "custom.Bad-Key", "not_in_schema"]
    # One field a record: a record refused for one field must be flagged in that field's column.
    records = data.draw(st.lists(st.dictionaries(st.sampled_from(names), VALUES, min_size=1, max_size=1),
                                 min_size=1, max_size=12))
    check = CanonicalCheck(schema)
    columns = ColumnCheck(schema, names, check._doubles, check._bounded)
    flagged: set[int] = set()
    for name in names:
        holders = [i for i, r in enumerate(records) if name in r]
        flagged.update(holders[j] for j in columns.flags(name, [records[i][name] for i in holders]))
    for i, fields in enumerate(records):
        record = _place(fields)
        try:
            check(record, "pull")
        except Rejection:
            assert i in flagged or columns.missing_required(record), fields


def test_numbers_a_double_cannot_keep_are_flagged() -> None:
    schema = canonical()["deal"]
    check = CanonicalCheck(schema)
    columns = ColumnCheck(schema, ["amount", "custom.budget"], check._doubles, check._bounded)
    budgets = [1.5, 2**53 + 1, Decimal("0.1000000000000000055511151231257827"), [3, 2**60], [3, 4.5]]
    assert set(columns.flags("custom.budget", budgets)) == {1, 2, 3}
    assert set(columns.flags("amount", [1.25, float("inf"), None])) == {1}


def test_a_decimal_nan_in_a_bounded_number_is_set_aside_not_raised() -> None:
    # jsonschema's bound check raised decimal.InvalidOperation for it: one value stopped the whole check
    schema = canonical()["deal"]
    check = CanonicalCheck(schema)
    with pytest.raises(Rejection) as refused:
        check({"amount": Decimal("NaN")}, "pull")
    assert refused.value.field == "amount" and "not a number" in str(refused.value)
    columns = ColumnCheck(schema, ["amount"], check._doubles, check._bounded)
    assert 0 in set(columns.flags("amount", [Decimal("NaN"), Decimal("12.50")]))  # flagged: the record check decides
