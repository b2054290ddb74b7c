"""The demo: fake AmoCRM and Bitrix24 on loopback, read over their real APIs, then stopped.

This grows with the engine (pull, push, conflicts); today it proves the fakes serve real data
through the same HTTP protocols the connectors will use.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from crmsync.fakes import start_fake


@dataclass
class EntitySummary:
    entity: str
    count: int
    samples: list[str] = field(default_factory=list)


@dataclass
class CrmSummary:
    crm: str
    url: str
    entities: list[EntitySummary]
    requests: int


@dataclass
class DemoResult:
    crms: list[CrmSummary]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_demo(seed: int = 42, contacts: int = 60, deals: int = 40, tasks: int = 50,
             progress: Callable[[str], None] = lambda _: None) -> DemoResult:
    sizes = {"seed": seed, "contacts": contacts, "deals": deals, "tasks": tasks}
    out = []
    for crm, reader in (("amocrm", _read_amocrm), ("bitrix24", _read_bitrix24)):
        with start_fake(crm, **sizes) as server:
            progress(f"fake {crm} listening on {server.url}")
            with requests.Session() as http:
                entities = reader(http, server.url)
            out.append(CrmSummary(crm, server.url, entities, server.stats.total))
        progress(f"fake {crm} stopped")
    return DemoResult(out)


def _read_amocrm(http: requests.Session, url: str) -> list[EntitySummary]:
    http.headers["Authorization"] = "Bearer demo-token"
    out = []
    for entity, label in (("contacts", "contacts"), ("leads", "deals"), ("tasks", "tasks")):
        rows: list[dict[str, Any]] = []
        next_url: str | None = f"{url}/api/v4/{entity}?limit=250"
        while next_url:
            resp = _get(http, next_url)
            if resp.status_code == 204:
                break
            page = resp.json()
            rows.extend(page["_embedded"][entity])
            next_url = page["_links"].get("next", {}).get("href")
        out.append(EntitySummary(label, len(rows), [_amocrm_sample(entity, r) for r in rows[:3]]))
    return out


def _amocrm_sample(entity: str, row: dict[str, Any]) -> str:
    if entity == "tasks":
        return f"{row['text']} (due {row['complete_till']}, {'done' if row['is_completed'] else 'open'})"
    extra = ""
    for cf in row.get("custom_fields_values") or []:
        if cf.get("field_code") in ("PHONE", "EMAIL"):
            extra += f", {cf['values'][0]['value'].strip()}"
    if entity == "leads":
        extra = f", {row['price']}"
    return f"{row['name']}{extra}"


def _read_bitrix24(http: requests.Session, url: str) -> list[EntitySummary]:
    base = f"{url}/rest/1/demo/"
    out = []
    calls = (
        ("contacts", "crm.contact.list", {"select": ["ID", "NAME", "LAST_NAME", "PHONE"]}, "result"),
        ("deals", "crm.deal.list", {"select": ["ID", "TITLE", "OPPORTUNITY", "CURRENCY_ID"]}, "result"),
        ("tasks", "tasks.task.list", {"select": ["ID", "TITLE", "STATUS", "DEADLINE"]}, "tasks"),
    )
    for label, method, params, _ in calls:
        body = _post(http, base + method, params).json()
        rows = body["result"]["tasks"] if label == "tasks" else body["result"]
        samples = [_bitrix_sample(label, r) for r in rows[:3]]
        out.append(EntitySummary(label, int(body.get("total", len(rows))), samples))
    return out


def _bitrix_sample(label: str, row: dict[str, Any]) -> str:
    if label == "contacts":
        phone = (row.get("PHONE") or [{}])[0].get("VALUE", "")
        return f"{row['NAME']} {row['LAST_NAME']}".strip() + (f", {phone.strip()}" if phone else "")
    if label == "deals":
        return f"{row['TITLE']}, {row['OPPORTUNITY']} {row['CURRENCY_ID']}"
    return f"{row['title']} (status {row['status']}, deadline {row.get('deadline')})"


def _get(http: requests.Session, url: str) -> requests.Response:
    return _send(http, "GET", url)


def _post(http: requests.Session, url: str, payload: dict[str, Any]) -> requests.Response:
    return _send(http, "POST", url, json=payload)


def _send(http: requests.Session, method: str, url: str, **kwargs: Any) -> requests.Response:
    # The fakes enforce the real rate limits; the demo waits as asked instead of failing.
    for _ in range(10):
        resp = http.request(method, url, timeout=30, **kwargs)
        if resp.status_code not in (429, 503):
            resp.raise_for_status()
            return resp
        time.sleep(float(resp.headers.get("Retry-After") or 1))
    resp.raise_for_status()
    return resp
