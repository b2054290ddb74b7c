"""Turn the neutral seeded world into a Bitrix24 portal: users, statuses, funnels, user fields, records.

Everything is derived from ``world.build_world`` and the config, so the same seed gives the same
portal byte for byte. Records are stored in the legacy REST shape (UPPER_CASE keys, string values,
ISO-8601 dates in the portal zone); tasks in the tasks API's camelCase shape.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import world as w
from ..base import Table
from . import dates
from .entities import EntitySpec, UserField, company_spec, contact_spec, deal_spec, lead_spec

if TYPE_CHECKING:
    from .app import FakeBitrix24

# Neutral stage keys → Bitrix24's system stage ids; other funnels prefix ``C{id}:``.
STAGE_IDS = {"new": "NEW", "qualified": "PREPARATION", "proposal": "PREPAYMENT_INVOICE",
             "negotiation": "EXECUTING", "won": "WON", "lost": "LOSE"}
STATIC_STATUSES: dict[str, list[tuple[str, str, str | None]]] = {
    "SOURCE": [("CALL", "Call", None), ("EMAIL", "E-Mail", None), ("WEB", "Website", None),
               ("ADVERTISING", "Advertising", None), ("PARTNER", "Existing client", None),
               ("RECOMMENDATION", "By recommendation", None), ("TRADE_SHOW", "Show/Exhibition", None),
               ("WEBFORM", "CRM form", None), ("CALLBACK", "Callback", None), ("OTHER", "Other", None)],
    "CONTACT_TYPE": [("CLIENT", "Clients", None), ("SUPPLIER", "Suppliers", None), ("PARTNER", "Partners", None),
                     ("OTHER", "Other", None)],
    "COMPANY_TYPE": [("CUSTOMER", "Client", None), ("SUPPLIER", "Supplier", None),
                     ("COMPETITOR", "Competitor", None), ("PARTNER", "Partner", None), ("OTHER", "Other", None)],
    "DEAL_TYPE": [("SALE", "Sales", None), ("COMPLEX", "Integrated sale", None), ("GOODS", "Merchandise sale", None),
                  ("SERVICES", "Service sale", None), ("SERVICE", "After-sales service", None)],
    "STATUS": [("NEW", "Unassigned", None), ("IN_PROCESS", "In progress", None), ("PROCESSED", "Processed", None),
               ("CONVERTED", "Good lead", "S"), ("JUNK", "Junk lead", "F")],
    "HONORIFIC": [("HNR_EN_1", "Mr.", None), ("HNR_EN_2", "Mrs.", None), ("HNR_EN_3", "Ms.", None),
                  ("HNR_EN_4", "Dr.", None)],
    "INDUSTRY": [("IT", "Information Technology", None), ("TELECOM", "Telecommunication", None),
                 ("MANUFACTURING", "Manufacturing", None), ("CONSULTING", "Consulting", None),
                 ("OTHER", "Other", None)],
    "EMPLOYEES": [("EMPLOYEES_1", "fewer than 50", None), ("EMPLOYEES_2", "50-250", None),
                  ("EMPLOYEES_3", "250-500", None), ("EMPLOYEES_4", "over 500", None)],
}
STAGE_COLORS = ["#39A8EF", "#2FC6F6", "#55D0E0", "#47E4C2", "#FFA900", "#DBF199", "#FF5752"]
UF_TYPES = {"select": "enumeration", "multiselect": "enumeration", "date": "date", "numeric": "double",
            "text": "string"}


@dataclass
class Portal:
    """The portal's configuration data (what an admin sets up), next to the record tables."""

    specs: dict[str, EntitySpec]
    statuses: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    next_multi_id: int = 1

    def stages(self, category_id: int) -> list[dict[str, Any]]:
        entity = "DEAL_STAGE" if category_id == 0 else f"DEAL_STAGE_{category_id}"
        return [s for s in self.statuses if s["ENTITY_ID"] == entity]

    def status_ids(self, entity: str) -> set[str]:
        return {s["STATUS_ID"] for s in self.statuses if s["ENTITY_ID"] == entity}

    def new_multi_id(self) -> int:
        rid = self.next_multi_id
        self.next_multi_id += 1
        return rid


def user_id(index: int) -> int:
    """World user 0 is the portal admin (ID 1); colleagues were invited later (6, 7, …)."""
    return 1 if index == 0 else 5 + index


