"""``tasks.task.*``: filter, order and select in UPPER_CASE, answers in camelCase with string values.

A task is stored compactly (the fields a sync cares about); :func:`full` expands it to the complete
shape the real API prints (``reference/fixtures/bitrix24/tasks_task_add_result.json``), with names of
the responsible person and creator looked up from the portal's users. ``ufCrmTask`` (and the other
user fields) are printed by ``list``/``get`` only when ``UF_CRM_TASK`` is selected, as on the portal.

Writes validate like the portal (a person must be one of its users, ids are integers), and a listing
prints whatever a task holds: tests put values straight into the store that no write would accept,
and a real portal renders what it holds rather than failing the whole list.
"""

from __future__ import annotations

from typing import Any

from crmsync.phpquery import as_list

from . import dates, filters
from .entities import camel
from .errors import ApiError
from .registry import Call, Result, method

# UPPER name → (camelCase key, filter kind, getFields type, title)
FIELDS: dict[str, tuple[str, str, str, str]] = {
    "ID": ("id", "int", "integer", "ID"),
    "PARENT_ID": ("parentId", "int", "integer", "Parent task ID"),
    "TITLE": ("title", "str", "string", "Name"),
    "DESCRIPTION": ("description", "str", "string", "Description"),
    "MARK": ("mark", "str", "enum", "Rating"),
    "PRIORITY": ("priority", "int", "enum", "Priority"),
    "STATUS": ("status", "int", "enum", "Status"),
    "REAL_STATUS": ("status", "int", "enum", "Status"),
    "MULTITASK": ("multitask", "str", "enum", "Multi-user task"),
    "NOT_VIEWED": ("notViewed", "str", "enum", "Not viewed"),
    "REPLICATE": ("replicate", "str", "enum", "Recurring task"),
    "GROUP_ID": ("groupId", "int", "integer", "Project"),
    "STAGE_ID": ("stageId", "int", "integer", "Stage"),
    "CREATED_BY": ("createdBy", "int", "integer", "Created by"),
    "CREATED_DATE": ("createdDate", "date", "datetime", "Created on"),
    "RESPONSIBLE_ID": ("responsibleId", "int", "integer", "Assignee"),
    "ACCOMPLICES": ("accomplices", "int", "array", "Participants"),
    "AUDITORS": ("auditors", "int", "array", "Observers"),
    "CHANGED_BY": ("changedBy", "int", "integer", "Modified by"),
    "CHANGED_DATE": ("changedDate", "date", "datetime", "Modified on"),
    "STATUS_CHANGED_BY": ("statusChangedBy", "int", "integer", "Status changed by"),
    "STATUS_CHANGED_DATE": ("statusChangedDate", "date", "datetime", "Status changed on"),
    "CLOSED_BY": ("closedBy", "int", "integer", "Closed by"),
    "CLOSED_DATE": ("closedDate", "date", "datetime", "Closed on"),
    "ACTIVITY_DATE": ("activityDate", "date", "datetime", "Last activity"),
    "DATE_START": ("dateStart", "date", "datetime", "Started on"),
    "DEADLINE": ("deadline", "date", "datetime", "Deadline"),
    "START_DATE_PLAN": ("startDatePlan", "date", "datetime", "Planned start"),
    "END_DATE_PLAN": ("endDatePlan", "date", "datetime", "Planned end"),
    "GUID": ("guid", "str", "string", "GUID"),
    "XML_ID": ("xmlId", "str", "string", "External ID"),
    "TAGS": ("tags", "str", "array", "Tags"),
    "UF_CRM_TASK": ("ufCrmTask", "str", "array", "CRM items"),
}
WRITABLE = {"TITLE", "DESCRIPTION", "PRIORITY", "STATUS", "GROUP_ID", "CREATED_BY", "RESPONSIBLE_ID", "ACCOMPLICES",
            "AUDITORS", "DEADLINE", "START_DATE_PLAN", "END_DATE_PLAN", "XML_ID", "TAGS", "UF_CRM_TASK",
            "PARENT_ID"}
UF_KEYS = ("ufCrmTask", "ufTaskWebdavFiles", "ufMailMessage")
STATUS_NAMES = {"1": "New", "2": "Pending", "3": "In progress", "4": "Supposedly completed", "5": "Completed",
                "6": "Deferred", "7": "Declined"}


PEOPLE = {"RESPONSIBLE_ID": "Assignee", "CREATED_BY": "Created by"}  # must be users of the portal
INTEGERS = {"GROUP_ID", "PARENT_ID", "PRIORITY"}
PEOPLE_LISTS = {"ACCOMPLICES", "AUDITORS"}


