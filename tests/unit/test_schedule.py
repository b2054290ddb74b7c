import datetime as dt

from crmsync.schedule import cron_problem, next_run

UTC = dt.timezone.utc


def test_next_run_counts_an_exact_slot_and_is_utc():
    at = dt.datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
    assert next_run("*/15 * * * *", at) == at
    assert next_run("*/15 * * * *", at + dt.timedelta(seconds=1)) == dt.datetime(2026, 12, 6, 10, 15, tzinfo=UTC)
    moscow = dt.timezone(dt.timedelta(hours=3))
    assert next_run("0 9 * * *", dt.datetime(2026, 12, 6, 12, 30, tzinfo=moscow)) == \
        dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_no_schedule_or_a_bad_one_has_no_next_run():
    assert next_run(None) is None and next_run("61 * * * *") is None
    assert "out of range" in cron_problem("61 * * * *")
    assert "five fields" in cron_problem("* * * *")
    assert cron_problem("0 3 * * mon-fri") is None
