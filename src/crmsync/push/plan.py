"""What a push must write: canonical rows that differ from their link's base, and rows with no link.

For each canonical row of an entity, the push fields (``both`` and ``push`` in the mapping) are
compared with the *base* — the canonical values last agreed with that CRM record. A linked row
whose values differ becomes an ``update`` of only the changed fields; a row with no link to this
connection (and not deleted) becomes a ``create``. The pipeline's ``write_mode`` drops one kind
(``update_only``: no creates, ``insert_only``: no updates). A row the mapping cannot write (a stage
name the CRM does not have …) is a :class:`~crmsync.mapping.Rejection`, set aside, not enqueued.
A field with a manual conflict waiting (``sync.conflicts``) is held back from every CRM until resolved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.conflicts import held_fields
from crmsync.canonical.tables import columns
from crmsync.canonical.values import get_field, plain, put_field, same

from .candidates import Candidates
from .checks import PushChecks
from .outbox import Op

ENGINE = ("id", "version", "deleted_at")


@dataclass
class Plan:
    entity: str
    ops: list[Op] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)  # {canonical_id, remote_id, field, reason}
    held: list[dict[str, Any]] = field(default_factory=list)  # {canonical_id, fields}: manual conflicts wait
    key: str = ""  # what the plan depends on besides the store (crmsync.push.quiet): fields, settings, columns
    clean: bool = False  # nothing to do and nothing to report for any row: the store answers "nothing" as is
    trusted: bool = False  # not computed: the store is as a plan with this key left it (crmsync.push.quiet)
    writes: set[str] = field(default_factory=set)  # the fields some op may write (what its metadata must cover)
    creates_any: bool = False  # some row is new to this CRM
    _mapping: _Mapping | None = field(default=None, repr=False)  # compared rows not mapped yet

    def mapped(self, size: Callable[[str], int]) -> Iterator[list[Op]]:
        """The ops still to map, a chunk of at most ``size(kind)`` rows of one kind at a time (see
        :func:`_mapped`); the plan's lists grow as the chunks are taken."""
        return _mapped(self, size)

    @property
    def creates(self) -> list[Op]:
        return [o for o in self.ops if o.kind == "create"]

    @property
    def updates(self) -> list[Op]:
        return [o for o in self.ops if o.kind == "update"]


