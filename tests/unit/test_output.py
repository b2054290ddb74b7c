import datetime as dt

import jsonschema
import pytest

from crmsync.errors import BusyError, CrmError, RunIssues, UserError
from crmsync.output import check, failure, normalise, success, timestamp


def test_one_timestamp_format():
    utc = dt.datetime(2026, 12, 6, 2, 29, 9, 123456, tzinfo=dt.timezone.utc)
    assert timestamp(utc) == "2026-12-06T02:29:09Z"
    assert timestamp(utc.astimezone(dt.timezone(dt.timedelta(hours=3)))) == "2026-12-06T02:29:09Z"
    assert timestamp(dt.datetime(2026, 12, 6, 2, 29, 9)) == "2026-12-06T02:29:09Z"  # naive: DuckDB's UTC
    assert timestamp("2026-12-06T05:29:09+03:00") == timestamp("2026-12-06T02:29:09Z") == "2026-12-06T02:29:09Z"
    assert timestamp("soon") == "soon" and timestamp(None) is None


def test_normalise_touches_times_not_user_values():
    data = {"last_ok_at": "2026-12-06T02:29:09.5+00:00", "local": "2026-12-06T02:29:09+00:00",
            "rows": [{"started_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)}]}
    assert normalise(data) == {"last_ok_at": "2026-12-06T02:29:09Z", "local": "2026-12-06T02:29:09+00:00",
                               "rows": [{"started_at": "2026-01-01T00:00:00Z"}]}


def test_the_envelope_wins_and_errors_carry_code_message_hint():
    assert success("validate", {"ok": "spoofed", "problems": [], "files": 1}) == {
        "command": "validate", "ok": True, "exit_code": 0, "problems": [], "files": 1}
    doc = failure("pull", BusyError("held"))
    assert doc == {"command": "pull", "ok": False, "exit_code": 4,
                   "error": {"code": "busy", "message": "held", "hint": BusyError.hint, "transient": True}}
    check(doc)
    assert failure("pull", UserError("x", hint="do y"))["error"]["hint"] == "do y"
    assert failure("pull", UserError("x"))["error"]["transient"] is False
    assert failure("pull", CrmError("refused"))["error"]["transient"] is False  # a refusal, unless said otherwise
    assert failure("pull", CrmError("kept failing", transient=True))["error"]["transient"] is True
    assert failure("pull", ValueError("a bug"))["error"]["transient"] is False
    assert RunIssues("x").code == "issues" and RunIssues.exit_code == 5


def test_schemas_refuse_a_broken_contract():
    with pytest.raises(jsonschema.ValidationError):
        check({"command": "pull", "ok": True, "exit_code": 0})  # a pull document without its fields
    with pytest.raises(jsonschema.ValidationError):
        check({"command": "pull", "ok": False, "exit_code": 2, "error": {"code": "config", "message": "x"}})
    with pytest.raises(jsonschema.ValidationError):
        check({"command": "status", "ok": True, "exit_code": 0, "pipelines": [], "error": {}})