def stage_id(category: int, key: str) -> str:
    base = STAGE_IDS.get(key, f"UC_{key.upper()}")
    return base if category == 0 else f"C{category}:{base}"


def semantic(stage: str) -> str:
    tail = stage.split(":")[-1]
    return "S" if tail == "WON" else "F" if tail == "LOSE" else "P"


def seed(app: FakeBitrix24) -> None:
    cfg = app.config
    world = w.build_world(cfg.seed, cfg.contacts, cfg.deals, cfg.tasks)
    portal = Portal(specs={s.name: s for s in (contact_spec(), deal_spec(), lead_spec(), company_spec())})
    _statuses(portal)
    enum_ids = iter(range(44, 10_000))
    portal.specs["contact"].add_user_fields(_user_fields(w.CONTACT_FIELDS, 1736400000100, enum_ids))
    portal.specs["deal"].add_user_fields(_user_fields(w.DEAL_FIELDS, 1736400000500, enum_ids))
    app.portal = portal
    tz = cfg.timezone
    app.tables = {name: Table(name, 1) for name in ("users", "companies", "contacts", "deals", "leads", "tasks")}
    for u in world.users:
        _put(app.tables["users"], user_id(u.index), _user(u, tz))
    for i, title in enumerate(world.companies):
        _put(app.tables["companies"], i + 1, _company(portal, i, title, tz))
    for c in world.contacts:
        _put(app.tables["contacts"], c.index + 1, _contact(portal, c, tz))
    for d in world.deals:
        _put(app.tables["deals"], d.index + 1, _deal(portal, d, tz))
    for i, row in enumerate(_leads(portal, world, cfg.seed, cfg.leads, tz)):
        _put(app.tables["leads"], i + 1, row)
    for t in world.tasks:
        _put(app.tables["tasks"], t.index + 1, _task(t, tz))


def _put(table: Table, rid: int, row: dict[str, Any]) -> None:
    table.rows[rid] = row
    table.next_id = max(table.next_id, rid + 1)


def _statuses(portal: Portal) -> None:
    rows: list[tuple[str, str, str, str | None, int | None, str | None]] = []
    for entity, items in STATIC_STATUSES.items():
        rows += [(entity, sid, name, sem, None, None) for sid, name, sem in items]
    for cat, (name, stages) in enumerate(w.PIPELINES):
        entity = "DEAL_STAGE" if cat == 0 else f"DEAL_STAGE_{cat}"
        for n, (key, stage_name) in enumerate(stages):
            sid = stage_id(cat, key)
            sem = semantic(sid)
            rows.append((entity, sid, stage_name, None if sem == "P" else sem, cat,
                         STAGE_COLORS[min(n, len(STAGE_COLORS) - 1)] if sem == "P" else
                         ("#7BD500" if sem == "S" else "#FF5752")))
        portal.categories.append({"id": cat, "name": name, "sort": (cat + 1) * 100, "entityTypeId": 2,
                                  "isDefault": "Y" if cat == 0 else "N"})
    for n, (entity, sid, name, sem, cat, color) in enumerate(rows, start=1):
        sort = 10 * (1 + sum(1 for s in portal.statuses if s["ENTITY_ID"] == entity))
        portal.statuses.append({"ID": str(n), "ENTITY_ID": entity, "STATUS_ID": sid, "NAME": name, "NAME_INIT": name,
                                "SORT": str(sort), "SYSTEM": "N" if sid.split(":")[-1].startswith("UC_") else "Y",
                                "CATEGORY_ID": None if cat is None else str(cat), "COLOR": color,
                                "SEMANTICS": sem})


def _user_fields(spec: list[tuple[str, str, list[str] | None]], base: int, enum_ids: Any) -> list[UserField]:
    out = []
    for n, (key, kind, options) in enumerate(spec):
        items = tuple((str(next(enum_ids)), opt) for opt in options or [])
        out.append(UserField(f"UF_CRM_{base + n * 37}", UF_TYPES[kind], w.FIELD_TITLES.get(key, key), key,
                             multiple=kind == "multiselect", items=items))
    return out