def idempotency_key(connection: str, entity: str, canonical_id: str, kind: str, values: dict[str, Any],
                    base_hash: str | None = None, after: str | None = None) -> str:
    """Same change from the same base after the same last write → same key (a re-planned op is reused,
    never sent twice). The base is part of it so that writing a value again after the CRM changed it
    back (A→B, B→A in the CRM, A→B again) is a new op; ``after``, the record's last op sent to this CRM,
    so that a local A→B, B→A, A→B — the same change from the same base again — is one too."""
    text = json.dumps([connection, entity, canonical_id, kind, values, base_hash, after], sort_keys=True,
                      ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def last_sent(con: Any, connection: str, entity: str, canonical_ids: list[str]) -> dict[str, str]:
    """Canonical id → op_id of its latest write sent to this connection (only for ``canonical_ids``:
    the records a plan writes, not the whole store)."""
    if not canonical_ids:
        return {}
    return dict(con.execute(
        "SELECT canonical_id, arg_max(op_id, sent_at) FROM sync.outbox WHERE connection = ? AND entity = ? "
        "AND status = 'sent' AND canonical_id IN (SELECT unnest(?)) GROUP BY canonical_id",
        [connection, entity, canonical_ids]).fetchall())


def keyed(con: Any, ops: list[Op], base_hashes: dict[str, str | None]) -> list[Op]:
    """``ops`` with their idempotency keys (see :func:`idempotency_key`)."""
    if ops:
        after = last_sent(con, ops[0].connection, ops[0].entity, [o.canonical_id for o in ops])
        for op in ops:
            op.idempotency_key = idempotency_key(op.connection, op.entity, op.canonical_id, op.kind, op.values,
                                                 base_hashes.get(op.canonical_id), after.get(op.canonical_id))
    return ops


def plan_entity(con: Any, *, entity: str, connection: str, mapper: Any, schema: dict[str, Any],
                write_mode: str = "upsert", trust: Callable[[str], bool] | None = None,
                on_work: Callable[[list[str], bool], None] | None = None) -> Plan:
    """The whole plan at once (a dry run, tests): :func:`compare_entity`, then every op mapped."""
    plan = compare_entity(con, entity=entity, connection=connection, mapper=mapper, schema=schema,
                          write_mode=write_mode, trust=trust, on_work=on_work)
    for _ in plan.mapped(lambda kind: MAP_CHUNK):
        pass
    return plan


def compare_entity(con: Any, *, entity: str, connection: str, mapper: Any, schema: dict[str, Any],
                   write_mode: str = "upsert", trust: Callable[[str], bool] | None = None,
                   on_work: Callable[[list[str], bool], None] | None = None) -> Plan:
    """Decide which rows have something to write; :meth:`Plan.mapped` then maps them into ops,
    a chunk at a time, so a push can send the first batch while the rest is still being mapped.

    ``mapper``: a :class:`crmsync.mapping.Mapper` whose resolver is the connection's LinkBook.
    ``trust``: given the plan's :attr:`Plan.key`, whether the store is known to be exactly as a clean
    plan with that key left it (crmsync.push.quiet); then nothing is read and the plan is empty.
    ``on_work``: called once, when the first row with something to write is found, with its changed
    fields and whether it is new to the CRM (the push then fetches what the mapping needs for them
    while the rest is compared); :attr:`Plan.writes` and :attr:`Plan.creates_any` say it for all rows."""
    push_fields = [f.name for f in mapper.spec.fields if f.pushes]  # from the spec: no catalog needed yet
    checks = PushChecks(con, entity, mapper)
    cols = columns(schema)
    settings = [push_fields, checks.pull_only, write_mode]
    plan = Plan(entity, key=json.dumps([Candidates.key(settings), cols], sort_keys=True))
    if trust is not None and trust(plan.key):
        plan.clean = plan.trusted = True
        return plan
    # Only rows that changed since a plan last found nothing to do for them (crmsync.push.candidates),
    # compared while they stream in; what has something to do is mapped once the stream is done.
    found = Candidates.find(con, entity=entity, connection=connection, cols=cols, settings=settings)
    todo: list[_Todo] = []
    for row, link, bucket in found.rows():
        cid = row["id"]
        record = {k: plain(v) for k, v in row.items() if k not in ENGINE and v is not None}
        base: dict[str, Any] | None = None
        if link is None:
            if row.get("deleted_at") is not None or write_mode == "update_only":
                continue
            kind, remote_id, base_hash = "create", None, None
            changed = [f for f in push_fields if get_field(record, f) is not None]
        else:
            remote_id, base_text, base_hash = link
            base = json.loads(base_text) if base_text else None
            if base is None or row.get("deleted_at") is not None or write_mode == "insert_only":
                continue  # linked but never read (a minted id), or deleted: not ours to write now
            kind = "update"
            changed = [f for f in push_fields if not same(get_field(record, f), get_field(base, f))]
        if checks.note(cid, remote_id, record, base) or changed:
            found.busy.add(bucket)  # something to do (or to report): looked at again next time
        if changed:
            if not todo and on_work is not None:
                on_work(changed, kind == "create")
            plan.writes.update(changed)
            plan.creates_any = plan.creates_any or kind == "create"
            todo.append((cid, kind, remote_id, base_hash, record, changed))
    found.keep()
    # Creates before updates (the order the writes go out in), each in id order, as one scan of the
    # table found them.
    todo.sort(key=lambda item: (item[1] != "create", item[0]))
    plan._mapping = _Mapping(con, connection, mapper, checks, held_fields(con, entity), todo, checks.pull_only_edits(),
                             bool(found.busy))
    return plan


MAP_CHUNK = 250  # rows mapped at a time when nobody waits for the first ops

_Todo = tuple[str, str, "str | None", "str | None", dict[str, Any], list[str]]


@dataclass
class _Mapping:
    """What :meth:`Plan.mapped` still has to do after the comparison."""

    con: Any
    connection: str
    mapper: Any
    checks: PushChecks
    held: dict[str, set[str]]
    todo: list[_Todo]
    pull_only: list[dict[str, Any]]  # reported once every row is mapped, after the mapping's rejections
    busy: bool


def _mapped(plan: Plan, size: Callable[[str], int]) -> Iterator[list[Op]]:
    """Map the compared rows into ops, ``size(kind)`` rows at a time (a chunk holds one kind), each
    chunk's ops keyed; held fields and rejections go to the plan as they are found. Once exhausted,
    the plan is complete (:attr:`Plan.clean` set)."""
    from crmsync.mapping import Rejection

    work, plan._mapping = plan._mapping, None
    if work is None:
        return
    entity, con, mapper, checks = plan.entity, work.con, work.mapper, work.checks
    todo, at = work.todo, 0
    while at < len(todo):
        kind = todo[at][1]
        end, most = at, max(1, size(kind))
        while end < len(todo) and end - at < most and todo[end][1] == kind:
            end += 1
        ops: list[Op] = []
        base_hashes: dict[str, str | None] = {}
        for cid, kind, remote_id, base_hash, record, changed in todo[at:end]:
            if kind == "update":
                for name in changed:  # a cleared field is written as null
                    if get_field(record, name) is None:
                        put_field(record, name, None)
            waiting = work.held.get(cid, set())
            if waiting & set(changed):
                plan.held.append({"canonical_id": cid, "remote_id": remote_id,
                                  "fields": sorted(waiting & set(changed))})
                changed = [f for f in changed if f not in waiting]
            if not changed:
                continue
            refused = checks.refuse(record, changed, kind)  # what the CRM would refuse or mangle: never sent
            if refused is not None:
                plan.rejected.append({"canonical_id": cid, "remote_id": remote_id, **refused, "direction": "push"})
                continue
            values = _subset(record, changed)
            try:
                payload = mapper.push(record, fields=changed)
            except Rejection as rejection:
                plan.rejected.append({"canonical_id": cid, "remote_id": remote_id, **rejection.as_dict()})
                continue
            ops.append(Op(kind=kind, entity=entity, connection=work.connection, canonical_id=cid,
                          remote_id=remote_id, fields=changed, values=values, payload=payload, idempotency_key=""))
            base_hashes[cid] = base_hash
        at = end
        plan.ops += keyed(con, ops, base_hashes)
        if ops:
            yield ops
    plan.rejected += work.pull_only
    plan.clean = not (work.busy or plan.ops or plan.rejected or plan.held)


def planned(plan: Plan) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """What a plan would send, as (entity, kind, canonical id, fields): what a dry run promises."""
    return [(plan.entity, o.kind, o.canonical_id, tuple(sorted(o.fields or ()))) for o in plan.ops]


def assume_created(book: Any, plan: Plan) -> None:
    """Dry run: the real run creates these records before it maps the entities after this one, whose
    references to them then resolve (a new deal's new contact). Stand-in remote ids let the plan
    resolve them the same way; they are negative, so never a CRM's, and nothing is stored."""
    creates = plan.creates
    if not creates:
        return
    from crmsync.canonical.links import Link

    book.to_crm(plan.entity, "")  # load this kind's map first, so that put() extends it
    for n, op in enumerate(creates, 1):
        book.put(plan.entity, f"-{n}", Link(op.canonical_id, None))


def _subset(record: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        put_field(out, name, get_field(record, name))
    return out
