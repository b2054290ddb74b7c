"""Writers: send outbox ops to a CRM in the shape its connector declares, one result per op.

Each write call of a connector entity (``create``, ``update``, ``delete``) names its kind with
``type:`` and is sent by the writer registered under that name (:func:`register_writer`), exactly
as a plugin would register one:

* ``rest`` — one record per call (``POST``/``PATCH``/``PUT``/``DELETE``, ``{id}`` filled into the path);
* ``array`` — many records in one JSON array, matched back by an echoed request id or by position;
* ``batch`` — an envelope of inputs (``{"inputs": [...]}``), results matched by position or id;
* ``rpc_batch`` — RPC method calls packed into the CRM's ``batch`` call, one sub-call per op.

An entity's :class:`Writer` holds one of those per kind and the two ways back into the CRM
(crmsync.push.lookup): reading written records back by id (``read_back``) and finding the records a
lost create may have made (``recover``: by the idempotency key the record carries, or by content).

An op refused because the CRM record no longer exists comes back with ``gone`` set: the caller
marks the record deleted instead of retrying it (crmsync.push.deletes). An op whose write may have
reached the CRM but whose answer was lost (:class:`~crmsync.http.session.OutcomeUnknown`) comes back
with ``unknown`` set and is never sent again as is: the caller finds out what the CRM holds first.
Each writer tells the session per request whether it is idempotent (``idempotent:`` in the call,
default false: a write sent twice may do twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from crmsync.errors import CrmError

from .outbox import Op


@dataclass
class Outcome:
    op: Op
    remote_id: str | None = None
    error: str | None = None  # the CRM's reason when it refused the op
    gone: bool = False  # refused because the record does not exist (deleted in the CRM)
    raw: dict[str, Any] | None = None  # the record as the CRM holds it after the write, if read back already
    unknown: str | None = None  # why the write's outcome is unknown (its answer was lost)
    paths: tuple[str, ...] = ()  # where in the sent item the CRM's refusal points (``custom_fields_values.0.field_id``)

    @property
    def ok(self) -> bool:
        return self.error is None and self.unknown is None and self.remote_id is not None


class KindWriter:
    """Sends one kind of write (``create``, ``update`` or ``delete``) of one entity.

    ``owner``: the entity's :class:`Writer` (session, base URL, lookups); ``call``: the write call's
    block of the connector spec."""

    def __init__(self, owner: Writer, kind: str, call: dict[str, Any]) -> None:
        self.owner, self.kind, self.call = owner, kind, call

    @property
    def session(self) -> Any:
        return self.owner.session

    def url(self, path: str) -> str:
        return f"{self.owner.base_url}/{path.lstrip('/')}"

    @property
    def idempotent(self) -> bool:
        return bool(self.call.get("idempotent", False))

    def batch_size(self) -> int:
        return int(self.call.get("batch_size", 50))

    def send(self, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        """Write one batch; ``sending(ops)`` is called (and must commit) just before each HTTP call."""
        raise NotImplementedError


WriterFactory = Callable[[Any, str, dict[str, Any]], KindWriter]
_WRITERS: dict[str, WriterFactory] = {}


def register_writer(name: str, factory: WriterFactory) -> None:
    """Make ``type: name`` a write call kind; ``factory(owner, kind, call)`` builds its :class:`KindWriter`.
    A plugin registers the JSON Schema of its keys too (crmsync.specs.registry.register_block_type
    on block ``write_call``) so ``crmsync validate`` knows it."""
    if name in _WRITERS:
        raise ValueError(f"writer type {name!r} is already registered")
    _WRITERS[name] = factory


def writer_types() -> list[str]:
    return sorted(_WRITERS)


def write_type(call: dict[str, Any]) -> str:
    """The call's ``type:``. Specs written before writers had one: ``body: array`` is an ``array``
    writer, an RPC ``method`` without ``path`` an ``rpc_batch``, any other REST call ``rest``."""
    if call.get("type"):
        return str(call["type"])
    if call.get("body") == "array":
        return "array"
    return "rest" if call.get("path") else "rpc_batch"


class Writer:
    """One connection's writes of one entity. ``spec``: the connector's entity block."""

    def __init__(self, entity: str, spec: dict[str, Any], paginator: dict[str, Any], session: Any,
                 base_url: str) -> None:
        from .lookup import Lookup

        self.entity, self.spec, self.paginator = entity, spec, paginator
        self.session, self.base_url = session, base_url.rstrip("/")
        self.lookup = Lookup(self)
        self._kinds: dict[str, KindWriter] = {}

    def kind(self, kind: str) -> KindWriter:
        if kind not in self._kinds:
            call = self.spec.get(kind)
            if not call:
                raise CrmError(f"the {self.entity} connector has no way to {kind} records through the API "
                               f"(its entity has no {kind!r} call)")
            name = write_type(call)
            factory = _WRITERS.get(name)
            if factory is None:
                raise CrmError(f"{self.entity}.{kind}.type {name!r} is not a known writer; known: "
                               f"{', '.join(writer_types())}")
            self._kinds[kind] = factory(self, kind, call)
        return self._kinds[kind]

    def batch_size(self, kind: str) -> int:
        return self.kind(kind).batch_size() if self.spec.get(kind) else 50  # no such call: send() says so

    def send(self, kind: str, ops: list[Op], sending: Callable[[list[Op]], None]) -> list[Outcome]:
        blocks = self.spec.get("associations")
        if blocks and kind in ("create", "update"):  # links written beside the record (crmsync.push.associations)
            from .associations import AssociationWriter

            return AssociationWriter(self, blocks).send(kind, ops, sending)
        return self.kind(kind).send(ops, sending)

    def fetch_entries(self, ops: list[Op]) -> dict[str, dict[str, Any]]:
        """The records about to get an entry list (phones, e-mails …), as the CRM has them now."""
        ids = [str(op.remote_id) for op in ops
               if op.remote_id and any(_entry_list(v) for v in op.payload.values())]
        return self.fetch(ids) if ids else {}

    def find_created(self, ops: list[Op], matches: Callable[[dict[str, Any], Op], bool]) -> dict[str, str]:
        """The records lost creates made, as ``op_id`` → remote id (crmsync.push.lookup)."""
        return self.lookup.find_created(ops, matches)

    def fetch(self, remote_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The records with these ids as the CRM holds them now (a missing one is not in the answer)."""
        return self.lookup.fetch(remote_ids)

    def record_id(self, raw: dict[str, Any]) -> str:
        listing = self.spec["list"]
        return str(raw.get(listing.get("record_id_field") or listing.get("id_field") or "id"))


