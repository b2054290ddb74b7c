"""What a mapping needs to know about one CRM account: its custom fields, users and pipelines.

A :class:`FieldCatalog` is built from the CRM's own metadata responses (never from ids written in a
mapping), so one mapping file works for every account of that CRM; the connector's ``catalog`` block
says how (:mod:`.catalog_build`), and where custom field values sit in a record (its ``layout``).

A catalog has four parts (:data:`PARTS`). A run fetches only the metadata calls that provide the
parts its mappings use (the connector's ``metadata.<call>.provides``; :func:`catalog_needs`), and
a lookup in a part that was not fetched raises instead of answering "unknown".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..specs.problems import did_you_mean
from .layouts import NoLayout

if TYPE_CHECKING:
    from .spec import FieldSpec, MappingSpec

PARTS = ("custom_fields", "users", "stages", "companies")


@dataclass(frozen=True)
class CustomField:
    id: Any                                    # as the CRM spells it: 460265, "UF_CRM_1736400000100"
    name: str                                  # what people see in the CRM
    code: str | None = None                    # a stable code when the CRM has one (PHONE, CURRENCY)
    type: str = "text"                         # the CRM's own type name
    multiple: bool = False
    options: Mapping[str, str] = field(default_factory=dict)   # str(option id) -> label

    def option_id(self, label: Any) -> Any | None:
        """The option id (typed as the CRM returns it) whose label is ``label``."""
        for oid, text in self.options.items():
            if text == label:
                return int(oid) if isinstance(self.id, int) else oid
        return None


@dataclass(frozen=True)
class User:
    id: Any
    email: str | None
    name: str = ""


@dataclass(frozen=True)
class Stage:
    pipeline_id: Any
    pipeline: str
    id: Any
    name: str
    status: str                                # open | won | lost


class FieldCatalog:
    """Custom fields of one entity plus the account's users, companies and deal stages, with fast lookups."""

    def __init__(self, crm: str, entity: str, fields: list[CustomField] | None = None,
                 users: list[User] | None = None, stages: list[Stage] | None = None,
                 companies: Mapping[Any, str] | None = None) -> None:
        self.crm, self.entity = crm, entity
        self.companies = {str(k): v for k, v in (companies or {}).items()}   # CRM company id -> name
        # name -> id typed as the CRM's company list has it (a number where the CRM's ids are numbers): a
        # push writes it as is, and a CRM with numeric ids refuses "12"
        self._company_ids = {v: k for k, v in (companies or {}).items()}
        self.fields = list(fields or [])
        self.users = list(users or [])
        self.stages = list(stages or [])
        self._users = {str(u.id): u for u in self.users}
        self._emails = {u.email.lower(): u for u in self.users if u.email}
        self._stages = {(str(s.pipeline_id), str(s.id)): s for s in self.stages}
        self._pipelines = {str(s.pipeline_id): s.pipeline for s in self.stages}
        self._pipeline_ids = {s.pipeline: s.pipeline_id for s in self.stages}
        self.parts: frozenset[str] = frozenset(PARTS)   # what the metadata it was built from covers
        self.layout: Any = NoLayout(crm)                 # where custom field values sit (the connector says)

    def _need(self, part: str) -> None:
        if part not in self.parts:
            raise LookupError(f"the {self.crm} {part} were not fetched for this {self.entity} mapping: a transform "
                              f"that looks them up must say so (Transform.catalog = ({part!r},))")

    # custom fields ---------------------------------------------------------------------------
    def find_field(self, ref: Mapping[str, Any]) -> CustomField:
        """The field named by ``{id: …}``, ``{code: …}`` or ``{name: …}``; LookupError says what exists."""
        self._need("custom_fields")
        (how, wanted), = ref.items()
        if how == "id":
            found = [f for f in self.fields if str(f.id) == str(wanted)]
            known = [str(f.id) for f in self.fields]
        elif how == "code":
            found = [f for f in self.fields if f.code and f.code.upper() == str(wanted).upper()]
            known = [f.code for f in self.fields if f.code]
        else:
            found = [f for f in self.fields if f.name == wanted]
            known = [f.name for f in self.fields]
        if len(found) == 1:
            return found[0]
        where = f"{self.crm} {self.entity} custom fields"
        if not found:
            raise LookupError(f"no custom field with {how} {wanted!r} among the {where}"
                              f"{did_you_mean(str(wanted), known)} (known: {', '.join(sorted(set(known)))})")
        ids = ", ".join(str(f.id) for f in found)
        raise LookupError(f"{len(found)} {where} have {how} {wanted!r} (ids {ids}): refer to one by id or code")

    # users -------------------------------------------------------------------------------------
    def user(self, user_id: Any) -> User | None:
        self._need("users")
        return self._users.get(str(user_id))

    def user_by_email(self, email: str) -> User | None:
        self._need("users")
        return self._emails.get(email.strip().lower())

    # companies -------------------------------------------------------------------------------
    def company_name(self, company_id: Any) -> str | None:
        self._need("companies")
        return self.companies.get(str(company_id))

    def company_id(self, name: str) -> Any | None:
        self._need("companies")
        return self._company_ids.get(name)

    # pipelines and stages ---------------------------------------------------------------------
    def stage(self, pipeline_id: Any, stage_id: Any) -> Stage | None:
        self._need("stages")
        return self._stages.get((str(pipeline_id), str(stage_id)))

    def stage_named(self, pipeline: str | None, name: str) -> Stage | None:
        self._need("stages")
        return next((s for s in self.stages if s.pipeline == pipeline and s.name == name), None)

    def pipeline_name(self, pipeline_id: Any) -> str | None:
        self._need("stages")
        return self._pipelines.get(str(pipeline_id))

    def pipeline_id(self, name: str) -> Any | None:
        self._need("stages")
        return self._pipeline_ids.get(name)

    def pipeline_names(self) -> list[str]:
        self._need("stages")
        return list(self._pipeline_ids)


