import datetime as dt

from crmsync.status import cursor_time

UTC = dt.timezone.utc


def test_cursors_of_both_crms_read_as_utc_timestamps():
    assert cursor_time(1733452149) == dt.datetime(2024, 12, 6, 2, 29, 9, tzinfo=UTC)       # AmoCRM: epoch s
    assert cursor_time("1733452149") == cursor_time(1733452149000)                         # text, or ms
    assert cursor_time("2024-12-06T05:29:09+03:00") == dt.datetime(2024, 12, 6, 2, 29, 9, tzinfo=UTC)  # Bitrix24
    assert cursor_time(None) is None and cursor_time("not a time") is None
