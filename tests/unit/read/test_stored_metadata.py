"""The metadata a pull fetched, kept in the store: what remap builds its catalog from, with no CRM call."""

import duckdb
import pytest

from crmsync.errors import UserError
from crmsync.read.metadata import fetch_metadata
from crmsync.read.stored_metadata import OfflineSession, save_metadata, stored_metadata

CONNECTOR = {"metadata": {
    "custom_fields": {"contact": {"path": "cf/contacts", "provides": "custom_fields"},
                      "deal": {"path": "cf/deals", "provides": "custom_fields"}},
    "pipelines": {"path": "pipelines", "provides": "stages"},
    "users": {"method": "user.get", "provides": "users"},
}}


def test_what_a_pull_fetched_comes_back_in_the_shape_it_was_fetched_in():
    con = duckdb.connect()
    fetched = {"custom_fields": {"contact": [{"id": 1, "name": "Бюджет"}]}, "pipelines": [{"id": 7, "statuses": []}]}
    save_metadata(con, "amo", CONNECTOR, fetched)
    save_metadata(con, "other", CONNECTOR, {"pipelines": [{"id": 8}]})
    assert stored_metadata(con, "amo") == fetched
    newer = {"custom_fields": {"deal": [{"id": 2}]}, "pipelines": [{"id": 9}]}
    save_metadata(con, "amo", CONNECTOR, newer)  # a later pull: its entries replace, the others stay
    assert stored_metadata(con, "amo") == {"custom_fields": {"contact": [{"id": 1, "name": "Бюджет"}],
                                                             "deal": [{"id": 2}]}, "pipelines": [{"id": 9}]}
    assert stored_metadata(con, "nobody") == {}


def test_a_remap_gets_stored_metadata_and_never_asks_the_crm_for_more():
    con = duckdb.connect()
    save_metadata(con, "amo", CONNECTOR, {"custom_fields": {"contact": [{"id": 1}]}})
    offline = OfflineSession("amocrm", "amo")
    into = stored_metadata(con, "amo")
    got = fetch_metadata(CONNECTOR, offline, "", parts={"custom_fields"}, entities=["contact"], into=into)
    assert got["custom_fields"]["contact"] == [{"id": 1}]
    with pytest.raises(UserError, match=r"no pull of connection 'amo' has stored.*crmsync pull amocrm --full-refresh"):
        fetch_metadata(CONNECTOR, offline, "", parts={"stages"}, entities=["contact"], into=into)