def _user(app: Any, uid: Any) -> dict[str, Any]:
    key = _whole(uid)
    return (app.tables["users"].rows.get(key) or {}) if key is not None else {}


def _whole(value: Any) -> int | None:
    """A stored id as the integer it names; None for anything that names none."""
    text = str(value).strip()
    return int(text) if text.isascii() and text.isdigit() else None


def _listed(value: Any) -> Any:
    """A stored list field as printed: a copy of the list, or whatever else a test put there, as it is
    (a sync must set that aside, so the fake must not tidy it into something valid)."""
    if value is None or value is False or value == "":
        return []
    return list(value) if isinstance(value, (list, tuple)) else value


def _when(app: Any, value: Any) -> Any:
    """A stored timestamp as a datetime; None when it is none."""
    return dates.parse(str(value), app.config.timezone) if value not in (None, "", False) else None


def _person(app: Any, uid: str) -> dict[str, str]:
    u = _user(app, uid)
    return {"id": str(uid), "name": f"{u.get('NAME', '')} {u.get('LAST_NAME', '')}".strip(),
            "link": f"/company/personal/user/{uid}/", "icon": "/bitrix/images/tasks/default_avatar.png"}


def _who(app: Any, prefix: str, uid: str) -> dict[str, Any]:
    u = _user(app, uid)
    return {f"{prefix}Name": u.get("NAME"), f"{prefix}LastName": u.get("LAST_NAME"),
            f"{prefix}SecondName": u.get("SECOND_NAME") or None, f"{prefix}Login": u.get("EMAIL"),
            f"{prefix}WorkPosition": u.get("WORK_POSITION"), f"{prefix}Photo": None}


def sub_status(app: Any, t: dict[str, Any]) -> str:
    if t["status"] in ("2", "3") and t.get("deadline"):
        due = _when(app, t["deadline"])
        if due is not None and due.timestamp() < app.clock.now():
            return "-1"  # overdue
    return t["status"]


def full(app: Any, t: dict[str, Any]) -> dict[str, Any]:
    """The complete task as ``tasks.task.add/get`` print it (key order as the recorded response)."""
    deadline = _when(app, t.get("deadline"))
    return {
        "id": t["id"], "title": t["title"], "description": t["description"], "descriptionInBbcode": "Y",
        "declineReason": None, "priority": t["priority"], "status": t["status"], "notViewed": "N",
        "statusComplete": "2" if t["status"] == "5" else "1", "multitask": "N", "stageId": "0",
        "responsibleId": t["responsibleId"], **_who(app, "responsible", t["responsibleId"]),
        "dateStart": None, "durationFact": None, "timeEstimate": "0", "timeSpentInLogs": None, "replicate": "N",
        "deadline": t.get("deadline"), "deadlineOrig": deadline.strftime("%Y-%m-%d %H:%M:%S") if deadline else None,
        "startDatePlan": t.get("startDatePlan"), "endDatePlan": t.get("endDatePlan"),
        "createdBy": t["createdBy"], **_who(app, "createdBy", t["createdBy"]), "createdDate": t["createdDate"],
        "changedBy": t["changedBy"], "changedDate": t["changedDate"], "statusChangedBy": t["statusChangedBy"],
        "statusChangedDate": t["statusChangedDate"], "closedBy": t.get("closedBy"), "closedDate": t.get("closedDate"),
        "activityDate": t.get("activityDate"), "guid": t["guid"], "xmlId": t.get("xmlId"), "mark": None,
        "allowChangeDeadline": "N", "allowTimeTracking": "N", "matchWorkTime": "N", "taskControl": "N",
        "addInReport": "N", "groupId": t.get("groupId") or "0", "forumTopicId": None, "parentId": t.get("parentId"),
        "commentsCount": None, "serviceCommentsCount": None, "forumId": None, "siteId": "s1", "subordinate": "N",
        "exchangeModified": None, "exchangeId": None, "outlookVersion": "1", "viewedDate": None,
        "deadlineCounted": "0", "forkedByTemplateId": None, "favorite": "N", "sorting": None,
        "durationPlanSeconds": None, "durationTypeAll": "days", "durationPlan": None, "durationType": "days",
        "isMuted": "N", "isPinned": "N", "isPinnedInGroup": "N",
        "ufCrmTask": _listed(t.get("ufCrmTask")) or False, "ufTaskWebdavFiles": False,
        "ufMailMessage": None, "auditors": _listed(t.get("auditors")),
        "accomplices": _listed(t.get("accomplices")), "tags": _listed(t.get("tags")), "checklist": [],
        "files": [], "dependsOn": [], "group": [], "creator": _person(app, t["createdBy"]),
        "responsible": _person(app, t["responsibleId"]), "newCommentsCount": 0,
        "action": {"accept": False, "decline": False, "complete": t["status"] != "5", "approve": False,
                   "disapprove": False, "start": t["status"] == "2", "pause": t["status"] == "3",
                   "delegate": True, "remove": True, "edit": True, "defer": True, "renew": t["status"] == "5",
                   "create": True, "changeDeadline": True, "checklistAddItems": True, "addFavorite": True,
                   "deleteFavorite": False, "rate": True, "edit.originator": False, "checklist.reorder": True,
                   "elapsedtime.add": True, "dayplan.timer.toggle": False, "edit.plan": True, "checklist.add": True,
                   "favorite.add": True, "favorite.delete": False},
    }


