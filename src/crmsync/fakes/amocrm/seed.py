"""The seeded world as an AmoCRM account: users, pipelines, custom fields and native records.

Ids look like a real account's (7-8 digit record ids, 6 digit field ids, the system stages 142/143
shared by every pipeline) and are handed out in creation order, so a larger id means a newer record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import world as w
from ..base import Table
from .fields import Enum, FieldBook, FieldDef

USER_IDS = [9411550, 9411874, 10230511, 10467992, 11874302]
WON, LOST = 142, 143
PHONE_ENUMS = ["WORK", "WORKDD", "MOB", "FAX", "HOME", "OTHER"]
EMAIL_ENUMS = ["WORK", "PRIV", "OTHER"]
PHONE_KIND = {"MOBILE": "MOB"}
EMAIL_KIND = {"PRIVATE": "PRIV"}
TASK_TYPE_IDS = {"call": 1, "meeting": 2, "email": 3105421}
TASK_TYPES = [
    {"id": 1, "name": "Связаться", "color": None, "icon_id": None, "code": "FOLLOW_UP"},
    {"id": 2, "name": "Встреча", "color": None, "icon_id": None, "code": "MEETING"},
    {"id": 3105421, "name": "Письмо", "color": "#ffc8c8", "icon_id": 5, "code": None},
]
FIRST_IDS = {"companies": 18401201, "contacts": 21300017, "leads": 9800041, "tasks": 4300113}


@dataclass
class Status:
    id: int
    name: str
    pipeline_id: int
    sort: int
    type: int  # 1 = the "unsorted" stage, 0 = any other
    color: str
    key: str | None = None


@dataclass
class Pipeline:
    id: int
    name: str
    sort: int
    is_main: bool
    statuses: list[Status] = field(default_factory=list)

    def status(self, status_id: int) -> Status | None:
        return next((s for s in self.statuses if s.id == status_id), None)

    @property
    def first_open(self) -> Status:
        """Where a lead created without a status lands: the first stage after 'unsorted'."""
        return next(s for s in self.statuses if s.type == 0)


@dataclass
class Account:
    id: int
    subdomain: str
    users: list[dict[str, Any]]
    pipelines: list[Pipeline]
    fields: dict[str, FieldBook]
    tags: dict[str, int] = field(default_factory=dict)
    next_tag_id: int = 412051

    @property
    def current_user_id(self) -> int:
        return int(self.users[0]["id"])

    def user_ids(self) -> set[int]:
        return {int(u["id"]) for u in self.users}

    def pipeline(self, pipeline_id: int) -> Pipeline | None:
        return next((p for p in self.pipelines if p.id == pipeline_id), None)

    @property
    def main_pipeline(self) -> Pipeline:
        return next(p for p in self.pipelines if p.is_main)

    def tag(self, name: str) -> dict[str, Any]:
        if name not in self.tags:
            self.tags[name] = self.next_tag_id
            self.next_tag_id += 1
        return {"id": self.tags[name], "name": name, "color": None}


def build_account(account_id: int, subdomain: str, world: w.World) -> Account:
    users = [{"id": USER_IDS[u.index] if u.index < len(USER_IDS) else 12000000 + u.index,
              "name": f"{u.first_name} {u.last_name}", "email": u.email, "lang": "ru",
              "rights": {"is_admin": u.index == 0, "is_free": False, "is_active": True, "group_id": None,
                         "role_id": None}}
             for u in world.users]
    return Account(account_id, subdomain, users, _pipelines(), _field_books())


def _pipelines() -> list[Pipeline]:
    out = []
    next_status = 56167126
    colors = ["#c1c1c1", "#99ccff", "#ffff99", "#ffcc66", "#deff81", "#87f2c0"]
    for p_index, (name, stages) in enumerate(w.PIPELINES):
        pid = 6612862 + p_index * 128
        pipe = Pipeline(pid, name, sort=(p_index + 1) * 1, is_main=p_index == 0)
        pipe.statuses.append(Status(next_status, "Неразобранное", pid, 10, 1, "#c1c1c1"))
        next_status += 4
        sort = 20
        for key, title in stages:
            if key == "won":
                pipe.statuses.append(Status(WON, title, pid, 10000, 0, "#ccff66", key))
            elif key == "lost":
                pipe.statuses.append(Status(LOST, title, pid, 11000, 0, "#d5d8db", key))
            else:
                pipe.statuses.append(Status(next_status, title, pid, sort, 0, colors[sort // 10 % len(colors)], key))
                next_status += 4
                sort += 10
        out.append(pipe)
    return out


class _Ids:
    def __init__(self, start: int) -> None:
        self.value = start

    def take(self) -> int:
        self.value += 2
        return self.value


def _field_books() -> dict[str, FieldBook]:
    fids, eids = _Ids(460257), _Ids(251011)

    def enums(values: list[str]) -> list[Enum]:
        return [Enum(eids.take(), v, (i + 1) * 2) for i, v in enumerate(values)]

    def predefined(entity: str) -> list[FieldDef]:
        return [FieldDef(fids.take(), "Телефон", "multitext", entity, 4, "PHONE", enums(PHONE_ENUMS), True),
                FieldDef(fids.take(), "Email", "multitext", entity, 6, "EMAIL", enums(EMAIL_ENUMS), True)]

    def neutral(entity: str, spec: list[tuple[str, str, list[str] | None]], sort: int) -> list[FieldDef]:
        return [FieldDef(fids.take(), w.FIELD_TITLES[key], kind, entity, sort + i * 2, None,
                         enums(options) if options else [], False, key)
                for i, (key, kind, options) in enumerate(spec)]

    contacts = [*predefined("contacts"),
                FieldDef(fids.take(), "Должность", "text", "contacts", 2, "POSITION", is_predefined=True),
                *neutral("contacts", w.CONTACT_FIELDS, 500)]
    companies = [*predefined("companies"), FieldDef(fids.take(), "Web", "url", "companies", 8, "WEB",
                                                    is_predefined=True)]
    leads = [*neutral("leads", w.DEAL_FIELDS, 500),
             FieldDef(fids.take(), "Валюта", "select", "leads", 600, "CURRENCY", enums(["RUB", "USD"]))]
    return {"contacts": FieldBook(contacts), "companies": FieldBook(companies), "leads": FieldBook(leads)}


def _neutral_values(book: FieldBook, custom: dict[str, object]) -> list[dict[str, Any]]:
    out = []
    for fdef in book.fields:
        if fdef.key is None or fdef.key not in custom:
            continue
        raw = custom[fdef.key]
        if fdef.type in ("select", "multiselect"):
            chosen = raw if isinstance(raw, list) else [raw]
            values = [fdef.read_value(None, fdef.enum_by_value(v)) for v in chosen]
        else:
            values = [fdef.read_value(raw)]
        out.append(fdef.entry(values))
    return out


def _by_creation(records: list[Any]) -> list[Any]:
    return sorted(records, key=lambda r: (r.created_at, r.index))


def _who(user: int, created: int, updated: int) -> dict[str, Any]:
    return {"responsible_user_id": user, "group_id": 0, "created_by": user, "updated_by": user,
            "created_at": created, "updated_at": updated}


def seed_tables(account: Account, world: w.World) -> dict[str, Table]:
    tables = {name: Table(name, next_id=start) for name, start in FIRST_IDS.items()}
    users = [int(u["id"]) for u in account.users]
    books = account.fields

    company_ids = []
    for i, name in enumerate(world.companies):
        rid = tables["companies"].new_id()
        created = w.EPOCH - w.YEAR + i * 7 * 86400
        tables["companies"].rows[rid] = {
            "id": rid, "name": name, **_who(users[i % len(users)], created, created), "closest_task_at": None,
            "custom_fields_values": None, "is_deleted": False, "account_id": account.id, "_embedded": {"tags": []}}
        company_ids.append(rid)

    contact_ids: dict[int, int] = {}
    phone, email, position = (books["contacts"].by_code[k] for k in ("PHONE", "EMAIL", "POSITION"))
    for c in _by_creation(world.contacts):
        rid = tables["contacts"].new_id()
        contact_ids[c.index] = rid
        cfv = []
        if c.phones:
            cfv.append(phone.entry([phone.read_value(p.value, phone.enum_by_value(PHONE_KIND.get(p.kind, p.kind)))
                                    for p in c.phones]))
        if c.emails:
            cfv.append(email.entry([email.read_value(e.value, email.enum_by_value(EMAIL_KIND.get(e.kind, e.kind)))
                                    for e in c.emails]))
        if c.position:
            cfv.append(position.entry([position.read_value(c.position)]))
        cfv.extend(_neutral_values(books["contacts"], c.custom))
        tables["contacts"].rows[rid] = {
            "id": rid, "name": c.name, "first_name": c.first_name, "last_name": c.last_name,
            **_who(users[c.owner], c.created_at, c.updated_at), "closest_task_at": None, "is_deleted": False,
            "is_unsorted": False, "custom_fields_values": cfv or None, "account_id": account.id,
            "_embedded": {"tags": [], "companies": [company_ids[c.company]] if c.company is not None else []}}

    lead_ids: dict[int, int] = {}
    currency = books["leads"].by_code["CURRENCY"]
    for d in _by_creation(world.deals):
        rid = tables["leads"].new_id()
        lead_ids[d.index] = rid
        pipe = account.pipelines[d.pipeline]
        status = next(s for s in pipe.statuses if s.key == d.stage)
        cfv = _neutral_values(books["leads"], d.custom)
        cfv.append(currency.entry([currency.read_value(None, currency.enum_by_value(d.currency))]))
        who = _who(users[d.owner], d.created_at, d.updated_at)
        tables["leads"].rows[rid] = {
            "id": rid, "name": d.title, "price": int(d.amount), "responsible_user_id": who["responsible_user_id"],
            "group_id": 0, "status_id": status.id, "pipeline_id": pipe.id, "loss_reason_id": None,
            "created_by": who["created_by"], "updated_by": who["updated_by"], "created_at": d.created_at,
            "updated_at": d.updated_at, "closed_at": d.closed_at if status.id in (WON, LOST) else None,
            "closest_task_at": None, "is_deleted": False, "custom_fields_values": cfv, "score": None,
            "account_id": account.id, "labor_cost": None,
            "_embedded": {"tags": [], "companies": [company_ids[d.company]] if d.company is not None else [],
                          "contacts": [{"id": contact_ids[ci], "is_main": n == 0} for n, ci in enumerate(d.contacts)]}}

    for t in _by_creation(world.tasks):
        rid = tables["tasks"].new_id()
        user = users[t.owner]
        entity_type, entity_id = None, None
        if t.related is not None:
            kind, index = t.related
            entity_type, entity_id = ("leads", lead_ids[index]) if kind == "deal" else ("contacts", contact_ids[index])
        tables["tasks"].rows[rid] = {
            "id": rid, "created_by": user, "updated_by": user, "created_at": t.created_at,
            "updated_at": t.updated_at, "responsible_user_id": user, "group_id": 0, "entity_id": entity_id,
            "entity_type": entity_type, "duration": 0, "is_completed": t.completed,
            "task_type_id": TASK_TYPE_IDS[t.task_type], "text": t.text,
            "result": {"text": t.result} if t.result else [], "complete_till": t.due_at, "account_id": account.id,
        }
    return tables


def seeded_events(tables: dict[str, Table]) -> list[tuple[str, str, int, int, int]]:
    """(type, entity_type, entity_id, created_by, created_at) of the ``*_added`` events of seeded records."""
    singular = {"contacts": "contact", "leads": "lead", "tasks": "task", "companies": "company"}
    out = []
    for name, table in tables.items():
        for row in table.rows.values():
            out.append((f"{singular[name]}_added", singular[name], row["id"], row["created_by"], row["created_at"]))
    out.sort(key=lambda e: (e[4], e[2]))
    return out
