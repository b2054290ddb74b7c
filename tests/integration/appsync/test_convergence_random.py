"""Randomized convergence: several WatermelonDB phones and both fake CRMs edit the same records.

The model-based two-way test (tests/integration/sync/test_model_random.py) with its SQL side replaced
by phones: real Node clients of one tenant (examples/watermelon-client, WatermelonDB's own
``synchronize()``) against the app sync API, and the tenant's ``crmsync sync`` of AmoCRM and Bitrix24.
Each round edits first and last names on random sides — often the same field on several sides —
creates and deletes, then syncs everything in a random order with faults: the fakes' (429, 503, 500,
dropped and cut-off answers) and the phones' (a pull or push answer lost after the server acted).
When the edits stop, everything syncs until quiet, and then:

* every phone, the tenant's store and both CRMs hold the same live records with the same first and
  last names;
* nothing is duplicated: every live CRM record is linked to one canonical row, and every name created
  somewhere is one canonical row;
* nothing deleted comes back, on any phone or in the store;
* every field's last edit survives unless a recorded clash settled it: ``sync.conflicts`` (CRM against
  the store, or ``app`` for a push), or the phone's own (WatermelonDB keeps a field edited on the phone
  when the pull brings another value; the client reports each such clash).

Long: ``make soak`` runs it (marker ``soak``; ``CRMSYNC_CONVERGENCE_SEEDS``, ``CRMSYNC_CONVERGENCE_ROUNDS``).
"""

from __future__ import annotations

import json
import os
import random

import pytest

from tests.integration.appsync.harness import SECRET, Server
from tests.integration.appsync.watermelon_driver import WatermelonClient
from tests.integration.appsync.watermelon_world import AppWorld, make_project
from tests.integration.sync.test_model_random import CRMS, FAULTS, FIELDS, Loop

pytestmark = pytest.mark.soak
TENANT = "converge"
PHONES = 3
PHONE_FAULTS = ("lose_push_answer", "lose_pull_answer")


def _seeds() -> list[int]:
    text = os.environ.get("CRMSYNC_CONVERGENCE_SEEDS", "")
    return [int(s) for s in text.split(",") if s.strip()] if text else [3]


ROUNDS = int(os.environ.get("CRMSYNC_CONVERGENCE_ROUNDS", "3"))


