"""Turn the neutral seeded world into a HubSpot portal: owners, deal pipelines, properties, records.

Records are stored as HubSpot keeps them: ``properties`` of strings (multi-selects ``;``-joined,
dates ``YYYY-MM-DD``, datetimes RFC 3339), plus creation/modification instants in milliseconds.
E-mail is unique per portal (HubSpot's contact key), so a world contact whose address another
contact already holds keeps it only as an additional e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import world as w
from ..base import Table
from . import schema
from .associations import Associations
from .schema import Property, option_value
from .values import day, iso_ms

FIRST_ID = {"contacts": 101, "deals": 5001, "tasks": 9001}
# Neutral stage keys → the default pipeline's stage ids, with HubSpot's default probabilities.
DEFAULT_STAGES = {"new": ("appointmentscheduled", "0.2"), "qualified": ("qualifiedtobuy", "0.4"),
                  "proposal": ("presentationscheduled", "0.6"), "negotiation": ("decisionmakerboughtin", "0.8"),
                  "won": ("closedwon", "1.0"), "lost": ("closedlost", "0.0")}
OTHER_PIPELINE_ID = 75448213
TASK_TYPES = {"call": "CALL", "meeting": "TODO", "email": "EMAIL"}


@dataclass
class Stage:
    id: str
    label: str
    probability: str
    closed: bool
    order: int


@dataclass
class Pipeline:
    id: str
    label: str
    stages: list[Stage]
    order: int


@dataclass
class Portal:
    hub_id: int
    owners: list[dict[str, Any]]
    pipelines: list[Pipeline]
    properties: dict[str, list[Property]]
    stamp: str  # when the portal's metadata was created

    def prop(self, obj: str, name: str) -> Property | None:
        return self._index(obj).get(name)

    def _index(self, obj: str) -> dict[str, Property]:
        cache = self.__dict__.setdefault("_by_name", {})
        if obj not in cache:
            cache[obj] = {p.name: p for p in self.properties[obj]}
        return cache[obj]

    def stage(self, stage_id: str) -> tuple[Pipeline, Stage] | None:
        for p in self.pipelines:
            for s in p.stages:
                if s.id == stage_id:
                    return p, s
        return None


def owner_id(index: int) -> str:
    return str(41629779 + index * 1117)


def _ms(seconds: int, salt: int) -> int:
    return seconds * 1000 + salt * 37 % 1000  # real stamps carry milliseconds


def build_portal(hub_id: int, world: w.World) -> Portal:
    stamp = iso_ms(_ms(w.EPOCH - w.YEAR - 86400, 0))
    owners = [{"id": owner_id(u.index), "email": u.email, "type": "PERSON", "firstName": u.first_name,
               "lastName": u.last_name, "userId": 9586504 + u.index, "userIdIncludingInactive": 9586504 + u.index,
               "createdAt": stamp, "updatedAt": stamp, "archived": False,
               "teams": [{"id": "3245121", "name": "Sales", "primary": True}]} for u in world.users]
    pipelines = []
    for n, (label, stages) in enumerate(w.PIPELINES):
        out = []
        for i, (key, stage_label) in enumerate(stages):
            if n == 0:
                sid, prob = DEFAULT_STAGES[key]
            else:
                sid = str(OTHER_PIPELINE_ID + 1 + i)
                prob = "1.0" if key == "won" else "0.0" if key == "lost" else f"{(i + 1) / (len(stages) - 1):.1f}"
            out.append(Stage(sid, stage_label, prob, key in ("won", "lost"), i))
        pipelines.append(Pipeline("default" if n == 0 else str(OTHER_PIPELINE_ID), label, out, n))
    props = schema.build([(o["id"], f"{o['firstName']} {o['lastName']}") for o in owners],
                         [(p.id, p.label) for p in pipelines],
                         [(s.id, s.label) for p in pipelines for s in p.stages])
    return Portal(hub_id, owners, pipelines, props, stamp)


def _row(rid: int, created: int, updated: int, props: dict[str, str | None]) -> dict[str, Any]:
    return {"id": rid, "created": created, "updated": updated, "archived": False, "archivedAt": None,
            "props": {k: v for k, v in props.items() if v not in (None, "")}}


def _custom(custom: dict[str, object], spec: list[tuple[str, str, list[str] | None]]) -> dict[str, str]:
    kinds = {key: kind for key, kind, _ in spec}
    out = {}
    for key, value in custom.items():
        kind = kinds[key]
        if kind == "select":
            out[key] = option_value(str(value))
        elif kind == "multiselect":
            out[key] = ";".join(option_value(str(v)) for v in value)  # type: ignore[attr-defined]
        elif kind == "date":
            out[key] = day(int(value) * 1000)  # type: ignore[call-overload]
        elif kind == "numeric":
            out[key] = str(value)
        else:
            out[key] = str(value)
    return out


def seed_tables(portal: Portal, world: w.World) -> tuple[dict[str, Table], Associations]:
    tables = {name: Table(name, first) for name, first in FIRST_ID.items()}
    links = Associations()
    taken: set[str] = set()
    contact_ids, deal_ids = [], []
    for c in world.contacts:
        emails = [e.value.strip().lower() for e in c.emails]
        primary = next((e for e in emails if e not in taken), None)
        if primary:
            taken.add(primary)
        extra = [e for e in emails if e != primary]
        work = [p.value for p in c.phones if p.kind != "MOBILE"]
        mobile = [p.value for p in c.phones if p.kind == "MOBILE"]
        rid = tables["contacts"].new_id()
        contact_ids.append(rid)
        tables["contacts"].rows[rid] = _row(rid, _ms(c.created_at, c.index), _ms(c.updated_at, c.index), {
            "firstname": c.first_name, "lastname": c.last_name, "email": primary,
            "hs_additional_emails": ";".join(extra), "phone": work[0] if work else None,
            "mobilephone": mobile[0] if mobile else None,
            "company": world.companies[c.company] if c.company is not None else None, "jobtitle": c.position,
            "hubspot_owner_id": owner_id(c.owner), "lifecyclestage": "lead",
            **_custom(c.custom, w.CONTACT_FIELDS)})
    for d in world.deals:
        pipeline = portal.pipelines[d.pipeline]
        keys = [key for key, _ in w.PIPELINES[d.pipeline][1]]
        stage = pipeline.stages[keys.index(d.stage)]
        rid = tables["deals"].new_id()
        deal_ids.append(rid)
        tables["deals"].rows[rid] = _row(rid, _ms(d.created_at, d.index), _ms(d.updated_at, d.index), {
            "dealname": d.title, "amount": str(int(d.amount)) if d.amount.is_integer() else str(d.amount),
            "deal_currency_code": d.currency, "pipeline": pipeline.id, "dealstage": stage.id,
            "closedate": iso_ms(_ms(d.closed_at, d.index)) if d.closed_at else None,
            "hs_is_closed_won": "true" if d.stage == "won" else "false",
            "hubspot_owner_id": owner_id(d.owner), **_custom(d.custom, w.DEAL_FIELDS)})
        for ci in d.contacts:
            links.add("deals", rid, "contacts", contact_ids[ci])
    for t in world.tasks:
        rid = tables["tasks"].new_id()
        tables["tasks"].rows[rid] = _row(rid, _ms(t.created_at, t.index), _ms(t.updated_at, t.index), {
            "hs_task_subject": t.text, "hs_task_body": t.description,
            "hs_task_status": "COMPLETED" if t.completed else "NOT_STARTED",
            "hs_task_type": TASK_TYPES[t.task_type], "hs_task_priority": "NONE",
            "hs_timestamp": iso_ms(t.due_at * 1000),
            "hs_task_completion_date": iso_ms(_ms(t.completed_at, t.index)) if t.completed_at else None,
            "hubspot_owner_id": owner_id(t.owner)})
        if t.related is not None:
            kind, index = t.related
            target = ("contacts", contact_ids[index]) if kind == "contact" else ("deals", deal_ids[index])
            links.add("tasks", rid, *target)
    return tables, links
