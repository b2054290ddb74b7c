"""A record just matched to a person another CRM brought has no base with its CRM: nobody removed
anything, so list values are united — a CRM that holds fewer addresses never shortens the others'."""

from crmsync.canonical.apply import merge_fields, united

COLS = {"emails": "JSON", "phones": "JSON", "first_name": "VARCHAR"}
A = {"type": "work", "value": "a@example.com"}
B = {"type": "home", "value": "b@example.com"}
C = {"type": "work", "value": "c@example.com"}


def test_a_shorter_list_in_the_newly_matched_crm_keeps_every_entry():
    merged, clashes = merge_fields({"emails": [A, B]}, {}, {"emails": [A]}, COLS, first_match=True)
    assert merged["emails"] == [A, B] and clashes == []


def test_entries_only_the_newly_matched_crm_has_are_added():
    merged, clashes = merge_fields({"emails": [A, B]}, {}, {"emails": [C, A]}, COLS, first_match=True)
    assert merged["emails"] == [A, B, C] and clashes == []


def test_the_same_value_under_another_type_label_is_one_entry():
    relabelled = {"type": "other", "value": "a@example.com"}
    assert united([A], [relabelled]) == [A]


def test_scalar_fields_still_clash_and_later_merges_still_shorten():
    merged, clashes = merge_fields({"first_name": "Ann"}, {}, {"first_name": "Anna"}, COLS, first_match=True)
    assert merged["first_name"] == "Anna" and [c[0] for c in clashes] == ["first_name"]
    # with a base, a CRM that removed an address removes it (an edit, not a missing capability)
    merged, _ = merge_fields({"emails": [A, B]}, {"emails": [A, B]}, {"emails": [A]}, COLS)
    assert merged["emails"] == [A]