def _uf_values(spec: EntitySpec, custom: dict[str, object], tz: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for uf in spec.user_fields:
        value = custom.get(uf.key)
        if uf.type == "enumeration":
            ids = [uf.item_id(str(v)) for v in (value if isinstance(value, list) else [value] if value else [])]
            out[uf.name] = [i for i in ids if i] if uf.multiple else (ids[0] if ids else None)
        elif value is None:
            out[uf.name] = None
        elif uf.type == "date":
            out[uf.name] = dates.iso_date(float(value), tz)  # type: ignore[arg-type]
        elif uf.type == "double":
            out[uf.name] = str(value)
        else:
            out[uf.name] = str(value)
    return out


def blank(spec: EntitySpec) -> dict[str, Any]:
    """A record with every legacy field present (null), multi-fields empty."""
    row: dict[str, Any] = {}
    for f in spec.all_fields:
        row[f.name] = [] if f.multiple else None
    return row


def _audit(owner: int, created: int, updated: int, tz: str) -> dict[str, Any]:
    uid = str(user_id(owner))
    return {"ASSIGNED_BY_ID": uid, "CREATED_BY_ID": "1", "MODIFY_BY_ID": uid,
            "DATE_CREATE": dates.iso(created, tz), "DATE_MODIFY": dates.iso(updated, tz)}


def _multi(portal: Portal, kind: str, values: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"ID": str(portal.new_multi_id()), "VALUE_TYPE": vt, "VALUE": v, "TYPE_ID": kind} for v, vt in values]


def _user(u: w.User, tz: str) -> dict[str, Any]:
    uid = user_id(u.index)
    return {"ID": str(uid), "XML_ID": f"u{uid}", "ACTIVE": True, "NAME": u.first_name, "LAST_NAME": u.last_name,
            "SECOND_NAME": "", "EMAIL": u.email, "LAST_LOGIN": dates.iso(w.EPOCH - 3600 * (u.index + 1), tz),
            "DATE_REGISTER": dates.iso(w.EPOCH - w.YEAR - 86400 * (u.index + 1), tz), "IS_ONLINE": "N",
            "TIME_ZONE": "", "TIMESTAMP_X": [], "PERSONAL_GENDER": "", "PERSONAL_BIRTHDAY": "",
            "WORK_POSITION": u.position, "UF_DEPARTMENT": [1], "USER_TYPE": "employee"}


def _company(portal: Portal, i: int, title: str, tz: str) -> dict[str, Any]:
    row = blank(portal.specs["company"])
    stamp = w.EPOCH - w.YEAR + i * 86400
    row.update({"ID": str(i + 1), "TITLE": title, "COMPANY_TYPE": "CUSTOMER", "INDUSTRY": "OTHER",
                "EMPLOYEES": "EMPLOYEES_1", "CURRENCY_ID": "RUB", "REVENUE": "0.00", "OPENED": "Y",
                "IS_MY_COMPANY": "N", **_audit(0, stamp, stamp, tz)})
    return finish(row)


def _contact(portal: Portal, c: w.Contact, tz: str) -> dict[str, Any]:
    spec = portal.specs["contact"]
    row = blank(spec)
    company = str(c.company + 1) if c.company is not None else None
    row.update({
        "ID": str(c.index + 1), "NAME": c.first_name, "LAST_NAME": c.last_name, "SECOND_NAME": c.middle_name or None,
        "POST": c.position, "COMPANY_ID": company, "COMPANY_IDS": [company] if company else [],
        "TYPE_ID": ["CLIENT", "CLIENT", "PARTNER", "SUPPLIER", "OTHER"][c.index % 5],
        "SOURCE_ID": ["WEB", "CALL", "EMAIL", "RECOMMENDATION", "OTHER", "WEBFORM"][c.index % 6],
        "OPENED": "Y", "EXPORT": "Y", **_audit(c.owner, c.created_at, c.updated_at, tz),
        "PHONE": _multi(portal, "PHONE", [(p.value, p.kind) for p in c.phones]),
        "EMAIL": _multi(portal, "EMAIL", [(e.value, "HOME" if e.kind == "PRIVATE" else e.kind) for e in c.emails]),
        **_uf_values(spec, c.custom, tz),
    })
    return finish(row)


