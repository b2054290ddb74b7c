"""What each legacy CRM entity looks like, declared once so contact, deal, lead and company share code.

An :class:`EntitySpec` lists the entity's standard fields in the portal's own order with their
Bitrix24 type, flags and the camelCase name ``crm.item.*`` uses. Records are stored in the legacy
shape (UPPER_CASE keys, string values, multi-fields as lists); everything else — ``crm.*.fields``,
``crm.item`` conversion, filter typing — is derived from these tables plus the portal's user fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Bitrix24 field types grouped by how values compare and convert.
INT_TYPES = {"integer", "user", "crm_company", "crm_contact", "crm_lead", "crm_category", "crm_quote"}
FLOAT_TYPES = {"double", "money"}
DATE_TYPES = {"date", "datetime"}
MULTI_FIELDS = ("PHONE", "EMAIL", "WEB", "IM")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str = "string"
    title: str = ""
    read_only: bool = False
    required: bool = False
    multiple: bool = False
    immutable: bool = False
    status_type: str | None = None
    camel: str | None = None      # crm.item name when not the mechanical one
    legacy: bool = True           # False: write-only in legacy methods (CONTACT_IDS), item-only reads

    @property
    def kind(self) -> str:
        if self.type == "crm_multifield":
            return "multi"
        if self.type in INT_TYPES:
            return "int"
        if self.type in FLOAT_TYPES:
            return "float"
        if self.type in DATE_TYPES:
            return "date"
        return "str"

    @property
    def item_name(self) -> str:
        return self.camel or camel(self.name)


@dataclass(frozen=True)
class UserField:
    """A custom field of the portal (``UF_CRM_…``): created by an admin, so it lives in the seed."""

    name: str
    type: str          # enumeration, date, double, string
    label: str
    key: str           # the neutral world key it was made from
    multiple: bool = False
    items: tuple[tuple[str, str], ...] = ()  # enumeration (ID, VALUE)

    @property
    def spec(self) -> FieldSpec:
        return FieldSpec(self.name, self.type, self.label, multiple=self.multiple, camel=uf_camel(self.name))

    def item_id(self, value: str) -> str | None:
        """The enumeration item ID for a display value (or an ID given as such)."""
        for iid, text in self.items:
            if str(value) in (iid, text):
                return iid
        return None


@dataclass
class EntitySpec:
    name: str             # contact, deal, lead, company
    table: str            # contacts, deals, leads, companies
    entity_type_id: int   # crm.item entityTypeId
    uf_entity: str        # CRM_CONTACT …
    title_field: str      # what touch_record edits
    fields: list[FieldSpec]
    user_fields: list[UserField] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._index()

    def _index(self) -> None:
        every = self.fields + [u.spec for u in self.user_fields]
        self.by_name = {f.name: f for f in every}
        self.by_item = {f.item_name: f for f in every}
        self.by_item["id"] = self.by_name["ID"]

    def add_user_fields(self, ufs: list[UserField]) -> None:
        self.user_fields = list(ufs)
        self._index()

    def uf(self, name: str) -> UserField | None:
        return next((u for u in self.user_fields if u.name == name), None)

    @property
    def all_fields(self) -> list[FieldSpec]:
        return self.fields + [u.spec for u in self.user_fields]


_CAMEL_OVERRIDES = {
    "CREATED_BY_ID": "createdBy", "MODIFY_BY_ID": "updatedBy", "MOVED_BY_ID": "movedBy",
    "DATE_CREATE": "createdTime", "DATE_MODIFY": "updatedTime", "MOVED_TIME": "movedTime",
    "BEGINDATE": "begindate", "CLOSEDATE": "closedate",
}
_UF = re.compile(r"^UF_CRM_(.+)$")


def camel(name: str) -> str:
    """``ASSIGNED_BY_ID`` → ``assignedById`` (crm.item and tasks naming)."""
    if name in _CAMEL_OVERRIDES:
        return _CAMEL_OVERRIDES[name]
    if _UF.match(name):
        return uf_camel(name)
    head, *rest = name.lower().split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def uf_camel(name: str) -> str:
    m = _UF.match(name)
    return f"ufCrm_{m.group(1)}" if m else camel(name)


def _f(name: str, type_: str = "string", title: str = "", **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, title or name.replace("_", " ").title(), **kw)


_ID = _f("ID", "integer", "ID", read_only=True)
_AUDIT = [
    _f("ASSIGNED_BY_ID", "user", "Responsible person"),
    _f("CREATED_BY_ID", "user", "Created by", read_only=True),
    _f("MODIFY_BY_ID", "user", "Modified by", read_only=True),
    _f("DATE_CREATE", "datetime", "Created on", read_only=True),
    _f("DATE_MODIFY", "datetime", "Modified on", read_only=True),
]
_ORIGIN = [_f("ORIGINATOR_ID", "string", "External source"), _f("ORIGIN_ID", "string", "Item ID in data source")]
_UTM = [_f(n, "string", n) for n in ("UTM_SOURCE", "UTM_MEDIUM", "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM")]
_ACTIVITY = [_f("LAST_ACTIVITY_TIME", "datetime", "Last activity", read_only=True),
             _f("LAST_ACTIVITY_BY", "user", "Last activity by", read_only=True)]
_HAS = [_f("HAS_PHONE", "char", "Has phone", read_only=True), _f("HAS_EMAIL", "char", "Has email", read_only=True),
        _f("HAS_IMOL", "char", "Has Open Channel", read_only=True)]
_MULTI = [_f(n, "crm_multifield", t, multiple=True) for n, t in
          (("PHONE", "Phone"), ("EMAIL", "E-mail"), ("WEB", "Website"), ("IM", "Messenger"))]


def contact_spec() -> EntitySpec:
    return EntitySpec("contact", "contacts", 3, "CRM_CONTACT", "NAME", [
        _ID,
        _f("HONORIFIC", "crm_status", "Salutation", status_type="HONORIFIC"),
        _f("NAME", "string", "First name"), _f("SECOND_NAME", "string", "Second name"),
        _f("LAST_NAME", "string", "Last name"), _f("BIRTHDATE", "date", "Date of birth"),
        _f("TYPE_ID", "crm_status", "Contact type", status_type="CONTACT_TYPE"),
        _f("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        _f("SOURCE_DESCRIPTION", "text", "Source information"), _f("POST", "string", "Position"),
        _f("COMMENTS", "text", "Comment"), _f("OPENED", "char", "Available to everyone"),
        _f("EXPORT", "char", "Included in export"), *_HAS, *_AUDIT,
        _f("COMPANY_ID", "crm_company", "Company"),
        _f("COMPANY_IDS", "crm_company", "Companies", multiple=True, legacy=False),
        _f("LEAD_ID", "crm_lead", "Lead", read_only=True), *_ORIGIN,
        _f("ORIGIN_VERSION", "string", "Original version"), _f("FACE_ID", "integer", "Face ID"),
        *_ACTIVITY, *_UTM, *_MULTI,
    ])


def deal_spec() -> EntitySpec:
    return EntitySpec("deal", "deals", 2, "CRM_DEAL", "TITLE", [
        _ID,
        _f("TITLE", "string", "Name"),
        _f("TYPE_ID", "crm_status", "Type", status_type="DEAL_TYPE"),
        _f("CATEGORY_ID", "crm_category", "Pipeline", immutable=True),
        _f("STAGE_ID", "crm_status", "Deal stage", status_type="DEAL_STAGE"),
        _f("STAGE_SEMANTIC_ID", "string", "Stage group", read_only=True),
        _f("IS_NEW", "char", "New deal", read_only=True), _f("IS_RECURRING", "char", "Recurring deal"),
        _f("IS_RETURN_CUSTOMER", "char", "Repeat deal", read_only=True),
        _f("IS_REPEATED_APPROACH", "char", "Repeat inquiry", read_only=True),
        _f("PROBABILITY", "integer", "Probability"), _f("CURRENCY_ID", "crm_currency", "Currency"),
        _f("OPPORTUNITY", "double", "Amount"), _f("IS_MANUAL_OPPORTUNITY", "char", "Manual amount"),
        _f("TAX_VALUE", "double", "Tax rate"),
        _f("COMPANY_ID", "crm_company", "Company"), _f("CONTACT_ID", "crm_contact", "Contact"),
        _f("CONTACT_IDS", "crm_contact", "Contacts", multiple=True, legacy=False),
        _f("QUOTE_ID", "crm_quote", "Quote", read_only=True),
        _f("BEGINDATE", "date", "Start date"), _f("CLOSEDATE", "date", "End date"),
        _f("OPENED", "char", "Available to everyone"), _f("CLOSED", "char", "Closed"),
        _f("COMMENTS", "text", "Comment"), *_AUDIT,
        _f("MOVED_BY_ID", "user", "Stage changed by", read_only=True),
        _f("MOVED_TIME", "datetime", "Stage changed on", read_only=True),
        _f("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        _f("SOURCE_DESCRIPTION", "text", "Source information"),
        _f("LEAD_ID", "crm_lead", "Lead", read_only=True), _f("ADDITIONAL_INFO", "string", "Additional information"),
        *_ORIGIN, *_ACTIVITY, *_UTM,
    ])


def lead_spec() -> EntitySpec:
    return EntitySpec("lead", "leads", 1, "CRM_LEAD", "TITLE", [
        _ID,
        _f("TITLE", "string", "Lead name"),
        _f("HONORIFIC", "crm_status", "Salutation", status_type="HONORIFIC"),
        _f("NAME", "string", "First name"), _f("SECOND_NAME", "string", "Second name"),
        _f("LAST_NAME", "string", "Last name"), _f("COMPANY_TITLE", "string", "Company name"),
        _f("COMPANY_ID", "crm_company", "Company", read_only=True),
        _f("CONTACT_ID", "crm_contact", "Contact", read_only=True),
        _f("IS_RETURN_CUSTOMER", "char", "Repeat lead", read_only=True), _f("BIRTHDATE", "date", "Date of birth"),
        _f("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
        _f("SOURCE_DESCRIPTION", "text", "Source information"),
        _f("STATUS_ID", "crm_status", "Stage", status_type="STATUS"),
        _f("STATUS_DESCRIPTION", "text", "Stage information"),
        _f("STATUS_SEMANTIC_ID", "string", "Status details", read_only=True),
        _f("POST", "string", "Position"), _f("CURRENCY_ID", "crm_currency", "Currency"),
        _f("OPPORTUNITY", "double", "Total"), _f("IS_MANUAL_OPPORTUNITY", "char", "Manual amount"),
        _f("OPENED", "char", "Available to everyone"), _f("COMMENTS", "text", "Comment"), *_HAS, *_AUDIT,
        _f("MOVED_BY_ID", "user", "Stage changed by", read_only=True),
        _f("MOVED_TIME", "datetime", "Stage changed on", read_only=True),
        _f("DATE_CLOSED", "datetime", "Completed on", read_only=True),
        *_ORIGIN, *_ACTIVITY, *_UTM, *_MULTI,
    ])


def company_spec() -> EntitySpec:
    return EntitySpec("company", "companies", 4, "CRM_COMPANY", "TITLE", [
        _ID,
        _f("TITLE", "string", "Company name"),
        _f("COMPANY_TYPE", "crm_status", "Company type", status_type="COMPANY_TYPE"),
        _f("INDUSTRY", "crm_status", "Industry", status_type="INDUSTRY"),
        _f("EMPLOYEES", "crm_status", "Employees", status_type="EMPLOYEES"),
        _f("CURRENCY_ID", "crm_currency", "Currency"), _f("REVENUE", "double", "Annual revenue"),
        _f("OPENED", "char", "Available to everyone"), _f("COMMENTS", "text", "Comment"), *_HAS,
        _f("IS_MY_COMPANY", "char", "My company"), *_AUDIT,
        _f("LEAD_ID", "crm_lead", "Lead", read_only=True), *_ORIGIN, *_ACTIVITY, *_UTM, *_MULTI,
    ])


def field_meta(f: FieldSpec, uf: UserField | None = None) -> dict[str, Any]:
    """One entry of ``crm.*.fields``."""
    meta: dict[str, Any] = {"type": f.type, "isRequired": f.required, "isReadOnly": f.read_only,
                            "isImmutable": f.immutable, "isMultiple": f.multiple, "isDynamic": uf is not None,
                            "title": f.name if uf else f.title}
    if f.status_type:
        meta["statusType"] = f.status_type
    if uf is not None:
        if uf.type == "enumeration":
            meta["items"] = [{"ID": iid, "VALUE": text} for iid, text in uf.items]
        meta.update({"listLabel": uf.label, "formLabel": uf.label, "filterLabel": uf.label,
                     "settings": _uf_settings(uf)})
    return meta


def _uf_settings(uf: UserField) -> dict[str, Any]:
    if uf.type == "enumeration":
        return {"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"}
    if uf.type == "double":
        return {"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": None}
    if uf.type == "date":
        return {"DEFAULT_VALUE": {"TYPE": "NONE", "VALUE": ""}}
    return {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""}
