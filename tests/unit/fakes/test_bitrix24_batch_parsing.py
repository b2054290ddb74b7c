"""Pure parts of the fake Bitrix24 ``batch``: command lists and ``$result[...]`` substitution."""

import pytest

from crmsync.fakes.bitrix24.batch import commands, substitute
from crmsync.fakes.bitrix24.errors import ApiError
from crmsync.phpquery import parse_query

FOUND = {
    "result": {"c0": [{"ID": "7", "NAME": "Ann"}], "c1": {"item": {"id": 5}}, "c2": 46},
    "result_total": {"c0": 120},
    "result_next": {"c0": 50},
}


def test_commands_as_object_or_list():
    assert commands({"a": "profile", "b": "server.time"}) == [("a", "profile"), ("b", "server.time")]
    assert commands(["profile", "server.time"]) == [("0", "profile"), ("1", "server.time")]
    assert commands(None) == []
    with pytest.raises(ApiError):
        commands("profile")


def test_substitution_in_decoded_parameters():
    params = parse_query("id=$result[c0][0][ID]&fields[TITLE]=Deal%20for%20$result[c0][0][NAME]"
                         "&fields[X]=%24result%5Bc1%5D%5Bitem%5D%5Bid%5D&start=$result_next[c0]"
                         "&total=$result_total[c0]&n=$result[c2]")
    out = substitute(params, FOUND)
    assert out == {"id": "7", "fields": {"TITLE": "Deal for Ann", "X": "5"}, "start": "50", "total": "120",
                   "n": "46"}


def test_substitution_of_missing_or_whole_values():
    assert substitute("$result[nope][0][ID]", FOUND) == ""
    assert substitute("$result[c0][0]", FOUND) == {"ID": "7", "NAME": "Ann"}  # a whole value keeps its array
    assert substitute("plain", FOUND) == "plain"