def writer_for(entity: str, connector: dict[str, Any], session: Any, base_url: str) -> Writer:
    from crmsync.plugins import load_plugins

    from . import writers_rest, writers_rpc  # noqa: F401  (register the built-in writer types)

    load_plugins()
    return Writer(entity, connector["entities"][entity], connector.get("paginator") or {}, session, base_url)


def _entry_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(e, dict) for e in value)


def chunks(items: list[Op], size: int) -> Iterator[list[Op]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def fill(template: Any, values: dict[str, Any]) -> Any:
    """``template`` with its placeholders filled: a string that is exactly ``{name}`` becomes the value
    itself (a dict, a list, a number), ``{name}`` inside longer text becomes its text; a dict that
    holds ``"...": "{fields}"`` takes those fields in beside its own keys (YAML keeps ``<<`` for merges)."""
    if isinstance(template, str):
        if template.startswith("{") and template.endswith("}") and template[1:-1] in values:
            return values[template[1:-1]]
        out = template
        for name, value in values.items():
            if not isinstance(value, (dict, list)):
                out = out.replace("{" + name + "}", str(value))
        return out
    if isinstance(template, list):
        return [fill(v, values) for v in template]
    if isinstance(template, dict):
        merged: dict[str, Any] = {}
        for key, value in template.items():
            if key == "...":
                merged.update(fill(value, values) or {})
            else:
                merged[key] = fill(value, values)
        return merged
    return template


def op_values(op: Op) -> dict[str, Any]:
    """What a write call's templates may name: the mapped ``fields``, the record's ``id`` and the
    op's idempotency ``key``."""
    return {"fields": dict(op.payload), "id": op.remote_id or "", "key": op.idempotency_key, "op_id": op.op_id}