def _deal(portal: Portal, d: w.Deal, tz: str) -> dict[str, Any]:
    spec = portal.specs["deal"]
    row = blank(spec)
    sid = stage_id(d.pipeline, d.stage)
    contacts = [str(i + 1) for i in d.contacts]
    first_stage = portal.stages(d.pipeline)[0]["STATUS_ID"]
    row.update({
        "ID": str(d.index + 1), "TITLE": d.title, "TYPE_ID": "SALE", "CATEGORY_ID": str(d.pipeline),
        "STAGE_ID": sid, "STAGE_SEMANTIC_ID": semantic(sid), "IS_NEW": "Y" if sid == first_stage else "N",
        "IS_RECURRING": "N", "IS_RETURN_CUSTOMER": "N", "IS_REPEATED_APPROACH": "N",
        "CURRENCY_ID": d.currency, "OPPORTUNITY": f"{d.amount:.2f}", "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00",
        "COMPANY_ID": str(d.company + 1) if d.company is not None else "0",
        "CONTACT_ID": contacts[0] if contacts else None, "CONTACT_IDS": contacts,
        "BEGINDATE": dates.iso_date(d.created_at, tz),
        "CLOSEDATE": dates.iso_date(d.closed_at or d.created_at + 30 * 86400, tz),
        "OPENED": "Y", "CLOSED": "Y" if d.closed_at else "N", **_audit(d.owner, d.created_at, d.updated_at, tz),
        "MOVED_BY_ID": str(user_id(d.owner)), "MOVED_TIME": dates.iso(d.updated_at, tz),
        **_uf_values(spec, d.custom, tz),
    })
    return finish(row)


def _leads(portal: Portal, world: w.World, seed_value: int, n: int, tz: str) -> list[dict[str, Any]]:
    rng = random.Random(f"{seed_value}:bitrix24:leads")
    statuses = [s for s, _, _ in STATIC_STATUSES["STATUS"]]
    out = []
    for i in range(n):
        c = world.contacts[i % len(world.contacts)] if world.contacts else None
        created = w.EPOCH - w.YEAR + rng.randrange(w.YEAR - 86400)
        updated = created + rng.randrange(86400)
        row = blank(portal.specs["lead"])
        status = rng.choice(statuses)
        row.update({
            "ID": str(i + 1), "TITLE": f"Заявка с сайта #{i + 1}" + (f" — {c.name}" if c else ""),
            "NAME": c.first_name if c else None, "LAST_NAME": c.last_name if c else None,
            "STATUS_ID": status, "STATUS_SEMANTIC_ID": {"CONVERTED": "S", "JUNK": "F"}.get(status, "P"),
            "SOURCE_ID": rng.choice(["WEB", "CALL", "WEBFORM"]), "CURRENCY_ID": "RUB",
            "OPPORTUNITY": f"{rng.randrange(1, 500) * 1000:.2f}", "IS_MANUAL_OPPORTUNITY": "N", "OPENED": "Y",
            "IS_RETURN_CUSTOMER": "N", **_audit(rng.randrange(len(world.users)), created, updated, tz),
            "MOVED_BY_ID": "1", "MOVED_TIME": dates.iso(created, tz),
            "PHONE": _multi(portal, "PHONE", [(c.phones[0].value, "WORK")]) if c and c.phones else [],
            "EMAIL": _multi(portal, "EMAIL", [(c.emails[0].value, "WORK")]) if c and c.emails else [],
        })
        out.append(finish(row))
    return out


def _task(t: w.Task, tz: str) -> dict[str, Any]:
    related = []
    if t.related:
        related = [("D_" if t.related[0] == "deal" else "C_") + str(t.related[1] + 1)]
    owner = str(user_id(t.owner))
    return {
        "id": str(t.index + 1), "title": t.text, "description": t.description, "status": "5" if t.completed else "2",
        "priority": "1", "responsibleId": owner, "createdBy": "1", "createdDate": dates.iso(t.created_at, tz),
        "changedBy": owner, "changedDate": dates.iso(t.updated_at, tz), "statusChangedBy": owner,
        "statusChangedDate": dates.iso(t.updated_at, tz),
        "closedBy": owner if t.completed else None, "closedDate": dates.iso(t.completed_at, tz),
        "deadline": dates.iso(t.due_at, tz), "startDatePlan": None, "endDatePlan": None, "groupId": "0",
        "ufCrmTask": related, "auditors": [], "accomplices": [], "tags": [t.task_type],
        "guid": "{" + str(uuid.UUID(int=(t.index + 1) * 7919 + 0xB24)) + "}",
        "activityDate": dates.iso(t.updated_at, tz),
    }


def finish(row: dict[str, Any]) -> dict[str, Any]:
    """Derived flags Bitrix24 maintains itself."""
    if "HAS_PHONE" in row:
        row["HAS_PHONE"] = "Y" if row.get("PHONE") else "N"
        row["HAS_EMAIL"] = "Y" if row.get("EMAIL") else "N"
        row["HAS_IMOL"] = "Y" if row.get("IM") else "N"
    return row
