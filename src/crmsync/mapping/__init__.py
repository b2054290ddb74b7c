"""The mapping layer: canonical records ⇄ raw CRM records, driven by mappings/<crm>/<entity>.yaml."""

from __future__ import annotations

from .canonical import CanonicalCheck, load_canonical
from .catalog import CustomField, FieldCatalog, Stage, User, build_catalog, catalog_needs
from .engine import Mapper, Pulled
from .errors import MappingError, Rejection
from .layouts import register_layout
from .registry import Transform, UnknownTransform, get_transform, register_transform, transform_names
from .resolver import KeyResolver, Resolver
from .spec import FieldSpec, MappingSpec, load_mapping, parse_mapping
from .validate import validate_mapping

__all__ = [
    "CanonicalCheck", "CustomField", "FieldCatalog", "FieldSpec", "KeyResolver", "Mapper", "MappingError",
    "MappingSpec", "Pulled", "Rejection", "Resolver", "Stage", "Transform", "UnknownTransform", "User",
    "build_catalog", "catalog_needs", "get_transform", "load_canonical", "load_mapping", "parse_mapping",
    "register_layout", "register_transform", "transform_names", "validate_mapping",
]
