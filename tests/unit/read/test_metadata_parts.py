"""Which catalog parts a run already holds: a sync's push maps with what its pull fetched, asking nothing."""

from crmsync.read.metadata import fetched_parts

CONNECTOR = {"metadata": {
    "custom_fields": {"contact": {"path": "cf/contacts", "provides": "custom_fields"},
                      "deal": {"path": "cf/deals", "provides": "custom_fields"}},
    "pipelines": {"path": "pipelines", "provides": "stages"},
    "users": {"method": "user.get", "provides": "users"},
    "account": {"path": "account"},  # provides nothing a catalog looks up
}}


def test_a_part_is_held_once_every_request_providing_it_for_the_entity_was_made():
    assert fetched_parts(CONNECTOR, {}, "contact") == frozenset()
    fetched = {"custom_fields": {"deal": []}, "users": [], "account": {}}
    assert fetched_parts(CONNECTOR, fetched, "contact") == {"users"}  # the deals' fields are not the contacts'
    assert fetched_parts(CONNECTOR, fetched, "deal") == {"users", "custom_fields"}
    fetched["custom_fields"]["contact"] = [{"id": 1}]
    fetched["pipelines"] = []
    assert fetched_parts(CONNECTOR, fetched, "contact") == {"users", "custom_fields", "stages"}
