"""Property definitions of contacts, deals and tasks (``GET /crm/v3/properties/{type}``) and the write
checks HubSpot runs against them.

Standard properties carry HubSpot's internal names; the seeded world's custom fields become custom
properties (``hubspotDefined: false``) with enumeration options whose internal ``value`` differs from
the ``label``, as it does in real portals. One ``Property`` list per object is the single source of
what exists, what each accepts, and which are read-only.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from .. import world as w
from .values import as_text, day, iso_ms, parse_ms

STRING, NUMBER, DATE, DATETIME, ENUM, BOOL = "string", "number", "date", "datetime", "enumeration", "bool"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# object -> (created property, modified property); HubSpot names them differently per object.
STAMPS = {"contacts": ("createdate", "lastmodifieddate"), "deals": ("createdate", "hs_lastmodifieddate"),
          "tasks": ("hs_createdate", "hs_lastmodifieddate")}
DEFAULTS = {  # what list/get/search return when no properties are asked for
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    "deals": ["amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate", "hs_object_id",
              "pipeline"],
    "tasks": ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}
SEARCHABLE = {"contacts": ["firstname", "lastname", "email", "phone", "mobilephone", "company"],
              "deals": ["dealname"], "tasks": ["hs_task_subject", "hs_task_body"]}
TASK_STATUSES = ["NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"]
TASK_TYPES = ["CALL", "EMAIL", "TODO"]
TASK_PRIORITIES = ["NONE", "LOW", "MEDIUM", "HIGH"]


@dataclass
class Property:
    name: str
    label: str
    type: str
    field_type: str
    group: str
    options: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    hubspot_defined: bool = True
    read_only: bool = False
    calculated: bool = False
    unique: bool = False

    def render(self, order: int, stamp: str) -> dict[str, Any]:
        return {
            "updatedAt": stamp, "createdAt": stamp, "name": self.name, "label": self.label, "type": self.type,
            "fieldType": self.field_type, "description": "", "groupName": self.group,
            "options": [{"label": label, "value": value, "displayOrder": i, "hidden": False}
                        for i, (value, label) in enumerate(self.options)],
            "displayOrder": order if not self.hubspot_defined else -1, "calculated": self.calculated,
            "externalOptions": self.name in ("hubspot_owner_id", "dealstage", "pipeline"),
            "hasUniqueValue": self.unique, "hidden": False, "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {"archivable": not self.hubspot_defined, "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only},
            "formField": not self.read_only, "archived": False,
        }

    def normalize(self, raw: Any) -> tuple[str | None, tuple[str, str] | None]:
        """(stored text or None to clear, None) or (None, (error code, message))."""
        if raw is None or raw == "":
            return None, None
        if isinstance(raw, (dict, list)):
            return None, ("INVALID_PROPERTY_VALUE", f"{raw!r} is not a valid value for {self.name}")
        text = as_text(raw).strip() if self.type != STRING else as_text(raw)
        if self.type == NUMBER:
            try:
                float(text)
            except ValueError:
                return None, ("INVALID_FLOAT", f"{text!r} is not a valid number for {self.name}")
            return text, None
        if self.type in (DATE, DATETIME):
            ms = parse_ms(text)
            if ms is None:
                return None, ("INVALID_DATE", f"{text!r} is not a valid date for {self.name}")
            if self.type == DATE:
                if ms % 86_400_000:
                    at = ms % 86_400_000
                    return None, ("INVALID_DATE", f"{ms} is at {at // 3_600_000:02d}:{at // 60_000 % 60:02d}:"
                                  f"{at // 1000 % 60:02d}.{at % 1000:03d} UTC, not midnight!")
                return day(ms), None
            return iso_ms(ms), None
        if self.type == BOOL:
            if text.lower() not in ("true", "false"):
                return None, ("INVALID_BOOLEAN", f"{text!r} is not a valid boolean for {self.name}")
            return text.lower(), None
        if self.type == ENUM:
            allowed = [v for v, _ in self.options]
            chosen = [t for t in text.split(";") if t] if self.field_type == "checkbox" else [text]
            bad = [c for c in chosen if c not in allowed]
            if bad:
                listing = ", ".join(f"[label: {label!r}, value: {v!r}]" for v, label in self.options)
                return None, ("INVALID_OPTION", f"{bad[0]!r} was not one of the allowed options: {listing}")
            return ";".join(chosen), None
        if self.field_type == "email" or self.name == "email":
            text = text.strip().lower()
            if not _EMAIL.match(text):
                return None, ("INVALID_EMAIL", f"Email address {text} is invalid")
        return text, None


@functools.lru_cache(maxsize=1024)  # seeding a large portal asks for the same few labels millions of times
def option_value(label: str) -> str:
    """The internal value HubSpot derives from an option's first label (lower case, ASCII, underscores)."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower().translate(w.TRANSLIT)).strip("_")


