"""Every recorded real Bitrix24 response, replayed as the same kind of call against the fake.

The fake's answer must have the recording's keys, types and nesting (values are ignored). Records
(rows, items, tasks) may carry more fields than a recording that selected only a few, and ``time``
blocks may carry the ``operating`` fields that older recordings predate; everything else is exact.
"""

import json
import re
from pathlib import Path

import pytest
import requests

from tests.contract.shapes import assert_same_shape

FIXTURES = Path(__file__).parent / "bitrix24_recorded"
UF_KEY = re.compile(r"^ufCrm\d*_\w+$")


def _norm(key: str) -> str:
    return "ufCrm*" if UF_KEY.match(key) else key  # smart-process UF names carry their type id


def _in_time(path: str) -> bool:
    """Inside a ``time`` block: newer fields may appear and PHP prints a zero float as 0."""
    return "time" in path.split(".")[-2:] or ".result_time." in path


def load(name):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def records(path):
    """Record-level dicts, where the fake may print more fields than a narrow recording."""
    return bool(re.search(r"(\.result\[\d+\]|\.items\[\d+\]|\.item|\.task|\.tasks\[\d+\]|\.result\.\w+)$", path))


def call(server, method, **params):
    r = requests.post(f"{server.url}/rest/1/demo/{method}", json=params, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def portal(fake_crm):
    return fake_crm("bitrix24", rate_limit=False, leads=120, tasks=120)


def check(fixture, body, loose=records):
    assert_same_shape(load(fixture), body, extra_keys_ok=lambda p: loose(p) or _in_time(p), key=_norm,
                      any_number=_in_time)


def test_crm_lead_list_first_page(portal):
    check("crm_lead_list_page1_next50_total7531.json",
          call(portal, "crm.lead.list", select=["ID", "TITLE"], order={"ID": "ASC"}), loose=lambda p: False)


def test_crm_lead_list_single_page(fake_crm):
    server = fake_crm("bitrix24", rate_limit=False, leads=39)
    body = call(server, "crm.lead.list", select=["ID", "TITLE"])
    assert body["total"] == 39 and "next" not in body
    check("crm_lead_list_single_page_total39.json", body, loose=lambda p: False)


def test_batch_list_empty(portal):
    check("batch_list_method_empty_result.json",
          call(portal, "batch", halt=0, cmd={"order0000000000": "crm.lead.list?filter[ID]=0&select[]=ID"}))


def test_crm_item_list(portal):
    meta = call(portal, "crm.item.fields", entityTypeId=2)["result"]["fields"]
    date_uf = next(k for k, m in meta.items() if k.startswith("ufCrm") and m["type"] == "date")
    body = call(portal, "crm.item.list", entityTypeId=2, select=["id", "title", date_uf],
                filter={f"!{date_uf}": "", "<=id": 40}, order={"id": "ASC"})
    body["result"]["items"] = body["result"]["items"][:3]
    check("crm_item_list_spa_items.json", body, loose=lambda p: False)


def test_batch_crm_item_add(portal):
    check("batch_crm_item_add.json", call(portal, "batch", halt=0, cmd={
        "order0000000000": "crm.item.add?entityTypeId=2&fields[title]=From%20the%20contract%20test"}))


def test_batch_crm_contact_add(portal):
    check("batch_crm_contact_add.json", call(portal, "batch", halt=0, cmd={
        "order0000000000": "crm.contact.add?fields[NAME]=Contract&fields[LAST_NAME]=Test"}), loose=lambda p: False)


def test_batch_two_errors(portal):
    check("batch_two_errors_result_error_list.json",
          call(portal, "batch", halt=0, cmd={"0": "crm.lead.get?id=0", "1": "crm.lead.get?id=999999"}),
          loose=lambda p: False)


def test_batch_mixed(portal):
    check("batch_mixed_success_and_errors.json", call(portal, "batch", halt=0, cmd={
        "0": "crm.lead.get?id=0", "1": "crm.lead.get?id=999999", "35943": "crm.lead.get?id=5"}))


def test_tasks_task_add(portal):
    check("tasks_task_add_result.json", call(portal, "tasks.task.add", fields={
        "TITLE": "Contract", "RESPONSIBLE_ID": 1, "DESCRIPTION": "d", "DEADLINE": "2026-05-09", "TAGS": ["t"]}),
        loose=lambda p: False)


def test_tasks_task_list(portal):
    body = call(portal, "tasks.task.list", select=["ID", "STATUS"], order={"ID": "ASC"})
    assert body["next"] == 50 and body["total"] == 120
    check("tasks_task_list_page1_next50_total1570.json", body, loose=lambda p: False)
