"""The built-in transforms, registered by name exactly as a plugin would register its own."""

from __future__ import annotations

from ..registry import register_transform
from .casts import First, Flag, Join, Map, Number, OnlyIf, Text
from .contact_points import ContactPoints, ContactProperties, Email, Multifield, Multitext, Phone
from .custom_values import CfEnum, CfEnums, CfValue, UfEnum
from .references import (
    Company,
    CrmBinding,
    EntityRef,
    Link,
    Links,
    PipelineRef,
    Reference,
    StageRef,
    StageStatus,
    UserRef,
)
from .times import IsoDate, IsoTime, UnixDate, UnixTime

BUILTINS = {
    "text": Text, "number": Number, "map": Map, "flag": Flag, "join": Join, "only_if": OnlyIf, "first": First,
    "unix_time": UnixTime, "iso_time": IsoTime, "unix_date": UnixDate, "iso_date": IsoDate,
    "phone": Phone, "email": Email, "multitext": Multitext, "multifield": Multifield,
    "contact_points": ContactPoints, "contact_properties": ContactProperties,
    "cf_value": CfValue, "cf_enum": CfEnum, "cf_enums": CfEnums, "uf_enum": UfEnum,
    "user": UserRef, "pipeline": PipelineRef, "stage": StageRef, "stage_status": StageStatus,
    "link": Link, "links": Links, "entity_ref": EntityRef, "crm_binding": CrmBinding,
    "reference": Reference, "company": Company,
}
for _name, _cls in BUILTINS.items():
    register_transform(_name, _cls)

# Built-ins whose forward reads only the value, their parameters, the catalog and the custom field
# (Transform.pure). Not the links (the resolver mints ids) nor the stages (they read the pipeline
# from the record).
PURE = ("text", "number", "map", "flag", "join", "only_if", "first", "unix_time", "iso_time", "unix_date", "iso_date",
        "phone", "email", "multitext", "multifield", "contact_points", "contact_properties",
        "cf_value", "cf_enum", "cf_enums", "uf_enum", "user", "pipeline", "company")
for _name in PURE:
    BUILTINS[_name].pure = True

# Built-ins that need nothing of the engine but their record and the catalog: all but the links, whose
# resolver mints canonical ids in the store (Transform.portable).
ENGINE_BOUND = ("link", "links", "reference", "entity_ref", "crm_binding")
for _name, _cls in BUILTINS.items():
    _cls.portable = _name not in ENGINE_BOUND
