"""Two workers pulling two CRMs that hold the same people into one Postgres store at the same moment: each
person is one canonical row, linked to both CRMs' records (crmsync.canonical.match_lock).

The moment is made, not hoped for: the test holds an exclusive lock on ``canonical.contacts`` while both
pulls (real CLI processes) start, and lets go once both wait on a lock — from there both match at once.
Without the matching lock each would read an empty table and make a row for everyone."""

import json
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

import psycopg

from crmsync.canonical.tables import ensure
from crmsync.mapping import load_canonical
from crmsync.project import Project
from crmsync.store import POSTGRES, open_store
from crmsync.store_postgres import DEFAULT_DSN_ENV
from tests.integration.sync.test_identity import emails_in
from tests.integration.test_cli import crmsync_cmd
from tests.integration.test_pull_cli import run_here
from tests.store_plugin import StoreUnderTest, use_store

CONTACTS = 25
ROOT = Path(__file__).resolve().parents[3]  # the repository: a project with the built-in canonical schemas


def start_pull(project, pipeline, dsn):
    return subprocess.Popen([*crmsync_cmd(), "pull", pipeline, "--entity", "contact", "--json",
                             "--project-dir", str(project)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, DEFAULT_DSN_ENV: dsn})


def wait_for_waiters(dsn, n, timeout=90.0):
    """Until ``n`` sessions of this database wait on a lock (the test's, or each other's)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as con:
        while time.monotonic() < deadline:
            waiting = con.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND wait_event_type = 'Lock'").fetchone()[0]
            if waiting >= n:
                return
            time.sleep(0.05)
    raise AssertionError(f"the two pulls did not both reach the apply within {timeout} s")


def test_two_pulls_matching_the_same_people_at_once_make_one_row_per_person(tmp_path, fake_crm, pg_dsn,
                                                                            monkeypatch):
    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    store = StoreUnderTest("postgres", POSTGRES + DEFAULT_DSN_ENV)
    use_store(project, store)
    amo = fake_crm("amocrm", contacts=CONTACTS, deals=2, tasks=2, rate_limit=False)
    b24 = fake_crm("bitrix24", contacts=CONTACTS, deals=2, tasks=2, rate_limit=False)
    amo.crm, b24.crm = "amocrm", "bitrix24"
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", amo.url,
             "--long-lived-token", "demo-token")
    run_here(project, "connect", "bitrix24", "--name", "bitrix24", "--webhook-url", b24.url + "/rest/1/demo/")
    people = Counter(emails_in(amo))
    assert people == Counter(emails_in(b24))  # the same world in both CRMs
    with open_store(Project(project).store_path(store.name)) as con:
        ensure(con, load_canonical(project))

    with psycopg.connect(pg_dsn) as gate:
        gate.execute("LOCK TABLE canonical.contacts IN ACCESS EXCLUSIVE MODE")
        pulls = [start_pull(project, p, pg_dsn) for p in ("amocrm", "bitrix24")]
        try:
            wait_for_waiters(pg_dsn, 2)
        except AssertionError:
            for proc in pulls:
                proc.kill()
            raise
        gate.rollback()  # both go on together
        outs = [proc.communicate(timeout=120) for proc in pulls]
    for proc, (_, err) in zip(pulls, outs, strict=True):
        assert proc.returncode == 0, err
    matched = sum(json.loads(out)["entities"]["contact"]["matched"] for out, _ in outs)

    rows = store.rows(project, "SELECT c.id, c.emails, count(DISTINCT l.connection) FROM canonical.contacts c "
                               "JOIN sync.links l ON l.canonical_id = c.id AND l.entity = 'contact' "
                               "AND l.base IS NOT NULL GROUP BY c.id, c.emails")
    with_email = sum(1 for row in b24.app.table("contacts").rows.values() if row.get("EMAIL"))
    assert matched == with_email  # one pull made each person's row, the other found it
    assert len(rows) == 2 * CONTACTS - with_email  # people without an address cannot be told apart: two rows
    per_email = Counter(e["value"].strip().lower() for _, emails, _ in rows for e in _list(emails))
    assert per_email == people  # one row per person with an address (two people may share one)
    assert all(n == 2 for _, emails, n in rows if _list(emails)), "a person with an address is not in both CRMs"
    links = store.rows(project, "SELECT connection, count(*) FROM sync.links WHERE entity = 'contact' "
                                "AND base IS NOT NULL GROUP BY connection")
    assert dict(links) == {"amocrm": CONTACTS, "bitrix24": CONTACTS}  # every record read is linked


def _list(value):
    return json.loads(value) if isinstance(value, str) else (value or [])


def _pull(con, connection, book, identify, records):
    from crmsync.canonical.apply import apply_pulled, save_minted
    from crmsync.canonical.links import LinkBook

    book = book or LinkBook.load(con, connection)
    con.execute("BEGIN")
    counts = apply_pulled(con, entity="contact", connection=connection, run_id=f"run-{connection}",
                          schema=load_canonical(ROOT)["contact"], book=book, identify=identify,
                          results=[(rid, record, None, {}) for rid, record in records])
    save_minted(con, book)
    con.execute("COMMIT")
    return book, counts


def test_a_matcher_read_before_another_connection_committed_takes_in_the_rows_it_made(pg_dsn, monkeypatch):
    """Worker B read its index (chunk one), then worker A made a row for Anna; B's next chunk holds Anna too:
    under the lock B takes in what was made since it read, rather than making her a second row."""
    from crmsync.canonical.identity import matcher

    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    path = Project(ROOT).store_path(POSTGRES + DEFAULT_DSN_ENV)
    anna = {"name": "Anna Lee", "emails": [{"value": "anna@example.org", "type": "work"}]}
    with open_store(path) as con_a, open_store(path) as con_b:
        ensure(con_a, load_canonical(ROOT))
        b_matches = matcher(con_b, "contact", "b", None)
        book_b, _ = _pull(con_b, "b", None, b_matches, [("b1", {"name": "Bob", "emails": [{"value": "bob@x.org"}]})])
        _, made = _pull(con_a, "a", None, matcher(con_a, "contact", "a", None), [("a1", anna)])
        assert made.created == 1 and made.matched == 0
        _, later = _pull(con_b, "b", book_b, b_matches, [("b2", {**anna, "emails": [{"value": " Anna@Example.org "}]})])
        assert later.matched == 1 and later.created == 0
        rows = con_a.execute("SELECT l.connection, c.name FROM sync.links l JOIN canonical.contacts c "
                             "ON c.id = l.canonical_id WHERE l.remote_id IN ('a1', 'b2') ORDER BY 1").fetchall()
        assert rows == [("a", "Anna Lee"), ("b", "Anna Lee")]
        assert con_a.execute("SELECT count(*) FROM canonical.contacts").fetchone()[0] == 2


def test_a_matcher_whose_unread_log_entries_were_pruned_reads_the_whole_table_again(pg_dsn, monkeypatch):
    """The log keeps a day: a matcher that last read before entries it has not seen were pruned cannot catch up
    from the log, and reads every candidate row again instead of missing the person those entries named."""
    from crmsync.canonical.identity import matcher

    monkeypatch.setenv(DEFAULT_DSN_ENV, pg_dsn)
    path = Project(ROOT).store_path(POSTGRES + DEFAULT_DSN_ENV)
    anna = {"name": "Anna Lee", "emails": [{"value": "anna@example.org"}]}
    ben = {"name": "Ben Ode", "emails": [{"value": "ben@example.org"}]}
    with open_store(path) as con_a, open_store(path) as con_b:
        ensure(con_a, load_canonical(ROOT))
        b_matches = matcher(con_b, "contact", "b", None)
        book_b, _ = _pull(con_b, "b", None, b_matches, [("b1", {"name": "Bob", "emails": [{"value": "bob@x.org"}]})])
        _pull(con_a, "a", None, matcher(con_a, "contact", "a", None), [("a1", anna)])
        _pull(con_a, "c", None, matcher(con_a, "contact", "c", None), [("c1", ben)])
        con_a.execute("UPDATE sync.match_log SET logged_at = logged_at - INTERVAL 2 DAY")
        # the next run to match prunes them, all but the newest (Ben: generation 3; Anna was 2)
        _pull(con_a, "d", None, matcher(con_a, "contact", "d", None), [("d1", {"name": "Dan", "emails": ["d@x.org"]})])
        assert con_a.execute("SELECT DISTINCT generation FROM sync.match_log ORDER BY 1").fetchall() == [(3,), (4,)]
        _, later = _pull(con_b, "b", book_b, b_matches, [("b2", anna)])
        assert later.matched == 1 and later.created == 0
