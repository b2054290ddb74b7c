from crmsync.phpquery import as_list, build_query, parse_query, php_array


def test_nested_brackets_and_appends():
    q = parse_query("filter[updated_at][from]=5&filter[id][]=1&filter[id][]=2&order[id]=asc&with=contacts")
    assert q == {"filter": {"updated_at": {"from": "5"}, "id": {"0": "1", "1": "2"}},
                 "order": {"id": "asc"}, "with": "contacts"}
    assert as_list(q["filter"]["id"]) == ["1", "2"]


def test_operator_prefixed_keys_survive_url_encoding():
    q = parse_query("filter%5B%3E%3DDATE_MODIFY%5D=2024-01-01T00%3A00%3A00%2B03%3A00&select%5B%5D=ID")
    assert q == {"filter": {">=DATE_MODIFY": "2024-01-01T00:00:00+03:00"}, "select": {"0": "ID"}}


def test_build_query_round_trips():
    params = {"filter": {">ID": "0", "@ID": ["1", "2"]}, "select": ["ID", "NAME"], "start": "-1"}
    back = parse_query(build_query(params))
    assert back["filter"][">ID"] == "0"
    assert as_list(back["filter"]["@ID"]) == ["1", "2"]
    assert as_list(back["select"]) == ["ID", "NAME"]
    assert back["start"] == "-1"


def test_php_array_matches_json_encode():
    assert php_array({}) == []
    assert php_array({"0": "a", "1": "b"}) == ["a", "b"]
    assert php_array({"1": "a"}) == {"1": "a"}  # not starting at 0: an object
    assert php_array({"c0": 1}) == {"c0": 1}


def test_scalar_after_bracket_key_is_kept():
    assert parse_query("a=1&a[b]=2") == {"a": {"b": "2"}}
    assert parse_query("plain=x&empty=") == {"plain": "x", "empty": ""}
