"""Bitrix24 list semantics as pure functions: prefix filters, typed comparison, ordering, pages."""

import pytest

from crmsync.fakes.bitrix24 import filters
from crmsync.fakes.bitrix24.errors import ApiError

TZ = "+03:00"
KINDS = {"ID": "int", "NAME": "str", "DATE_MODIFY": "date", "OPPORTUNITY": "float", "PHONE": "multi",
         "UF_TAGS": "str"}
ROWS = [
    {"ID": "1", "NAME": "Anna", "DATE_MODIFY": "2025-03-01T10:00:00+03:00", "OPPORTUNITY": "900.00",
     "PHONE": ["+7 916 000"], "UF_TAGS": ["a", "b"]},
    {"ID": "2", "NAME": "boris", "DATE_MODIFY": "2025-03-01T12:00:00+03:00", "OPPORTUNITY": "10000.00",
     "PHONE": [], "UF_TAGS": []},
    {"ID": "10", "NAME": "Anna", "DATE_MODIFY": "2025-03-02T00:00:00+03:00", "OPPORTUNITY": None,
     "PHONE": ["8 903"], "UF_TAGS": ["b"]},
]


def resolve(name):
    return (name, KINDS[name]) if name in KINDS else None


def read(row, key):
    return row.get(key)


def ids(flt, strict=False):
    conds = filters.compile_filter(flt, resolve, TZ, strict=strict)
    return [r["ID"] for r in ROWS if filters.matches(r, conds, read, TZ)]


@pytest.mark.parametrize("key,expected", [
    (">=DATE_MODIFY", (">=", "DATE_MODIFY")), ("!@ID", ("!@", "ID")), ("%NAME", ("%", "NAME")),
    ("NAME", ("=", "NAME")), ("!NAME", ("!", "NAME")), ("!=NAME", ("!=", "NAME")), ("=%NAME", ("=%", "NAME")),
    ("<ID", ("<", "ID")),
])
def test_split_key(key, expected):
    assert filters.split_key(key) == expected


def test_numbers_compare_as_numbers_not_strings():
    assert ids({">ID": "2"}) == ["10"]          # "10" > "2" numerically
    assert ids({">OPPORTUNITY": 1000}) == ["2"]  # null never matches a comparison


def test_dates_compare_as_moments_across_offsets_and_formats():
    assert ids({">DATE_MODIFY": "2025-03-01T08:00:00+01:00"}) == ["2", "10"]  # 10:00+03 == 08:00+01 is not >
    assert ids({">=DATE_MODIFY": "2025-03-02"}) == ["10"]                     # a bare date is midnight portal time
    assert ids({"<DATE_MODIFY": "01.03.2025 11:00:00"}) == ["1"]             # Russian-locale form


def test_equality_in_and_negation():
    assert ids({"NAME": "anna"}) == ["1", "10"]  # case-insensitive like MySQL's collation
    assert ids({"@ID": ["1", "2"]}) == ["1", "2"]
    assert ids({"!@ID": {"0": "1", "1": "2"}}) == ["10"]  # PHP-form arrays read as lists
    assert ids({"!NAME": "Anna"}) == ["2"]
    assert ids({"ID": ["2", "10"]}) == ["2", "10"]  # an array after "=" is IN


def test_like_and_multi_values():
    assert ids({"%NAME": "OR"}) == ["2"]
    assert ids({"=%NAME": "an%"}) == ["1", "10"]
    assert ids({"PHONE": "8 903"}) == ["10"]
    assert ids({"UF_TAGS": "b"}) == ["1", "10"]
    assert ids({"!UF_TAGS": "a"}) == ["2", "10"]


def test_empty_value_matches_empty_fields():
    assert ids({"OPPORTUNITY": ""}) == ["10"]
    assert ids({"!OPPORTUNITY": ""}) == ["1", "2"]


def test_unknown_fields_ignored_or_rejected():
    assert ids({"BOGUS": 1}) == ["1", "2", "10"]
    with pytest.raises(ApiError) as err:
        ids({">BOGUS": 1}, strict=True)
    assert err.value.code == "INVALID_ARG_VALUE" and "'BOGUS'" in err.value.description


def test_order_is_stable_with_id_tiebreak_and_nulls_first():
    order = filters.parse_order({"NAME": "DESC"}, resolve)
    assert [r["ID"] for r in filters.order_rows(ROWS, order, read, TZ, "ID")] == ["2", "1", "10"]
    order = filters.parse_order({"OPPORTUNITY": "asc"}, resolve)
    assert [r["ID"] for r in filters.order_rows(ROWS, order, read, TZ, "ID")] == ["10", "1", "2"]
    assert [r["ID"] for r in filters.order_rows(ROWS[::-1], [], read, TZ, "ID")] == ["1", "2", "10"]


def test_pages():
    rows = list(range(120))
    assert filters.page(rows, 0, 50) == (rows[:50], 120, 50)
    assert filters.page(rows, "100", 50) == (rows[100:], 120, None)
    assert filters.page(rows, -1, 50) == (rows[:50], 0, None)  # no count, no next
    assert filters.page(rows, 200, 50) == ([], 120, None)