class PhoneLoop(Loop):
    """The model test's loop on the tenant's project, with phones as the local side."""

    def __init__(self, world: AppWorld, amo, b24, phones: list[WatermelonClient], rng: random.Random, seed: int):
        super().__init__(world.folder(TENANT), amo, b24, rng, seed)
        self.world, self.phones = world, phones
        self.phone_clashes: dict[tuple[str, str], list[tuple]] = {}  # (id, field) -> [(local, remote)]

    def sync(self, crm: str, faults: str | None = None) -> int:
        with self.world.server.store_taken(TENANT):  # as the scheduler's runner: the API lets go of the store first
            sent = super().sync(crm, faults)
        print(f"sync {crm} faults={faults}: {sent} writes")
        return sent

    def phone_sync(self, phone: WatermelonClient, fault: str | None = None) -> int:
        """One sync of a phone; how many records moved either way (a lost answer fails it: retried later)."""
        answer = phone.send("sync", fault=fault) if fault else phone.send("sync")
        print(f"sync {phone.name} fault={fault}: {json.dumps(answer)[:600]}")  # the trace a failure shows
        for clash in answer.get("conflicts") or []:  # a failed push still had its pull's clashes
            for name, sides in clash["fields"].items():
                self.phone_clashes.setdefault((clash["id"], name), []).append((sides["local"], sides["remote"]))
        if not answer["ok"]:
            assert fault and f"fault injected: {fault}" in answer["error"], answer
            return -1
        return answer["pulled"] + answer["pushed"]

    def edit_round(self) -> None:
        rng, model = self.rng, self.model
        amo_links, b24_links = self.links("amocrm"), self.links("bitrix24")
        alive = {cid for (cid,) in self.sql("SELECT id FROM canonical.contacts WHERE deleted_at IS NULL")}
        on_phones = [set(p.records("contacts")) for p in self.phones]
        live = sorted(set(amo_links) & set(b24_links) & alive & set.intersection(*on_phones) - model.deleted)
        rng.shuffle(live)
        edited = live[: max(2, len(live) // 3)]
        sides = ["amocrm", "bitrix24", *(f"phone{i}" for i in range(len(self.phones)))]
        for i, cid in enumerate(edited):
            name = rng.choice(sorted(FIELDS))
            # every third one a true clash: the same field changed on two or three sides
            for side in (rng.sample(sides, rng.choice([2, 3])) if i % 3 == 0 else [rng.choice(sides)]):
                value = self.token(name[0])
                if side.startswith("phone"):
                    self.phones[int(side[5:])].update("contacts", cid, **{name: value})
                else:
                    self.crm_edit(side, (amo_links if side == "amocrm" else b24_links)[cid], name, value)
                model.edit(cid, name, value, side)
                print(f"edit {side} {cid} {name}={value}")
        for side in sides:  # creates, here and there
            for _ in range(rng.choice([0, 0, 1])):
                first, last = self.token("F"), self.token("L")
                model.created_tokens[last] = side
                if side.startswith("phone"):
                    self.phones[int(side[5:])].create("contacts", first_name=first, last_name=last,
                                                      name=f"{first} {last}")
                else:
                    self.crm_create(side, first, last)
        rest = [cid for cid in live if cid not in edited]
        if rest and rng.random() < 0.6:  # a delete, now and then, on one side
            cid, side = rest[0], rng.choice(sides)
            if side.startswith("phone"):
                self.phones[int(side[5:])].delete("contacts", cid)
            else:
                self.crm_delete(side, (amo_links if side == "amocrm" else b24_links)[cid])
            model.deleted.add(cid)

    def sync_round(self) -> None:
        order = [*CRMS, *self.phones]
        self.rng.shuffle(order)
        for who in order:
            faulty = self.rng.random() < 0.5
            if isinstance(who, str):
                self.sync(who, self.rng.choice(FAULTS) if faulty else None)
            else:
                self.phone_sync(who, self.rng.choice(PHONE_FAULTS) if faulty else None)

    def quiesce(self) -> list[int]:
        """Sync every CRM, then every phone, until a whole cycle moves nothing; the moves per cycle."""
        cycles = []
        for _ in range(5):
            moved = sum(self.sync(crm) for crm in CRMS) + sum(self.phone_sync(p) for p in self.phones)
            cycles.append(moved)
            if moved == 0:
                break
        return cycles

    def check_phones(self) -> None:
        store = {cid: (first, last) for cid, first, last in self.sql(
            "SELECT id, first_name, last_name FROM canonical.contacts WHERE deleted_at IS NULL")}
        for phone in self.phones:
            held = {cid: (r["first_name"], r["last_name"]) for cid, r in phone.records("contacts").items()}
            assert held.keys() == store.keys(), (
                f"{phone.name}: missing {sorted(store.keys() - held.keys())}, "
                f"extra {sorted(held.keys() - store.keys())}")
            wrong = {cid: (held[cid], store[cid]) for cid in store
                     if tuple(v or "" for v in held[cid]) != tuple(v or "" for v in store[cid])}
            assert not wrong, f"{phone.name} differs from the store (phone, store): {wrong}"
            statuses = {r["_status"] for r in phone.records("contacts").values()}
            assert statuses <= {"synced"}, f"{phone.name} still has unsynced records: {statuses}"

    def sql(self, statement: str, params=()):
        """The store's answer; for the model's ``sync.conflicts`` query also the clashes the phones settled
        (WatermelonDB keeps the phone's value of a field edited there when the pull brings another)."""
        with self.world.server.store_taken(TENANT):
            rows = super().sql(statement, params)
        if statement.lstrip().startswith('SELECT canonical_id, field, "local", crm FROM sync.conflicts'):
            rows = [*rows, *((cid, name, json.dumps(local), json.dumps(remote))
                             for (cid, name), pairs in self.phone_clashes.items() for local, remote in pairs)]
        return rows


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", _seeds())
def test_phones_and_both_crms_converge_without_loss_or_duplicates(tmp_path, monkeypatch, fake_crm, seed):
    monkeypatch.setenv("CRMSYNC_APP_JWT_SECRET", SECRET)
    pipeline = {"entities": ["contact"], "schedule": "manual",
                "conflicts": {"default": "newest_wins", "clock_skew_seconds": 5}}
    server = Server(make_project(tmp_path, {crm: pipeline for crm in CRMS})).start()
    world = AppWorld(server, tmp_path)
    try:
        amo = fake_crm("amocrm", contacts=6, deals=0, tasks=0, rate_limit=False, seed=seed)
        b24 = fake_crm("bitrix24", contacts=6, deals=0, tasks=0, rate_limit=False, seed=seed + 1)
        world.connect(TENANT, amo)
        world.connect(TENANT, b24)
        phones = [world.client(TENANT, f"phone{i}") for i in range(PHONES)]
        loop = PhoneLoop(world, amo, b24, phones, random.Random(seed), seed)
        loop.quiesce()  # each CRM's people reach the other and every phone
        for _ in range(ROUNDS):
            loop.edit_round()
            loop.sync_round()
        cycles = loop.quiesce()
        assert cycles[-1] == 0 and len(cycles) <= 4, f"records moved per cycle after the edits stopped: {cycles}"
        loop.check_phones()
        loop.check()
    finally:
        world.close()
        server.stop()
