"""Pure list logic of the fake AmoCRM: id lists, ranges, filters, stable ordering, phone search."""

from __future__ import annotations

import pytest

from crmsync.fakes.amocrm.listing import BadQuery, filter_rows, ints, matches_query, order_rows, time_range

ROWS = [{"id": i, "updated_at": ts, "created_at": 100 - i, "responsible_user_id": u, "name": n}
        for i, ts, u, n in [(3, 10, 1, "c"), (1, 10, 2, "a"), (2, 20, 1, "b"), (4, 5, 2, "d")]]


def test_ints_accept_scalar_comma_and_php_arrays():
    assert ints("5", "p") == [5]
    assert ints("1, 2,3", "p") == [1, 2, 3]
    assert ints({"0": "7", "1": "8"}, "p") == [7, 8]
    with pytest.raises(BadQuery) as exc:
        ints("x", "filter.id")
    assert exc.value.response.status == 400


def test_time_range_bare_value_means_from():
    assert time_range("5", "p") == (5, None)
    assert time_range({"from": "1", "to": "9"}, "p") == (1, 9)
    assert time_range({"to": "9"}, "p") == (None, 9)


def test_filters_combine_and_can_be_ignored():
    got = filter_rows("contacts", ROWS, {"updated_at": {"from": "10"}, "responsible_user_id": "1"})
    assert [r["id"] for r in got] == [3, 2]
    assert len(filter_rows("contacts", ROWS, {"updated_at": {"from": "99"}}, ignore=("updated_at",))) == 4
    assert filter_rows("contacts", ROWS, {"no_such_filter": "1"}) == ROWS


def test_order_is_stable_by_id_and_checks_allowed_fields():
    assert [r["id"] for r in order_rows("contacts", ROWS, None, True)] == [1, 2, 3, 4]
    assert [r["id"] for r in order_rows("contacts", ROWS, {"updated_at": "asc"}, True)] == [4, 1, 3, 2]
    assert [r["id"] for r in order_rows("contacts", ROWS, {"updated_at": "desc"}, True)] == [2, 1, 3, 4]
    with pytest.raises(BadQuery):
        order_rows("tasks", ROWS, {"updated_at": "asc"}, True)
    assert [r["id"] for r in order_rows("tasks", ROWS, {"updated_at": "asc"}, False)] == [1, 2, 3, 4]


def test_query_matches_phone_by_digits_and_text_case_insensitively():
    row = {"name": "Иван Petrov", "custom_fields_values": [{"values": [{"value": "+7 (916) 123-45-67"}]}]}
    assert matches_query(row, "89161234567"[1:])
    assert matches_query(row, "petrov") and matches_query(row, "иван")
    assert not matches_query(row, "555-12")
