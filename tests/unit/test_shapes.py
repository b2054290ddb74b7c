from tests.contract.shapes import shape_diff


def test_shape_diff_reports_missing_keys_types_and_nested_arrays():
    ref = {"id": 1, "name": "x", "tags": [{"id": 1}], "extra": None, "price": 1.5}
    assert shape_diff(ref, {"id": 2, "name": "y", "tags": [], "price": 3, "extra": 5}) == []
    assert shape_diff(ref, {"id": 2, "name": "y", "tags": [], "price": 3}) == ["$.extra: missing"]
    assert shape_diff(ref, {"id": "2", "name": "y", "tags": [{"id": 1}, {}], "price": 1.0, "extra": 1}) == [
        "$.id: expected integer, got string (2)", "$.tags[1].id: missing"]
    assert shape_diff({"a": [1]}, {"a": {}}) == ["$.a: expected array, got object ({})"]
    assert shape_diff({"a": {"b": 1}}, {"a": None}) == ["$.a: expected object, got null"]
    assert shape_diff({"a": [{"b": 1}]}, {"a": [{"b": None}]}, nullable=frozenset({"$.a[].b"})) == []
    assert shape_diff({"b": True}, {"b": 1}) == ["$.b: expected boolean, got integer (1)"]


def test_strict_keys_key_normalisation_and_number_leniency():
    strict = {"extra_keys_ok": lambda path: False}
    assert shape_diff({"a": "1"}, {"a": "2", "b": 1}, **strict) == ["$.b: unexpected"]
    assert shape_diff({"ufCrm11_1": "d"}, {"ufCrm_9": "e"}, key=lambda k: "uf" if k.startswith("ufCrm") else k,
                      **strict) == []
    assert shape_diff({"t": {"x": 0}}, {"t": {"x": 0.5}}) == ["$.t.x: expected integer, got number (0.5)"]
    assert shape_diff({"t": {"x": 0}}, {"t": {"x": 0.5}}, any_number=lambda p: p.startswith("$.t.")) == []
    assert shape_diff({"x": 1.5}, {"x": 2}) == []  # a float field printed without decimals
