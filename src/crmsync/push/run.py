"""``crmsync push``: plan the writes, keep them in the outbox, send them, record what the CRM agreed.

Per entity (contacts before the deals and tasks that link to them):

1. settle ops a previous run left in flight (``sending``: it died between the HTTP call and
   recording the answer; ``unknown``: it could not settle a lost answer) by asking the CRM what
   became of them (:meth:`_Entity.settle`): a create is looked up (:meth:`Writer.find_created`) and
   linked if found, so it is never made twice; an update that the record shows is recorded, a delete
   whose record is gone too; only what did not land goes back to ``pending``;
2. plan: compare every row with its base (:func:`~crmsync.push.plan.compare_entity`), then map and
   enqueue the rows with something to write one batch at a time (same change → same op), each batch
   stored just before it is sent, so the first write does not wait for the whole plan;
3. send in the connector's batch size, marking each batch ``sending`` (committed) first. A batch
   whose answer was lost (the session raises ``OutcomeUnknown`` rather than resend a write) is
   marked ``unknown`` and settled the same way at once, in this run, before the next batch goes
   out; what did not land is sent again, a bounded number of times;
4. read the written records back and map them as a pull would: that is the link's new base, and
   canonical takes what the CRM keeps differently (its timestamps, a normalised value, a value it
   derives such as AmoCRM's ``name`` from first and last name), so the pull that reads our writes
   back finds nothing to apply and the next push plans nothing.

Steps 2 to 4 overlap: batch k+1 is on the wire (write, read-back) while batch k is recorded and
batch k+2 mapped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from crmsync.canonical.apply import (
    CHANGE_COLUMNS,
    LINK_COLUMNS,
    LINK_KEY,
    current_rows,
    insert_rows,
    save_minted,
    upsert_rows,
)
from crmsync.canonical.deletes import pushed_fields
from crmsync.canonical.digest import record_hash
from crmsync.canonical.links import Link, LinkBook
from crmsync.canonical.tables import CLOCK, CREATED, TABLE, columns, ensure
from crmsync.canonical.values import get_field, same
from crmsync.errors import CrmError
from crmsync.http.session import OutcomeUnknown
from crmsync.locks import LockLost, check_held
from crmsync.project import Project
from crmsync.read.columns import is_engine_column
from crmsync.store import open_store

from .deletes import plan_deletes, record_deletes, record_gone
from .lookups import PushMapper
from .outbox import Op, claim, enqueue, in_flight, mark, mark_all_sent, supersede_others
from .plan import Plan, assume_created, compare_entity, plan_entity, planned
from .writer import Outcome, Writer, chunks, writer_for

ENTITY_ORDER = ("contact", "deal", "task")
CRASH_HOOK = "CRMSYNC_TEST_CRASH_AFTER_SEND"  # tests only: die after a write's HTTP call, before recording it
PREVIEW = 5
MAP_ROWS = 1000  # rows a push maps and stores at a time once its first batch is out (at most 16 batches)
SETTLE_ROUNDS = 3  # a batch whose answer is lost again and again stops the run (kept for the next) after this


@dataclass
class PushResult:
    run_id: str
    pipeline: str
    connection: str
    dry_run: bool = False
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    plan: dict[str, dict[str, Any]] = field(default_factory=dict)  # dry run: what would be sent
    planned: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)  # dry run: all of it
    seconds: float = 0.0
    status: str = "ok"
    sealed: list[str] = field(default_factory=list)  # entities planned by the store's seal, reading nothing

    def part(self) -> dict[str, Any]:
        """What ``sync.runs.parts`` keeps of a push."""
        return {"seconds": round(self.seconds, 3), "entities": self.entities}

    def as_dict(self) -> dict[str, Any]:
        from crmsync.runs import issues_of

        out = {"run_id": self.run_id, "pipeline": self.pipeline, "connection": self.connection,
               "dry_run": self.dry_run, "status": self.status, "issues": issues_of(self.entities), **self.part()}
        if self.dry_run:
            out["plan"] = self.plan
        return out


def _counts() -> dict[str, int]:
    return {"created": 0, "updated": 0, "deleted": 0, "conflicts": 0, "rejected": 0, "held": 0}


def push_connection(project: Project, *, pipeline: str, connection: str, crm: str, connector: dict[str, Any],
                    mappings: dict[str, Any], canonical: dict[str, dict[str, Any]], entities: list[str],
                    session: Any, base_url: str, store: str, write_mode: str = "upsert", dry_run: bool = False,
                    con: Any = None, deletes: str = "soft", progress: Callable[[str], None] = lambda _: None,
                    metadata: dict[str, Any] | None = None, ticket: Any = None, quiet: Any = None) -> PushResult:
    """``mappings``: canonical entity → a loaded mapping spec (crmsync.mapping.MappingSpec).
    ``deletes``: the pipeline's setting; ``hard`` sends local deletions (crmsync.push.deletes).
    ``metadata``: what this run already fetched of the CRM's metadata (``crmsync sync``: its pull's),
    completed here only as far as the records to write need it.

    ``con``: an open store connection to work in (``crmsync sync``); a dry run on it leaves the
    caller's transaction open. Without one the push opens the store itself.

    ``ticket`` (crmsync.runs.RunTicket): the run this push is, or is the last part of (a sync
    records the run itself, with both parts).

    ``quiet`` (crmsync.push.quiet.Quiet): a sync holding the store; plans it trusts read nothing, and
    each plan tells it whether it found anything to do.
    """
    from crmsync.read.metadata import fetch_metadata, fetched_parts

    fetched: dict[str, Any] = {} if metadata is None else metadata

    def fetch(parts: frozenset[str], entity: str) -> dict[str, Any]:
        """Only if some record of ``entity`` is to be written, and only what its mapping uses
        (``parts``); each call is made once per run (contacts and deals share the users)."""
        return fetch_metadata(connector, session, base_url, parts=parts, entities=[entity], into=fetched)

    def have(entity: str) -> frozenset[str]:  # what this run's pull fetched seconds ago: mapped with, free
        return fetched_parts(connector, fetched, entity)

    args = dict(pipeline=pipeline, connection=connection, crm=crm, connector=connector, mappings=mappings,
                canonical=canonical, entities=entities, session=session, base_url=base_url, write_mode=write_mode,
                dry_run=dry_run, metadata=fetch, have=have, deletes=deletes, progress=progress, ticket=ticket,
                quiet=quiet)
    if con is not None:
        return _push(con, **args)
    with open_store(project.store_path(store)) as own:
        ensure(own, canonical)
        if not dry_run:
            return _push(own, **args)
        own.execute("BEGIN")  # a dry run settles and plans like a real one, then forgets it all
        try:
            return _push(own, **args)
        finally:
            own.execute("ROLLBACK")


def _push(con: Any, *, pipeline: str, connection: str, crm: str, connector: dict[str, Any], mappings: dict[str, Any],
          canonical: dict[str, dict[str, Any]], entities: list[str], session: Any, base_url: str, write_mode: str,
          dry_run: bool, metadata: Callable[[frozenset[str], str], dict[str, Any]],
          have: Callable[[str], frozenset[str]], deletes: str,
          progress: Callable[[str], None], ticket: Any = None, quiet: Any = None) -> PushResult:
    from crmsync.canonical.conflicts import settle_pending
    from crmsync.mapping import Mapper, build_catalog
    from crmsync.runs import RunTicket, new_run_id, outcome, write_run

    started = dt.datetime.now(dt.timezone.utc)
    ticket = ticket or RunTicket(new_run_id(started), "push", started)
    run_id = ticket.run_id
    result = PushResult(run_id, pipeline, connection, dry_run)
    ordered = [e for e in ENTITY_ORDER if e in entities] + [e for e in entities if e not in ENTITY_ORDER]
    if dry_run:
        settle_pending(con, canonical)
    else:
        con.execute("BEGIN")
        settled = settle_pending(con, canonical)  # resolutions made by SQL since the last run: before planning
        con.execute("COMMIT")
        if settled and quiet is not None:
            quiet.trusted = False
    book = LinkBook.load(con, connection)
    for entity in ordered:
        spec = mappings[entity]
        mapper = PushMapper(spec, lambda part, parts, entity=entity: Mapper(
            part, build_catalog(connector, metadata(parts, part.source), part.source, parts), book,
            canonical.get(entity)), held=have(spec.source))
        writer = writer_for(spec.source, connector, session, base_url)
        ctx = _Entity(con, entity, connection, run_id, mapper, writer, book, canonical[entity], deletes)
        if not dry_run and ctx.recover() and quiet is not None:
            quiet.trusted, quiet.spoiled = False, True  # it settled a dead run's writes: no quiet run
        trust = None if quiet is None else (
            lambda key, entity=entity: quiet.trusts(connection, entity, f"{key}|{deletes}"))
        # A real run maps the rows it compared while it sends (_Entity.send); a dry run maps them all now.
        try:
            plan = (plan_entity if dry_run else compare_entity)(
                con, entity=entity, connection=connection, mapper=mapper, schema=canonical[entity],
                write_mode=write_mode, trust=trust, on_work=mapper.prefetch)
        except BaseException as exc:
            mapper.settle(interrupted=not isinstance(exc, Exception))
            raise
        if plan.writes:  # all the parts the plan's writes use, before the first is mapped
            mapper.writing(plan.writes, plan.creates_any)
        gone: list[Op] = []
        if plan.trusted:
            result.sealed.append(entity)
        else:
            gone = plan_deletes(con, entity=entity, connection=connection, mode=deletes)
        if dry_run:
            plan.ops += gone
            if quiet is not None:
                quiet.note(connection, entity, f"{plan.key}|{deletes}", plan.clean and not plan.ops)
            result.entities[entity] = {**_counts(), "created": len(plan.creates), "updated": len(plan.updates),
                                       "deleted": len(_deletes(plan)), "rejected": len(plan.rejected),
                                       "held": len(plan.held)}
            result.plan[entity] = _preview(plan)
            result.planned += planned(plan)
            assume_created(book, plan)  # the real run creates them before the next entity refers to them
            continue
        try:
            ctx.send(plan, gone)
        except BaseException as exc:
            mapper.settle(interrupted=not isinstance(exc, Exception))
            raise
        mapper.settle()
        plan.ops += gone
        if quiet is not None:
            quiet.note(connection, entity, f"{plan.key}|{deletes}", plan.clean and not plan.ops)
        ctx.counts["held"] = len(plan.held)
        result.entities[entity] = ctx.counts
        progress(f"{entity}: created {ctx.counts['created']}, updated {ctx.counts['updated']}, "
                 f"deleted {ctx.counts['deleted']}, rejected {ctx.counts['rejected']}"
                 + (f", held {len(plan.held)} (manual conflicts)" if plan.held else ""))
    result.seconds = (dt.datetime.now(dt.timezone.utc) - started).total_seconds()
    result.status = outcome(result.entities)
    if not dry_run and ticket.kind == "push":
        write_run(con, ticket, pipeline=pipeline, connection=connection, status=result.status,
                  entities=result.entities, parts={"push": result.part()})
    return result


def _preview(plan: Plan) -> dict[str, Any]:
    return {"creates": [o.preview() for o in plan.creates[:PREVIEW]],
            "updates": [o.preview() for o in plan.updates[:PREVIEW]],
            "deletes": [o.preview() for o in _deletes(plan)[:PREVIEW]],
            "rejected": plan.rejected[:PREVIEW], "held": plan.held[:PREVIEW]}


def _deletes(plan: Plan) -> list[Op]:
    return [o for o in plan.ops if o.kind == "delete"]


class _Entity:
    """One entity of one push run: its mapper, writer, links and counts."""

    def __init__(self, con: Any, entity: str, connection: str, run_id: str, mapper: Any, writer: Writer,
                 book: LinkBook, schema: dict[str, Any], deletes: str = "soft") -> None:
        self.con, self.entity, self.connection, self.run_id = con, entity, connection, run_id
        self.deletes = deletes
        self.mapper, self.writer, self.book, self.schema = mapper, writer, book, schema
        self.cols = columns(schema)
        self.counts = _counts()
        self._blanks: dict[str, None] | None = None

    # 1. what a dead run left behind, and answers lost in this one -------------------------------
    def recover(self) -> int:
        """Settle what earlier runs left in flight; how many ops that was."""
        ops = in_flight(self.con, self.connection, self.entity)
        for kind in ("create", "update", "delete"):
            mine = [op for op in ops if op.kind == kind]
            if mine:  # what did not land is planned again below, under the same idempotency key
                mark(self.con, [op.op_id for op in self.settle(kind, mine)], "pending")
        return len(ops)

    def settle(self, kind: str, ops: list[Op]) -> list[Op]:
        """Ask the CRM what became of writes that may have reached it; record those that landed
        (or whose record is gone) and return the ops that provably did not land."""
        self.mapper.need_fields({name for op in ops for name in op.fields or ()})  # to compare what they wrote
        landed, resend = self._reconcile(kind, ops)
        if landed:
            done = [o for o in landed if o.ok and kind != "delete"]
            written = {str(o.remote_id): o.raw for o in done if o.raw is not None}
            unread = [str(o.remote_id) for o in done if o.raw is None]
            written.update(self.writer.fetch(unread) if unread else {})
            self.con.execute("BEGIN")
            self._record(self._settle_deletions(kind, landed), written)
            self.con.execute("COMMIT")
        return resend

    def _reconcile(self, kind: str, ops: list[Op]) -> tuple[list[Outcome], list[Op]]:
        if kind == "create":  # by the idempotency key the record carries, else by its content
            found = self.writer.find_created(ops, self._is_ours)
            return ([Outcome(op, found[op.op_id]) for op in ops if op.op_id in found],
                     [op for op in ops if op.op_id not in found])
        records = self.writer.fetch(sorted({str(op.remote_id) for op in ops}))
        landed: list[Outcome] = []
        resend: list[Op] = []
        for op in ops:
            raw = records.get(str(op.remote_id))
            if kind == "delete":
                if raw is None:  # gone, as the delete meant
                    landed.append(Outcome(op, op.remote_id))
                else:
                    resend.append(op)
            elif raw is None:  # deleted in the CRM meanwhile: handled as that deletion
                landed.append(Outcome(op, op.remote_id, error="the record no longer exists in the CRM", gone=True))
            elif self._shows(raw, op):
                landed.append(Outcome(op, op.remote_id, raw=raw))
            else:
                # An update sets values, so sending one that did not land again is safe in effect (the
                # writer rebuilds it from the record as it is now). One that landed is not sent again:
                # a second write would still be a new edit in the CRM's history and clock.
                resend.append(op)
        return landed, resend

    def _shows(self, raw: dict[str, Any], op: Op) -> bool:
        """Whether the CRM record holds every value ``op`` wrote, read as a pull reads it."""
        from crmsync.mapping import Rejection

        if self._blanks is None:
            self._blanks = dict.fromkeys(_raw_columns(self.con, self.connection, self.entity))
        try:
            pulled = self.mapper.pull({**self._blanks, **raw})
        except Rejection:
            return False
        return all(_holds(get_field(pulled, f), get_field(op.values, f)) for f in op.fields)

    def _is_ours(self, raw: dict[str, Any], op: Op) -> bool:
        from crmsync.mapping import Rejection

        if self.book.linked(self.entity, self.writer.record_id(raw)):
            return False
        try:
            pulled = self.mapper.pull(raw)
        except Rejection:
            return False
        return all(_holds(get_field(pulled, f), get_field(op.values, f)) for f in op.fields)

    # 2.-3. plan, enqueue, send --------------------------------------------------------------------
    def send(self, plan: Plan, deletes: list[Op] | None = None) -> None:
        """Map, store and send ``plan``'s ops, then ``deletes``, a batch at a time (:meth:`_batches`)."""
        batches = self._batches(plan, deletes or [])
        try:
            self._send(batches)
        except LockLost:
            raise  # another worker may hold the connection now: this run writes nothing more
        except Exception:
            # The rest of the plan goes into the outbox as a run that planned everything first left
            # it ('pending'); the error that stopped the run is the one reported.
            with suppress(Exception):
                for _ in batches:
                    pass
            raise

    def _batches(self, plan: Plan, deletes: list[Op]) -> Iterator[tuple[str, list[Op]]]:
        """The writer's batches in the order they are sent (creates, updates, deletes), each mapped and
        stored in the outbox (committed, with the rows set aside so far) only when the send loop asks
        for it: the first write leaves as soon as its batch is mapped, and later rows are mapped, in
        growing chunks, while the batches before them are on the wire. The batches are those a plan
        mapped whole would give."""
        kept: list[str] = []
        aside = 0

        def store(ops: list[Op], last: bool = False) -> list[Op]:
            nonlocal aside
            self.con.execute("BEGIN")
            self._set_aside([(r["canonical_id"], r.get("remote_id"), r["field"], r["reason"])
                             for r in plan.rejected[aside:]])
            aside = len(plan.rejected)
            out = enqueue(self.con, self.run_id, self.connection, self.entity, ops, supersede=False) if ops else []
            kept.extend(o.op_id for o in out)
            if last:  # open ops of earlier plans that this one did not produce again
                supersede_others(self.con, self.connection, self.entity, kept)
            self.con.execute("COMMIT")
            return out

        chunks_taken = 0

        def rows(kind: str) -> int:  # one batch first, then more a time: fewer store round trips
            nonlocal chunks_taken
            size = self.writer.batch_size(kind)
            chunks_taken += 1
            return min(size << min(chunks_taken - 1, 4), max(size, MAP_ROWS))

        ready: list[Op] = []
        for ops in plan.mapped(rows):
            for op in store(ops):
                if ready and ready[0].kind != op.kind:
                    yield ready[0].kind, ready
                    ready = []
                ready.append(op)
                if len(ready) >= self.writer.batch_size(op.kind):
                    yield op.kind, ready
                    ready = []
        gone = store(deletes, last=True)
        if ready:
            yield ready[0].kind, ready
        for batch in chunks(gone, self.writer.batch_size("delete")) if gone else []:
            yield "delete", batch

    def _send(self, batches: Iterator[tuple[str, list[Op]]]) -> None:
        # One batch on the wire while the one before it is recorded: the HTTP (write, read-back) runs
        # in a worker thread, one request at a time as before, and this thread maps the next batch and
        # stores the previous answer meanwhile, so at the rate limit the next write is not held up by
        # our CPU. Only this thread touches the store. A batch is marked ``sending`` (committed) before
        # it is handed over, and only once the batch before it came back without an error: a run stops
        # at the first failed batch as before, and one killed at any point leaves at most two to recover.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crmsync-push") as wire:
            previous: tuple[str, Future[_Answer]] | None = None
            for kind, batch in batches:  # the next batch is mapped while the previous one is on the wire
                if previous and previous[1].exception():  # waits for its HTTP
                    break
                if previous and any(o.unknown for o in previous[1].result().outcomes):
                    self._finish(*previous)  # settled with nothing else on the wire
                    previous = None
                try:
                    batch = claim(self.con, batch)  # on a shared (Postgres) outbox, ops another worker holds drop out
                except LockLost:
                    if previous:  # its answer is here: recorded, not left for the next run to reconcile
                        self._finish(*previous)
                    raise
                if not batch:
                    continue
                current = (kind, wire.submit(self._exchange, kind, batch))
                if previous:
                    self._finish(*previous)
                previous = current
            if previous:
                self._finish(*previous)

    def _exchange(self, kind: str, batch: list[Op]) -> _Answer:
        """Worker thread, HTTP only: write ``batch``, then read back what the write did not return."""
        answer = _Answer()
        calls = 0

        def sending(ops: list[Op]) -> None:
            nonlocal calls
            calls += 1
            if calls > 1:  # the batch was marked before it came here; a re-send is counted in _finish
                answer.resent.update(o.op_id for o in ops)

        try:
            answer.outcomes = self.writer.send(kind, batch, sending)
        except OutcomeUnknown as exc:  # a writer that does not sort its outcomes itself: the whole batch
            answer.outcomes = [Outcome(op, op.remote_id, unknown=str(exc)) for op in batch]
        if kind != "delete":
            done = [o for o in answer.outcomes if o.ok]
            answer.written = {str(o.remote_id): o.raw for o in done if o.raw is not None}
            unread = [str(o.remote_id) for o in done if o.raw is None]
            answer.written.update(self.writer.fetch(unread) if unread else {})
        return answer

    def _finish(self, kind: str, future: Future[_Answer]) -> None:
        lost = self._take(kind, future.result())
        for _ in range(SETTLE_ROUNDS):
            if not lost:
                return
            try:
                resend = self.settle(kind, lost)
            except CrmError as exc:
                raise CrmError(
                    f"{len(lost)} {self.entity} write(s) to {self.connection} may have reached the CRM but their "
                    f"answers were lost, and the CRM could not be asked what became of them ({exc}). Nothing was "
                    f"sent again: they wait in sync.outbox (status 'unknown') and the next run checks them "
                    f"before it sends anything.", transient=True) from exc
            if not resend:
                return
            self._sending(resend)
            lost = self._take(kind, self._exchange(kind, resend))
        if lost:
            raise CrmError(f"{len(lost)} {self.entity} write(s) to {self.connection} lost their answer "
                           f"{SETTLE_ROUNDS + 1} times in a row; each time the CRM showed they had not landed. They "
                           f"wait in sync.outbox (status 'unknown'); check the CRM's status and run again: the next "
                           f"run checks them before it sends anything.", transient=True)

    def _take(self, kind: str, answer: _Answer) -> list[Op]:
        """Record one batch's answer; return the ops whose outcome is unknown (marked so, committed)."""
        _crash_hook()
        lost = [o for o in answer.outcomes if o.unknown]
        self.con.execute("BEGIN")
        if answer.resent:
            mark(self.con, sorted(answer.resent), "sending")  # counts the attempt, as a send would have
        self._record(self._settle_deletions(kind, [o for o in answer.outcomes if not o.unknown]), answer.written)
        mark(self.con, [o.op.op_id for o in lost], "unknown", lost[0].unknown if lost else None)
        self.con.execute("COMMIT")
        return [o.op for o in lost]

    def _settle_deletions(self, kind: str, outcomes: list[Outcome]) -> list[Outcome]:
        """Record deletes, and updates the CRM refused because it deleted the record meanwhile
        (crmsync.push.deletes); return the outcomes left for :meth:`_record`."""
        where = {"run_id": self.run_id, "entity": self.entity, "connection": self.connection}
        if kind == "delete":
            refused = record_deletes(self.con, **where, outcomes=outcomes)
            self.counts["deleted"] += len(outcomes) - len(refused)
            return refused
        gone = [o for o in outcomes if o.gone]
        if gone:
            record_gone(self.con, **where, cols=self.cols, outcomes=gone, mode=self.deletes,
                        pushed=pushed_fields(self.mapper.spec))
        return [o for o in outcomes if not o.gone]

    def _sending(self, ops: list[Op]) -> None:
        check_held()  # a re-send is a write too: not after the run's lock was lost
        mark(self.con, [o.op_id for o in ops], "sending")  # autocommitted before the HTTP call

    # 4. what the CRM agreed -----------------------------------------------------------------------
    def _record(self, outcomes: list[Outcome], written: dict[str, dict[str, Any]] | None = None) -> None:
        """``written``: the records as read back after the write, by remote id (None: read them now)."""
        from crmsync.mapping import Rejection

        refused = [o for o in outcomes if not o.ok]
        for o in refused:
            mark(self.con, [o.op.op_id], "rejected", o.error)
        # The CRM names what it refused by its place in the item sent: the field that wrote it there
        self._set_aside([(o.op.canonical_id, o.op.remote_id, self.mapper.field_at(o.op.payload, o.paths),
                          o.error or "") for o in refused], by_crm=True)
        done = [o for o in outcomes if o.ok]
        if written is None:
            written = self.writer.fetch([str(o.remote_id) for o in done]) if done else {}
        if self._blanks is None:  # the raw table's columns do not change during a push
            self._blanks = dict.fromkeys(_raw_columns(self.con, self.connection, self.entity))
        blanks = self._blanks
        links, changes, agreed, sent = [], [], [], []
        old_bases = self.book.bases(self.con, self.entity, [str(o.remote_id) for o in done])
        # The batch's records mapped as a pull maps them, field by field across the batch (the same
        # result as one record at a time, for a fraction of the CPU: phones, dates and options repeat).
        readable = list(dict.fromkeys(str(o.remote_id) for o in done if str(o.remote_id) in written))
        pulled = dict(zip(readable, self.mapper.read_back([{**blanks, **written[r]} for r in readable],
                                                          [old_bases.get(r) for r in readable]), strict=True))
        for o in done:
            op, remote_id = o.op, str(o.remote_id)
            old_base = old_bases.get(remote_id) or {}
            mapped = pulled.get(remote_id)
            base: dict[str, Any] | None = None if mapped is None or isinstance(mapped, Rejection) else mapped.canonical
            if base is None:  # not readable back: what we wrote is what we agreed
                base = {**old_base, **op.values}
            digest = record_hash(base)
            links.append({"entity": self.entity, "connection": self.connection, "remote_id": remote_id,
                          "canonical_id": op.canonical_id, "base": json.dumps(base, ensure_ascii=False, default=str),
                          "base_hash": digest, "remote_updated_at": base.get("updated_at")})
            self.book.put(self.entity, remote_id, Link(op.canonical_id, digest))
            agreed.append((op.canonical_id, base, op.fields, old_base))
            for name in op.fields:
                changes.append({"run_id": self.run_id, "entity": self.entity, "canonical_id": op.canonical_id,
                                "field": name, "old": json.dumps(get_field(old_base, name), ensure_ascii=False,
                                                                 default=str),
                                "new": json.dumps(get_field(op.values, name), ensure_ascii=False, default=str),
                                "side": f"local→{self.connection}"})
            sent.append((op, remote_id))
            self.counts["created" if op.kind == "create" else "updated"] += 1
        self._take_crm_values(agreed)
        mark_all_sent(self.con, sent)
        upsert_rows(self.con, "sync.links", LINK_COLUMNS, links, key=LINK_KEY)
        insert_rows(self.con, "sync.changes", CHANGE_COLUMNS, changes)
        save_minted(self.con, self.book)  # ids a read-back minted for linked records must stay stable

    def _take_crm_values(self, agreed: list[tuple[str, dict[str, Any], list[str], dict[str, Any]]]) -> None:
        """Canonical takes the CRM's view of each written record: the fields we wrote (values it
        normalised) and what it set itself (timestamps). A value this CRM does not hold — a company
        pulled from another CRM — is never blanked because the record now also lives here.
        ``agreed``: (canonical id, the read-back base, the fields written, the base before the write);
        one read, one write.
        """
        current = current_rows(self.con, self.entity, self.cols, [cid for cid, *_ in agreed])
        rows = []
        for canonical_id, base, written, old_base in agreed:
            row = current.get(canonical_id)
            if row is None:
                continue
            updated = _crm_view(row, base, written, self.cols, old_base)
            if all(updated[k] == row[k] or same(updated[k], row[k]) for k in self.cols):  # == first: cheap
                continue
            updated["version"] = int(row.get("version") or 0) + 1
            rows.append(updated)  # typed values as they are: a timestamp keeps its microseconds
            current[canonical_id] = updated  # the same record twice in one batch builds on the first
        upsert_rows(self.con, f"canonical.{TABLE[self.entity]}", self.cols, rows, key=["id"])

    def _set_aside(self, rows: list[tuple[str, str | None, str, str]], by_crm: bool = False) -> None:
        """``sync.rejected`` rows (direction push); the same reason for the same record is kept once.
        ``by_crm``: the CRM refused the write (``raw.refused_by``), rather than a check before sending;
        ``crmsync status`` counts the two apart now that both name their field."""
        for canonical_id, remote_id, name, reason in rows:
            raw = json.dumps({"canonical_id": canonical_id, **({"refused_by": "crm"} if by_crm else {})})
            seen = self.con.execute(
                "SELECT count(*) FROM sync.rejected WHERE direction = 'push' AND entity = ? AND connection = ? "
                "AND CAST(raw AS VARCHAR) = ? AND field = ? AND reason = ?",
                [self.entity, self.connection, raw, name, reason]).fetchone()[0]
            self.counts["rejected"] += 1
            if not seen:
                self.con.execute("INSERT INTO sync.rejected (run_id, entity, connection, remote_id, field, reason, "
                                 "direction, raw) VALUES (?, ?, ?, ?, ?, ?, 'push', ?)",
                                 [self.run_id, self.entity, self.connection, remote_id, name, reason, raw])


