"""The batch apply on a Postgres store leaves it exactly as the record-by-record apply does.

The equality suite of tests/unit/canonical/test_batch_apply.py, each ``Twin`` made of two empty Postgres
databases (one applied with ``mode='rows'``, the other with ``mode='batch'``): the set statements run
through the store's one translation layer (crmsync.store_sql), not SQL written for Postgres.
"""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings

from crmsync.canonical.apply import apply_pulled
from crmsync.store_postgres import PgConnection
from tests.unit.canonical.test_batch_apply import (  # noqa: F401 (collected here with the Postgres twin)
    RANDOM,
    Twin,
    same_after_every_step,
    scenario,
    test_a_record_twice_in_one_chunk,
    test_a_second_crm_matched_by_email_and_a_lost_create_claimed,
    test_golden_records_first_pull_again_and_changed,
    test_local_edits_clashes_rejections_and_deletes_under_every_policy,
    test_newest_wins_takes_a_local_value_s_time_from_history_when_the_row_clock_moved_on,
    test_records_minted_for_references_earlier_and_a_chunk_mixing_new_known_and_set_aside_records,
)


@pytest.fixture
def connect(pg_server):
    made = []

    def new_store() -> PgConnection:
        name = pg_server.create_database()
        made.append(name)
        return PgConnection(psycopg.connect(pg_server.dsn(name), autocommit=True))

    yield new_store
    for name in made:
        pg_server.drop_database(name)


@pytest.fixture
def twin(connect):
    t = Twin(connect)
    yield t
    t.close()


# ``connect`` makes new databases on each call: nothing is shared between examples
@settings(RANDOM, max_examples=3, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=scenario())
def test_random_chunks_apply_alike_on_postgres(connect, data):
    same_after_every_step(*data, connect=connect)


def test_a_postgres_store_takes_the_batch_apply(monkeypatch, twin):
    """By default a Postgres store takes the batch apply, not the record-by-record one."""
    import crmsync.canonical.apply_batch as batch

    ran = []
    real = batch.apply_batch_chunk
    monkeypatch.setattr(batch, "apply_batch_chunk", lambda *a, **kw: (ran.append(1), real(*a, **kw))[1])
    con = twin.cons["batch"]
    from crmsync.canonical.conflicts import ConflictRules
    from crmsync.canonical.links import LinkBook
    from tests.unit.canonical.test_batch_apply import CANONICAL, ids

    records = ids("contact")
    results = [(r, rec, None, {"id": r}) for r, rec in records.items()]
    counts = apply_pulled(con, entity="contact", connection="amo", run_id="r1", schema=CANONICAL["contact"],
                          book=LinkBook.load(con, "amo"), results=results, rules=ConflictRules("contact"))
    assert ran and counts.created == len(records)
