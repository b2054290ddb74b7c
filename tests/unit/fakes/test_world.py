from collections import Counter

from crmsync.fakes.world import IMPORT_BLOCK, build_world


def test_same_seed_same_world_and_streams_are_independent():
    a = build_world(seed=5, contacts=50, deals=30, tasks=20)
    b = build_world(seed=5, contacts=50, deals=30, tasks=20)
    assert a == b
    c = build_world(seed=5, contacts=50, deals=30, tasks=99)
    assert c.contacts == a.contacts and c.deals == a.deals
    assert build_world(seed=6, contacts=50).contacts != a.contacts


def test_world_is_realistically_messy():
    w = build_world(seed=1, contacts=1000, deals=500, tasks=500)
    names = " ".join(c.name for c in w.contacts)
    assert any("а" <= ch <= "я" for ch in names) and any("a" <= ch <= "z" for ch in names)
    phones = [p.value for c in w.contacts for p in c.phones]
    assert any(p.startswith("8") for p in phones) and any("(" in p for p in phones) and any("доб" in p for p in phones)
    emails = [e.value for c in w.contacts for e in c.emails]
    assert any(e != e.strip().lower() for e in emails)
    assert {d.currency for d in w.deals} == {"RUB", "USD"} and {d.pipeline for d in w.deals} == {0, 1}
    assert {d.status for d in w.deals} == {"open", "won", "lost"}
    assert any(t.completed for t in w.tasks) and any(not t.completed for t in w.tasks)
    assert {t.related[0] for t in w.tasks if t.related} == {"contact", "deal"}
    assert all(d.contacts for d in w.deals[:50] if d.contacts) and any(len(d.contacts) > 1 for d in w.deals)


def test_bulk_import_block_ties_more_rows_than_a_page():
    w = build_world(seed=3, contacts=2 * IMPORT_BLOCK)
    (_, ties), = Counter(c.updated_at for c in w.contacts).most_common(1)
    assert ties >= IMPORT_BLOCK > 250
    assert all(c.created_at <= c.updated_at for c in w.contacts)
