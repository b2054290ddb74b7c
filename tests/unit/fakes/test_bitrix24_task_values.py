"""The fake Bitrix24's tasks over real loopback HTTP: writes refuse what the portal refuses, and a
listing prints whatever a task holds (tests put values straight into the store) instead of a 500."""

import json
import math

import pytest
import requests

from crmsync.fakes import start_fake

GARBAGE = ["a\x01b", math.nan, math.inf, 10**30, -1e300, 1e-30, {"unexpected": [1, "two"]}, ["a", "b"], True,
           "0001-01-01T00:00:00+00:00", "2026-13-45T99:99:99+03:00", 253402300800, "NO_SUCH_VALUE_Ω", ""]


@pytest.fixture(scope="module")
def portal():
    with start_fake("bitrix24", contacts=2, deals=2, tasks=3, rate_limit=False) as server:
        yield server


def _call(portal, method, **params):
    return requests.post(f"{portal.url}/rest/1/demo/{method}", json=params, timeout=10)


def test_a_listing_renders_any_stored_value(portal):
    task = portal.app.tables["tasks"].rows[min(portal.app.tables["tasks"].rows)]
    for key in list(task):
        if key == "id":
            continue
        before = task[key]
        try:
            for value in GARBAGE:
                task[key] = value
                answer = _call(portal, "batch", cmd={"t": "tasks.task.list?select[]=*&select[]=UF_CRM_TASK"})
                assert answer.status_code == 200, (key, value, answer.text[:300])
                body = json.loads(answer.text)  # NaN as put in: what a sync must cope with, printed as held
                assert body["result"]["result_error"] == [], (key, value)
                assert len(body["result"]["result"]["t"]["tasks"]) == 3
        finally:
            task[key] = before


def test_a_crm_listing_ordered_by_a_garbage_id_still_answers(portal):
    contact = portal.app.tables["contacts"].rows[min(portal.app.tables["contacts"].rows)]
    before, contact["ID"] = contact["ID"], math.inf
    try:
        assert _call(portal, "crm.contact.list", order={"ID": "ASC"}).status_code == 200
    finally:
        contact["ID"] = before


@pytest.mark.parametrize(("field", "value", "says"), [
    ("RESPONSIBLE_ID", "NO_SUCH_VALUE_Ω", "Assignee"),
    ("RESPONSIBLE_ID", 999999, "Assignee"),
    ("CREATED_BY", "1e30", "Created by"),
    ("AUDITORS", ["1", "nobody"], "Observers"),
    ("GROUP_ID", "abc", "GROUP_ID"),
    ("DEADLINE", "2026-13-45T99:99:99+03:00", "DEADLINE"),
])
def test_a_write_the_portal_would_refuse_is_refused_and_changes_nothing(portal, field, value, says):
    tid = min(portal.app.tables["tasks"].rows)
    before = dict(portal.app.tables["tasks"].rows[tid])
    answer = _call(portal, "tasks.task.update", taskId=tid, fields={"TITLE": "renamed", field: value})
    assert answer.status_code == 400 and answer.json()["error"] == "ERROR_CORE"
    assert says in answer.json()["error_description"]
    assert "not found" not in answer.json()["error_description"].lower()  # that says the task is gone
    assert portal.app.tables["tasks"].rows[tid] == before  # not even the valid TITLE
    created = _call(portal, "tasks.task.add", fields={"TITLE": "new", "RESPONSIBLE_ID": 1, field: value})
    assert created.status_code == 400


def test_a_valid_person_is_written(portal):
    tid = min(portal.app.tables["tasks"].rows)
    uid = max(portal.app.tables["users"].rows)
    answer = _call(portal, "tasks.task.update", taskId=tid, fields={"RESPONSIBLE_ID": str(uid), "AUDITORS": [uid]})
    assert answer.status_code == 200, answer.text
    task = answer.json()["result"]["task"]
    assert task["responsibleId"] == str(uid) and task["auditors"] == [str(uid)]


@pytest.mark.parametrize(("method", "table", "field"), [
    ("crm.deal.update", "deals", "BEGINDATE"), ("crm.contact.update", "contacts", "BIRTHDATE"),
    ("tasks.task.update", "tasks", "DEADLINE")])
def test_a_date_past_the_portals_calendar_is_refused_not_a_500(portal, method, table, field):
    """9999-12-31T23:59:59Z is in year 10000 in the portal's +03:00."""
    rid = min(portal.app.tables[table].rows)
    key = "taskId" if method.startswith("tasks.") else "id"
    answer = _call(portal, method, **{key: rid, "fields": {field: "9999-12-31T23:59:59Z"}})
    assert answer.status_code == 400 and answer.json()["error"] == "ERROR_CORE", answer.text


def test_a_listing_prints_a_held_value_as_it_is(portal):
    """Not tidied into something valid: the sync reading it must be the one to set it aside."""
    tid = min(portal.app.tables["tasks"].rows)
    task = portal.app.tables["tasks"].rows[tid]
    before = task["ufCrmTask"], task["responsibleId"]
    task["ufCrmTask"], task["responsibleId"] = 10**30, "NO_SUCH_VALUE_Ω"
    try:
        listed = _call(portal, "tasks.task.list", select=["*", "UF_CRM_TASK"]).json()["result"]["tasks"]
    finally:
        task["ufCrmTask"], task["responsibleId"] = before
    mine = next(t for t in listed if t["id"] == str(tid))
    assert mine["ufCrmTask"] == 10**30 and mine["responsibleId"] == "NO_SUCH_VALUE_Ω"
    assert mine["responsibleName"] is None  # no such user: no name
