"""A page as an Arrow table: the same table whether its rows share one shape (read in one pass) or not."""

import pyarrow as pa
import pytest

from crmsync.read.batches import arrow_page


def expected(names):
    columns = {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": pa.array(["a", None, "\u00e9\U0001f600"], pa.string()),
        "cf": pa.array(['[{"id":5,"v":[1.5,null]}]', None, "{}"], pa.string()),
        "ok": pa.array([True, False, None], pa.bool_()),
        "price": pa.array([1.0, None, 2.5], pa.float64()),
    }
    return pa.table({name: columns[name] for name in names})


ROWS = [{"id": 1, "name": "a", "cf": [{"id": 5, "v": [1.5, None]}], "ok": True, "price": 1.0, "none": None},
        {"id": 2, "name": None, "cf": None, "ok": False, "price": None, "none": None},
        {"id": 3, "name": "\u00e9\U0001f600", "cf": {}, "ok": None, "price": 2.5, "none": None}]


@pytest.mark.parametrize("shape", ["same keys", "keys in another order", "a key missing", "a key swapped"])
def test_every_shape_of_page_makes_the_same_table(shape):
    rows = [dict(r) for r in ROWS]
    names = ["id", "name", "cf", "ok", "price"]
    if shape == "keys in another order":
        rows[1] = dict(reversed(rows[1].items()))
    elif shape == "a key missing":
        del rows[1]["name"], rows[1]["cf"]
    elif shape == "a key swapped":  # as many keys as the first row, not the same ones: a late column comes last
        del rows[1]["ok"]
        rows[1]["late"] = "y"
        names.append("late")
    table, hints = arrow_page(rows, {})
    want = expected(names[:5])
    if shape == "a key swapped":
        want = want.append_column("late", pa.array([None, "y", None], pa.string()))
        want = want.set_column(3, "ok", pa.array([True, None, None], pa.bool_()))
    assert table.equals(want) and table.schema == want.schema  # "none" (null everywhere) is no column
    assert hints == {"cf": {"data_type": "json"}}


def test_a_column_of_two_types_or_past_64_bits_declines():
    assert arrow_page([{"id": 1, "v": 1}, {"id": 2, "v": "x"}], {}) is None
    assert arrow_page([{"id": 1, "v": 1}, {"id": 2, "v": 2**64}], {}) is None
    assert arrow_page([{"id": 1, "v": 1}], {"v": {"data_type": "text"}}) is None