@dataclass
class _Answer:
    """What one batch's HTTP brought back: outcomes, the written records as read back (by remote
    id), and the ops the writer sent a second time (AmoCRM re-sends the good part of a refused array)."""

    outcomes: list[Outcome] = field(default_factory=list)
    written: dict[str, dict[str, Any]] = field(default_factory=dict)
    resent: set[str] = field(default_factory=set)


_batches_sent = 0


def _crash_hook() -> None:
    """Tests only. ``CRMSYNC_TEST_CRASH_AFTER_SEND=1`` raises after a batch's HTTP call, before its
    answer is recorded; ``kill[:N]`` kills this process with SIGKILL after the N-th batch (default 1):
    no ``finally``, no rollback, exactly what a power cut or an OOM kill leaves behind."""
    global _batches_sent
    how = os.environ.get(CRASH_HOOK)
    if not how:
        return
    _batches_sent += 1
    if how.startswith("kill"):
        if _batches_sent >= int(how.partition(":")[2] or 1):
            os.kill(os.getpid(), signal.SIGKILL)
        return
    raise RuntimeError(f"{CRASH_HOOK} is set: stopping after the HTTP call, before recording it")


def _crm_view(current: dict[str, Any], base: dict[str, Any], written: list[str], cols: dict[str, str],
              old_base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row after a write: the written fields as the CRM now holds them, and the CRM's other values
    where the row has not changed since it last agreed with this CRM (``old_base``). A field edited
    locally since — after the op was planned, or one a recovered op from an earlier run did not
    carry — keeps its edit, which the next push sends."""
    updated = dict(current)
    old_base = old_base or {}
    for name, value in base.items():
        if name not in cols or name == CLOCK or (name == CREATED and not _empty(current.get(name))):
            continue  # our write is no edit and no creation of the record: the row's own times stand
        mine = updated.get(name)
        if name not in written and not _empty(mine) and not same(mine, old_base.get(name)):
            continue  # a local edit this write did not carry (or another CRM's value): never overwritten
        if isinstance(value, dict) and (mine is None or isinstance(mine, dict)):
            mine = mine or {}
            updated[name] = {**mine, **{k: v for k, v in value.items() if not _empty(v) or _empty(mine.get(k))}}
        elif not _empty(value) or _empty(mine):
            updated[name] = value
    for name in written:
        top, _, sub = name.partition(".")
        if top not in cols:
            continue
        if sub:  # custom.<name>: only that key of the object
            merged = dict(updated.get(top) or {})
            merged[sub] = (base.get(top) or {}).get(sub)
            updated[top] = merged
        else:
            updated[top] = base.get(top)
    return updated


def _raw_columns(con: Any, connection: str, entity: str) -> list[str]:
    """The raw table's columns: a pull sees a key the CRM left out of a record as null, so must we."""
    from crmsync.read.run import dataset_name

    rows = con.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                       [dataset_name(connection), entity]).fetchall()
    return [r[0] for r in rows if not is_engine_column(r[0])]


def _holds(crm: Any, wrote: Any) -> bool:
    """Whether the CRM's value (read as a pull reads it) is the one a write sent. Linked ids are a set
    to a CRM that keeps links unordered (associations that come back by id): the same ids in
    another order are what was written, or a lost create would be taken for none and made twice."""
    if isinstance(crm, list) and isinstance(wrote, list) and all(isinstance(v, str) for v in crm + wrote):
        return sorted(crm) == sorted(wrote)
    return same(crm, wrote)


def _empty(value: Any) -> bool:
    return value is None or value == [] or value == {} or value == ""
