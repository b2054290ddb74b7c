"""A pipeline's next run: five-field cron read in its time zone, `manual`, and the words for a bad one."""

import datetime as dt

from crmsync.schedule import next_run, schedule_problem

UTC = dt.timezone.utc


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_next_run_is_strictly_after_and_in_utc():
    assert next_run({"schedule": "*/15 * * * *"}, at(2026, 3, 1, 10, 0)) == at(2026, 3, 1, 10, 15)
    assert next_run({"schedule": "*/15 * * * *"}, at(2026, 3, 1, 10, 7, 30)) == at(2026, 3, 1, 10, 15)


def test_the_schedule_is_read_in_the_pipelines_time_zone_across_dst():
    spec = {"schedule": "0 9 * * *", "timezone": "Europe/Berlin"}
    assert next_run(spec, at(2026, 3, 28, 12)) == at(2026, 3, 29, 7)   # CEST (UTC+2) from 29 March
    assert next_run(spec, at(2026, 3, 27, 12)) == at(2026, 3, 28, 8)   # still CET (UTC+1)


def test_manual_and_absent_schedules_never_run_by_themselves():
    assert next_run({"schedule": "manual"}, at(2026, 1, 1)) is None
    assert next_run({}, at(2026, 1, 1)) is None


def test_problems_in_words():
    assert schedule_problem("*/15 * * * *", "Europe/Moscow") is None
    assert schedule_problem("manual") is None
    assert "five-field cron" in schedule_problem("61 * * * *")
    assert "IANA" in schedule_problem("* * * * *", "Mars/Olympus")
