"""The outbox keeps one op per change; comparisons see through DuckDB's types."""

import datetime as dt

import duckdb

from crmsync.canonical.tables import ensure
from crmsync.canonical.values import same
from crmsync.push.outbox import Op, enqueue, mark
from crmsync.push.plan import idempotency_key


def op(values, kind="update", canonical_id="c1"):
    return Op(kind=kind, entity="contact", connection="amo", canonical_id=canonical_id, remote_id="1",
              fields=sorted(values), values=values, payload={"x": 1},
              idempotency_key=idempotency_key("amo", "contact", canonical_id, kind, values))


def statuses(con):
    return sorted(con.execute("SELECT canonical_id, status FROM sync.outbox").fetchall())


def test_the_same_change_is_enqueued_once_and_a_newer_one_supersedes_it():
    con = duckdb.connect()
    ensure(con, {})
    first = enqueue(con, "r1", "amo", "contact", [op({"first_name": "A"})])
    again = enqueue(con, "r2", "amo", "contact", [op({"first_name": "A"})])
    assert [o.op_id for o in again] == [o.op_id for o in first]
    assert statuses(con) == [("c1", "pending")]
    enqueue(con, "r3", "amo", "contact", [op({"first_name": "B"})])
    assert statuses(con) == [("c1", "pending"), ("c1", "superseded")]


def test_a_sent_or_rejected_change_is_not_sent_again():
    con = duckdb.connect()
    ensure(con, {})
    (sent,) = enqueue(con, "r1", "amo", "contact", [op({"first_name": "A"})])
    (refused,) = enqueue(con, "r1", "amo", "contact", [op({"first_name": "A"}), op({"x": 1}, canonical_id="c2")])[1:]
    mark(con, [sent.op_id], "sent")
    mark(con, [refused.op_id], "rejected", "no")
    assert enqueue(con, "r2", "amo", "contact", [op({"first_name": "A"}), op({"x": 1}, canonical_id="c2")]) == []


def test_values_compare_as_json_would():
    assert same(dt.date(1990, 5, 3), "1990-05-03")
    assert same(1000.0, 1000)
    assert same("2025-01-01T10:00:00Z", dt.datetime(2025, 1, 1, 10, tzinfo=dt.timezone.utc))
    assert not same("a", "b") and not same(None, [])


def test_the_key_depends_on_what_is_written():
    assert idempotency_key("amo", "contact", "c1", "update", {"a": 1}) == \
        idempotency_key("amo", "contact", "c1", "update", {"a": 1})
    assert idempotency_key("amo", "contact", "c1", "update", {"a": 1}) != \
        idempotency_key("amo", "contact", "c1", "create", {"a": 1})
