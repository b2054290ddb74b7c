"""Faults timed against a write: ``-after`` applies the write and then spoils the answer, ``-before``
does not apply it, on every write route of both fakes (directly and inside a Bitrix24 ``batch``)."""

import pytest
import requests

AMO = {"Authorization": "Bearer demo-token"}
BROKEN = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout, ValueError)


def amo_write(server, name):
    return requests.post(server.url + "/api/v4/contacts", json=[{"first_name": name}], headers=AMO, timeout=1)


def b24_direct(server, name):
    return requests.post(server.url + "/rest/1/demo/crm.contact.add", json={"fields": {"NAME": name}}, timeout=1)


def b24_batch(server, name):
    return requests.post(server.url + "/rest/1/demo/batch", timeout=1,
                         json={"halt": 0, "cmd": {"a": f"crm.contact.add?fields[NAME]={name}"}})


WRITES = {"amocrm": [amo_write], "bitrix24": [b24_direct, b24_batch]}
CASES = [(crm, write) for crm, writes in WRITES.items() for write in writes]


def names(server, crm):
    key = "first_name" if crm == "amocrm" else "NAME"
    return [r.get(key) for r in server.app.table("contacts").rows.values()]


def answer(write, server, name):
    try:
        response = write(server, name)
        response.json()
        return response.status_code
    except BROKEN:
        return None


@pytest.mark.parametrize("crm, write", CASES, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("fault", ["truncate-after", "drop-after", "hang-after", "500-after"])
def test_after_faults_apply_the_write_then_spoil_the_answer(fake_crm, crm, write, fault):
    server = fake_crm(crm, contacts=2, rate_limit=False)
    server.faults.add_spec(f"{fault}:x1").hang_seconds = 2
    assert answer(write, server, "Applied") in (None, 500)
    assert names(server, crm).count("Applied") == 1
    assert server.faults.injected == {fault: 1}


@pytest.mark.parametrize("crm, write", CASES, ids=lambda v: getattr(v, "__name__", v))
@pytest.mark.parametrize("fault", ["429-before", "drop-before", "truncate-before"])
def test_before_faults_do_not_apply_the_write(fake_crm, crm, write, fault):
    server = fake_crm(crm, contacts=2, rate_limit=False)
    server.faults.add_spec(f"{fault}:x1")
    assert answer(write, server, "NotApplied") in (None, 429)
    assert "NotApplied" not in names(server, crm)
    assert answer(write, server, "NotApplied") == 200  # counted: the next write goes through
    assert names(server, crm).count("NotApplied") == 1


def test_timed_faults_let_reads_through(fake_crm):
    server = fake_crm("bitrix24", contacts=2, rate_limit=False, faults=["drop-after:x1", "500-before:x1"])
    listing = requests.post(server.url + "/rest/1/demo/batch", timeout=2,
                            json={"halt": 0, "cmd": {"a": "crm.contact.list?select[]=ID"}})
    assert listing.status_code == 200 and len(listing.json()["result"]["result"]["a"]) == 2
    assert requests.get(server.url + "/rest/1/demo/profile", timeout=2).status_code == 200
    assert server.faults.injected == {}


def test_a_batch_fault_names_the_write_inside(fake_crm):
    server = fake_crm("bitrix24", contacts=2, rate_limit=False, faults=["drop-after:x1@crm.deal.update"])
    assert answer(b24_batch, server, "Contact") == 200  # a contact add is not the write named
    assert server.faults.injected == {}


# Every write route of both fakes: (crm, table, kind, send(server, id, marker) -> response)
def _amo(method, path, item):
    return lambda server, rid, marker: requests.request(
        method, server.url + path, headers=AMO, timeout=1, json=[{**({"id": rid} if rid else {}), **item(marker)}])


def _b24(method, params, batched):
    def send(server, rid, marker):
        body = params(rid, marker)
        if not batched:
            return requests.post(f"{server.url}/rest/1/demo/{method}", json=body, timeout=1)
        from crmsync.phpquery import build_query

        return requests.post(server.url + "/rest/1/demo/batch", timeout=1,
                             json={"halt": 0, "cmd": {"w": f"{method}?{build_query(body)}"}})
    return send


ROUTES = [
    ("amocrm", "contacts", "create", _amo("POST", "/api/v4/contacts", lambda m: {"first_name": m})),
    ("amocrm", "contacts", "update", _amo("PATCH", "/api/v4/contacts", lambda m: {"first_name": m})),
    ("amocrm", "leads", "create", _amo("POST", "/api/v4/leads", lambda m: {"name": m})),
    ("amocrm", "leads", "update", _amo("PATCH", "/api/v4/leads", lambda m: {"name": m})),
    ("amocrm", "tasks", "create", _amo("POST", "/api/v4/tasks", lambda m: {"text": m, "complete_till": 1893456000})),
    ("amocrm", "tasks", "update", _amo("PATCH", "/api/v4/tasks", lambda m: {"text": m})),
]
for _batched in (False, True):
    for _entity, _table, _field in (("contact", "contacts", "NAME"), ("deal", "deals", "TITLE")):
        ROUTES += [
            ("bitrix24", _table, "create", _b24(f"crm.{_entity}.add", lambda r, m, f=_field: {"fields": {f: m}},
                                                 _batched)),
            ("bitrix24", _table, "update", _b24(f"crm.{_entity}.update",
                                                 lambda r, m, f=_field: {"id": r, "fields": {f: m}}, _batched)),
            ("bitrix24", _table, "delete", _b24(f"crm.{_entity}.delete", lambda r, m: {"id": r}, _batched)),
        ]
    ROUTES += [
        ("bitrix24", "tasks", "create", _b24("tasks.task.add",
                                             lambda r, m: {"fields": {"TITLE": m, "RESPONSIBLE_ID": 1}}, _batched)),
        ("bitrix24", "tasks", "update", _b24("tasks.task.update", lambda r, m: {"taskId": r, "fields": {"TITLE": m}},
                                             _batched)),
        ("bitrix24", "tasks", "delete", _b24("tasks.task.delete", lambda r, m: {"taskId": r}, _batched)),
    ]
ROUTE_IDS = [f"{crm}-{table}-{kind}-{i}" for i, (crm, table, kind, _) in enumerate(ROUTES)]


def _applied(server, table, kind, rid, marker):
    rows = server.app.table(table).rows
    if kind == "delete":
        return rid not in rows
    return any(marker in (v for v in row.values() if isinstance(v, str)) for row in rows.values())


@pytest.mark.parametrize("crm, table, kind, send", ROUTES, ids=ROUTE_IDS)
@pytest.mark.parametrize("fault, applied", [("truncate-after", True), ("500-after", True), ("429-before", False)])
def test_every_write_route_can_lose_its_answer_after_the_write(fake_crm, crm, table, kind, send, fault, applied):
    server = fake_crm(crm, contacts=3, deals=3, tasks=3, rate_limit=False, faults=[f"{fault}:x1"])
    rid = min(server.app.table(table).rows) if kind != "create" else None
    try:
        status = send(server, rid, "Marker").status_code
    except BROKEN:
        status = None
    assert server.faults.injected == {fault: 1}
    assert status == {"truncate-after": 200, "500-after": 500, "429-before": 429}[fault] or status is None
    assert _applied(server, table, kind, rid, "Marker") is applied
