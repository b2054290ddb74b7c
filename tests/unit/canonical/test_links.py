import duckdb
import pytest

from crmsync.canonical.apply import save_minted
from crmsync.canonical.links import Link, LinkBook
from crmsync.canonical.tables import ensure


@pytest.fixture
def con():
    con = duckdb.connect(":memory:")
    ensure(con, {})
    con.execute("INSERT INTO sync.links (entity, connection, remote_id, canonical_id, base_hash) VALUES "
                "('contact', 'amo', '1', 'c-1', 'h1'), ('contact', 'amo', '2', 'c-2', 'h2'), "
                "('contact', 'other', '3', 'c-3', 'h3')")
    yield con
    con.close()


def test_fetch_brings_only_the_chunk_asked_for_and_replaces_the_one_before(con):
    book = LinkBook.load(con, "amo")
    assert book.links == {}
    book.fetch("contact", ["1", "9"])
    assert book.links == {("contact", "1"): Link("c-1", "h1")}
    book.fetch("contact", ["2", "3"])  # '3' belongs to another connection
    assert book.links == {("contact", "2"): Link("c-2", "h2")}


def test_references_resolve_through_stored_links_and_new_ones_keep_their_minted_id(con):
    book = LinkBook.load(con, "amo")
    assert book.to_canonical("contact", "1") == "c-1"
    new = book.to_canonical("contact", "7")
    assert new not in ("c-1", "c-2") and book.to_canonical("contact", "7") == new
    book.fetch("contact", ["7"])  # not stored yet: the chunk still sees the minted id
    assert book.canonical_id("contact", "7") == new
    save_minted(con, book)
    fresh = LinkBook.load(con, "amo")
    assert fresh.to_canonical("contact", "7") == new


def test_to_crm_and_linked_see_stored_minted_and_put_links(con):
    book = LinkBook.load(con, "amo")
    minted = book.to_canonical("deal", "5")
    book.put("contact", "8", Link("c-8", "h8"))
    assert book.to_crm("contact", "c-2") == "2"
    assert book.to_crm("contact", "c-8") == "8"
    assert book.to_crm("deal", minted) == "5"
    assert book.to_crm("contact", "c-3") is None
    book.put("contact", "9", Link("c-9", None))  # after the map was read: kept up to date
    assert book.to_crm("contact", "c-9") == "9"
    book.fetch("contact", [])
    assert book.linked("contact", "1") and book.linked("deal", "5") and not book.linked("contact", "3")


def test_ids_minted_in_bulk_are_distinct_version_4_uuids_written_as_uuid_writes_them(con):
    import uuid

    from crmsync.canonical.links import random_ids

    ids = random_ids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert {text[19] for text in ids} == set("89ab")  # the variant's other two bits stay random
    book = LinkBook.load(con, "amo")
    book.fetch("contact", ["1", "5", "6"])
    book.mint("contact", ["1", "5", "6", "5"])  # '1' is linked: it keeps its id; '5' twice: one id
    assert book.links[("contact", "1")].canonical_id == "c-1"
    assert set(book.minted) == {("contact", "5"), ("contact", "6")}
    assert book.to_canonical("contact", "5") == book.minted[("contact", "5")] != book.minted[("contact", "6")]