_CUSTOM_KINDS = {"select": (ENUM, "select"), "multiselect": (ENUM, "checkbox"), "date": (DATE, "date"),
                 "numeric": (NUMBER, "number"), "text": (STRING, "textarea")}


def _custom(spec: list[tuple[str, str, list[str] | None]]) -> list[Property]:
    out = []
    for key, kind, options in spec:
        type_, field_type = _CUSTOM_KINDS[kind]
        out.append(Property(key, w.FIELD_TITLES[key], type_, field_type, "custom_fields",
                            [(option_value(o), o) for o in options or []], hubspot_defined=False))
    return out


def build(owners: list[tuple[str, str]], pipelines: list[tuple[str, str]], stages: list[tuple[str, str]]
          ) -> dict[str, list[Property]]:
    """Every property of every object; ``owners``/``pipelines``/``stages`` are (value, label) option lists."""
    def stamps(obj: str) -> list[Property]:
        created, modified = STAMPS[obj]
        return [Property(created, "Create Date", DATETIME, "date", "dealinformation" if obj == "deals"
                         else "contactinformation", read_only=True),
                Property(modified, "Last Modified Date", DATETIME, "date", "contactinformation", read_only=True,
                         calculated=obj != "contacts"),
                Property("hs_object_id", "Record ID", NUMBER, "number", "contactinformation", read_only=True)]

    owner = Property("hubspot_owner_id", "Owner", ENUM, "select", "contactinformation", owners)
    contacts = [
        Property("firstname", "First Name", STRING, "text", "contactinformation"),
        Property("lastname", "Last Name", STRING, "text", "contactinformation"),
        Property("email", "Email", STRING, "text", "contactinformation", unique=True),
        Property("hs_additional_emails", "Additional email addresses", ENUM, "checkbox", "contactinformation",
                 read_only=True),
        Property("phone", "Phone Number", STRING, "phonenumber", "contactinformation"),
        Property("mobilephone", "Mobile Phone Number", STRING, "phonenumber", "contactinformation"),
        Property("company", "Company Name", STRING, "text", "contactinformation"),
        Property("jobtitle", "Job Title", STRING, "text", "contactinformation"),
        Property("lifecyclestage", "Lifecycle Stage", ENUM, "radio", "contactinformation",
                 [(v, v.title()) for v in ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                                           "opportunity", "customer", "evangelist", "other")]),
        Property("hs_lastmodifieddate", "Object last modified date/time", DATETIME, "date", "contactinformation",
                 read_only=True, calculated=True),
        owner, *stamps("contacts"), *_custom(w.CONTACT_FIELDS)]
    deals = [
        Property("dealname", "Deal Name", STRING, "text", "dealinformation"),
        Property("amount", "Amount", NUMBER, "number", "dealinformation"),
        Property("deal_currency_code", "Currency", ENUM, "select", "dealinformation",
                 [("RUB", "Russian Ruble"), ("USD", "US Dollar"), ("EUR", "Euro")]),
        Property("pipeline", "Pipeline", ENUM, "select", "dealinformation", pipelines),
        Property("dealstage", "Deal Stage", ENUM, "radio", "dealinformation", stages),
        Property("closedate", "Close Date", DATETIME, "date", "dealinformation"),
        Property("hs_is_closed_won", "Is Closed Won", BOOL, "booleancheckbox", "dealinformation", read_only=True,
                 calculated=True),
        owner, *stamps("deals"), *_custom(w.DEAL_FIELDS)]
    tasks = [
        Property("hs_task_subject", "Task Title", STRING, "text", "task"),
        Property("hs_task_body", "Notes", STRING, "html", "task"),
        Property("hs_task_status", "Task Status", ENUM, "select", "task", [(s, s.title()) for s in TASK_STATUSES]),
        Property("hs_task_type", "Task Type", ENUM, "select", "task", [(t, t.title()) for t in TASK_TYPES]),
        Property("hs_task_priority", "Priority", ENUM, "select", "task", [(p, p.title()) for p in TASK_PRIORITIES]),
        Property("hs_timestamp", "Due date", DATETIME, "date", "task"),
        Property("hs_task_completion_date", "Completed at", DATETIME, "date", "task", read_only=True),
        owner, *stamps("tasks")]
    return {"contacts": contacts, "deals": deals, "tasks": tasks}