def selected(app: Any, t: dict[str, Any], select: Any) -> dict[str, Any]:
    """A task restricted to ``select`` (UPPER names); no select: everything but the user fields."""
    whole = full(app, t)
    wanted = [str(s).strip().upper() for s in as_list(select) if str(s).strip()]
    keys = [k for k in whole if k not in UF_KEYS] if not wanted or "*" in wanted else []
    for name in wanted:
        if name == "UF_*":
            keys += list(UF_KEYS)
        elif name in FIELDS:
            keys.append(FIELDS[name][0])
        elif name.startswith("UF_"):
            keys.append(camel(name))
    keys.append("id")
    out = {k: v for k, v in whole.items() if k in keys and k != "subStatus"}
    out["group"] = []
    if "status" in out:
        out["subStatus"] = sub_status(app, t)
    return out


def resolve(name: str) -> tuple[str, str] | None:
    upper = name.upper()
    if upper in FIELDS:
        return FIELDS[upper][0], FIELDS[upper][1]
    hit = next((v for v in FIELDS.values() if v[0] == name), None)
    return (hit[0], hit[1]) if hit else None


def _read(t: dict[str, Any], key: str) -> Any:
    return t.get(key)


def _task_id(call: Call) -> int:
    raw = call.params.get("taskId", call.params.get("id"))
    try:
        tid = int(float(str(raw)))
    except (TypeError, ValueError):
        tid = 0
    if tid <= 0:
        raise ApiError(400, "ERROR_CORE", "Wrong task ID<br>")
    return tid


def _find(call: Call) -> dict[str, Any]:
    t = call.app.tables["tasks"].rows.get(_task_id(call))
    if t is None:
        raise ApiError(400, "ERROR_CORE", "Task not found or not accessible<br>")  # UNCONFIRMED wording
    return t


def _fields(call: Call) -> dict[str, Any]:
    fields = call.params.get("fields")
    if fields is None:
        raise ApiError(400, "100", "Could not find value for parameter {fields} (internal error)")
    if not isinstance(fields, dict):
        raise ApiError(400, "ERROR_CORE", "Parameter 'fields' must be array<br>")
    out = {}
    for key, value in fields.items():
        name = str(key).upper() if str(key).upper() in FIELDS else next(
            (u for u, v in FIELDS.items() if v[0] == key), None)
        if name in WRITABLE:
            out[name] = value
    return out


def _apply(call: Call, task: dict[str, Any], fields: dict[str, Any]) -> None:
    """Write ``fields`` into ``task``; a refused value leaves the task as it was."""
    tz = call.app.config.timezone
    now = dates.iso(call.app.clock.now(), tz)
    user = str(call.user_id)
    t = dict(task)
    for name, value in fields.items():
        key = FIELDS[name][0]
        if name in ("DEADLINE", "START_DATE_PLAN", "END_DATE_PLAN"):
            try:
                t[key] = dates.normalise(value, tz)
            except (ValueError, TypeError, OverflowError):
                raise ApiError(400, "ERROR_CORE", f"Invalid date in field {name}: {value!r}<br>") from None
        elif FIELDS[name][2] == "array":
            t[key] = [str(v) for v in as_list(value) if str(v) != ""]
            if name in PEOPLE_LISTS:
                for uid in t[key]:
                    _check_user(call.app, FIELDS[name][3], uid)
        elif name in PEOPLE and value not in (None, ""):
            t[key] = _check_user(call.app, PEOPLE[name], value)
        elif name in INTEGERS and value not in (None, ""):
            if _whole(value) is None:  # UNCONFIRMED wording
                raise ApiError(400, "ERROR_CORE", f"Field {name} must be an integer, got {value!r}<br>")
            t[key] = str(_whole(value))
        elif name == "STATUS":
            status = str(value)
            if status not in STATUS_NAMES:
                raise ApiError(400, "ERROR_CORE", f"Invalid task status {value!r}<br>")
            if status != t.get("status"):
                t["statusChangedDate"], t["statusChangedBy"] = now, user
            t["status"] = status
            t["closedDate"], t["closedBy"] = (now, user) if status == "5" else (None, None)
        else:
            t[key] = None if value is None else str(value)
    t["changedDate"], t["changedBy"], t["activityDate"] = now, user, now
    task.update(t)