def build_catalog(connector: Mapping[str, Any] | str, metadata: Mapping[str, Any], entity: str,
                  parts: Iterable[str] | None = None) -> FieldCatalog:
    """The catalog of ``entity`` (a connector entity: contact, deal, task) from ``metadata``, the
    CRM's metadata answers as :func:`crmsync.read.metadata.fetch_metadata` fetched them, read as the
    connector's ``catalog`` block says (:mod:`.catalog_build`). ``connector``: the connector spec,
    or the name of a built-in one. ``parts``: what was fetched for it (:func:`catalog_needs`; None:
    everything).
    """
    from .catalog_build import build_from_spec

    catalog = build_from_spec(_connector(connector) if isinstance(connector, str) else connector, metadata, entity)
    if parts is not None:
        catalog.parts = frozenset(parts)
    return catalog


def _connector(name: str) -> Mapping[str, Any]:
    from crmsync.project import builtin_project_dir
    from crmsync.specs.yamlload import load_yaml

    path = builtin_project_dir() / "connectors" / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise LookupError(f"no built-in connector {name!r}; known: {', '.join(known)} (pass the connector spec)")
    return load_yaml(path)


def catalog_needs(spec: MappingSpec, *, direction: str | None = None,
                  fields: Iterable[str] | None = None) -> frozenset[str]:
    """The catalog parts a mapping looks things up in: ``custom_fields`` when a field comes from (or
    goes to) a custom field, and what its transforms declare (:attr:`Transform.catalog`).

    ``direction``: ``push`` counts only the fields a push writes (``both``, ``push``), ``pull`` only
    those a pull reads; None: every field. ``fields``: only these canonical fields (what one push
    writes). A pull asks for everything its mapping reads; a push for what the values it writes use
    (:mod:`crmsync.push.lookups`)."""
    wanted = None if fields is None else set(fields)
    needs: set[str] = set()
    for f in spec.fields:
        if direction == "push" and not f.pushes or direction == "pull" and not f.pulls:
            continue
        if wanted is not None and f.name not in wanted:
            continue
        needs.update(field_needs(f))
    return frozenset(needs)


def field_needs(f: FieldSpec) -> frozenset[str]:
    """The catalog parts one mapping field looks things up in, whichever way it is mapped."""
    from .registry import get_transform
    from .spec import CustomFieldRef

    needs: set[str] = set()
    if isinstance(f.source, CustomFieldRef) or isinstance(f.target, CustomFieldRef):
        needs.add("custom_fields")
    for t in f.transforms:
        needs.update(get_transform(t["type"]).catalog)
    return frozenset(needs)
