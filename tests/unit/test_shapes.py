from tests.contract.shapes import shape_diff


def test_shape_diff_reports_missing_keys_types_and_nested_arrays():
    ref = {"id": 1, "name": "x", "tags": [{"id": 1}], "extra": None, "price": 1.5}
    assert shape_diff(ref, {"id": 2, "name": "y", "tags": [], "price": 3, "extra": 5}) == []
    assert shape_diff(ref, {"id": 2, "name": "y", "tags": [], "price": 3}) == ["$.extra: missing"]
    assert shape_diff(ref, {"id": "2", "name": "y", "tags": [{"id": 1}, {}], "price": 1.0, "extra": 1}) == [
        "$.id: expected integer, got string", "$.tags[1].id: missing"]
    assert shape_diff({"a": [1]}, {"a": {}}) == ["$.a: expected array, got object"]
    assert shape_diff({"a": {"b": 1}}, {"a": None}) == ["$.a: expected object, got null"]
    assert shape_diff({"a": [{"b": 1}]}, {"a": [{"b": None}]}, nullable=frozenset({"$.a[].b"})) == []
    assert shape_diff({"b": True}, {"b": 1}) == ["$.b: expected boolean, got integer"]