def _check_user(app: Any, title: str, value: Any) -> str:
    """The id of one of the portal's users, as stored; the portal refuses anyone else."""
    uid = _whole(value)
    if uid is None or uid not in app.tables["users"].rows:
        # UNCONFIRMED wording; not "not found", which a client reads as "this task was deleted"
        raise ApiError(400, "ERROR_CORE", f"{title}: the portal has no user {value!r}<br>")
    return str(uid)


@method("tasks.task.list")
def task_list(call: Call) -> Result:
    app = call.app
    tz = app.config.timezone
    conds = filters.compile_filter(call.params.object("filter"), resolve, tz)
    rows = [t for t in app.tables["tasks"].rows.values() if filters.matches(t, conds, _read, tz)]
    rows = filters.order_rows(rows, filters.parse_order(call.params.object("order"), resolve), _read, tz, "id")
    chunk, total, nxt = filters.page(rows, call.params.get("start"), app.config.page_size)
    select = call.params.get("select")
    return Result({"tasks": [selected(app, t, select) for t in chunk]}, total, nxt)


@method("tasks.task.get")
def task_get(call: Call) -> Result:
    return Result({"task": selected(call.app, _find(call), call.params.get("select"))})


@method("tasks.task.add")
def task_add(call: Call) -> Result:
    fields = _fields(call)
    if not str(fields.get("TITLE") or "").strip():
        raise ApiError(400, "ERROR_CORE", "Task title is not specified<br>")
    if not str(fields.get("RESPONSIBLE_ID") or "").strip():
        raise ApiError(400, "ERROR_CORE", "Assignee is not specified<br>")  # UNCONFIRMED wording
    table = call.app.tables["tasks"]
    tid = table.new_id()
    now = dates.iso(call.app.clock.now(), call.app.config.timezone)
    user = str(call.user_id)
    t: dict[str, Any] = {"id": str(tid), "title": "", "description": "", "status": "2", "priority": "1",
                         "responsibleId": user, "createdBy": user, "createdDate": now, "changedBy": user,
                         "changedDate": now, "statusChangedBy": user, "statusChangedDate": now, "closedBy": None,
                         "closedDate": None, "deadline": None, "startDatePlan": None, "endDatePlan": None,
                         "groupId": "0", "ufCrmTask": [], "auditors": [], "accomplices": [], "tags": [],
                         "guid": "{" + f"{tid:08x}-b24f-4a4e-9fa4-{tid * 7919:012x}"[-36:] + "}",
                         "activityDate": now}
    _apply(call, t, fields)
    table.rows[tid] = t
    return Result({"task": full(call.app, t)})


@method("tasks.task.update")
def task_update(call: Call) -> Result:
    t = _find(call)
    _apply(call, t, _fields(call))
    return Result({"task": full(call.app, t)})


@method("tasks.task.complete")
def task_complete(call: Call) -> Result:
    t = _find(call)
    _apply(call, t, {"STATUS": "5"})
    return Result({"task": full(call.app, t)})  # UNCONFIRMED: shape of the answer


@method("tasks.task.delete")
def task_delete(call: Call) -> Result:
    _find(call)
    call.app.delete_record("tasks", _task_id(call))
    return Result({"task": True})


@method("tasks.task.getfields")
def task_fields(call: Call) -> Result:
    out: dict[str, Any] = {}
    for name, (_, _, type_, title) in FIELDS.items():
        if name == "REAL_STATUS":
            continue
        meta: dict[str, Any] = {"title": title, "type": type_}
        if name == "ID":
            meta["primary"] = True
        if name in ("TITLE", "RESPONSIBLE_ID"):
            meta["required"] = True
        if name == "STATUS":
            meta["values"] = dict(STATUS_NAMES)
            meta["default"] = 2
        if name == "PRIORITY":
            meta["values"] = {"0": "Low", "1": "Normal", "2": "High"}
            meta["default"] = 1
        out[name] = meta
    return Result({"fields": out})
