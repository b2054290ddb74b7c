"""The fake Bitrix24 portal: REST over webhooks or OAuth, its envelope, limits and admin hooks.

URL forms: ``/rest/{user}/{code}/{method}`` (inbound webhook) and ``/rest/{method}`` with an OAuth
``auth`` parameter (query or body) or ``Authorization: Bearer``; ``.json`` may follow the method.
Method handlers live in the ``methods_*`` modules and ``batch``; this module authenticates, applies
the leaky bucket (per portal and client IP) and the per-method operating budget, and wraps results
in ``{"result", "total", "next", "time"}`` or errors in ``{"error", "error_description"}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..base import BaseApp, FakeConfig, Table
from ..oauth import EXPIRED, INVALIDATE, VALID, OAuthBook
from ..ratelimit import LeakyBucket
from ..server import Request, Response
from . import batch, dates, errors, oauth_routes, seed
from .errors import ApiError
from .operating import OperatingBudget
from .registry import Call, Params, Result, lookup


@dataclass
class Bitrix24Config(FakeConfig):
    webhook_user: int = 1
    webhook_code: str = "demo"
    timezone: str = "+03:00"
    member_id: str = "a223c6b3710f85df22e9377d6c4f7553"
    portal: str = "demo.bitrix24.ru"
    bucket_rate: float = 2.0
    bucket_capacity: int = 50
    refresh_ttl: int = 180 * 86400
    code_ttl: int = 30
    operating_limit: float | None = None   # seconds per method per 10 minutes; None = no 429s
    operating_cost: float | None = None    # seconds each call books (None: measured time); makes 429 testable
    page_size: int = 50
    leads: int = 10
    redirect_uri: str = "http://localhost/bitrix24/callback"  # the "registered" one, if authorize gets none
    batch_limit: int = 50


_READS = (".list", ".get", ".fields", "batch")  # methods that never add or remove a record ("batch": each
# of its commands runs through run_method on its own)
_WRITES = (".add", ".update", ".delete", ".set", ".complete", ".renew", ".start", ".pause", ".defer", ".approve",
           ".disapprove", ".delegate")  # what a fault that hits writes counts as one
ALIASES = {"contact": "contacts", "deal": "deals", "lead": "leads", "company": "companies", "task": "tasks",
           "user": "users"}


class FakeBitrix24(BaseApp):
    name = "bitrix24"
    config: Bitrix24Config
    portal: seed.Portal

    def __init__(self, config: Bitrix24Config | None = None, clock: Any = None) -> None:
        cfg = config or Bitrix24Config()
        dates.parse_offset(cfg.timezone)  # fail at start-up on a bad offset, not on the first request
        self.operating = OperatingBudget(cfg.operating_limit)
        super().__init__(cfg, clock)

    # -- BaseApp hooks --------------------------------------------------------------------------
    def _make_oauth(self) -> OAuthBook:
        c = self.config
        return OAuthBook(client_id=c.client_id, client_secret=c.client_secret, clock=self.clock,
                         access_ttl=c.access_token_ttl, refresh_ttl=c.refresh_ttl, code_ttl=c.code_ttl,
                         old_refresh=INVALIDATE)

    def _make_limiter(self) -> LeakyBucket:
        return LeakyBucket(self.config.bucket_rate, self.config.bucket_capacity)

    def _seed(self) -> None:
        seed.seed(self)
        self._id_orders: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}

    def id_order(self, table: str) -> tuple[list[dict[str, Any]], list[int]]:
        """A table's rows in ID order, and their IDs, for keyset pages (``start=-1``, ``>ID``), as the
        portal's index on ID serves them. Kept until a method that may write runs: sorting a
        100k-record table for each of a batch's 50 list calls made the fake, not the client on the
        same 2 cores, the bottleneck of a benchmark (and billed its own slowness to the operating limit)."""
        got = self._id_orders.get(table)
        if got is None:
            ordered = sorted(self.tables[table].rows.values(), key=lambda r: int(r["ID"]))
            got = self._id_orders[table] = (ordered, [int(r["ID"]) for r in ordered])
        return got

    def allow(self, key: str) -> bool:
        # Drain on the fake's clock, so a test can freeze and advance time instead of sleeping.
        if self.limiter is None or self.limiter.allow(key, now=self.clock.now()):
            return True
        with self.lock:
            self.rate_limited += 1
        return False

    def table(self, entity: str) -> Table:
        return super().table(ALIASES.get(entity, entity))

    def admin(self, request: Request, action: str) -> Response | None:
        try:
            return super().admin(request, action)
        finally:
            self._id_orders.clear()  # after the change: an order taken before it is not kept

    def delete_record(self, entity: str, rid: int) -> bool:
        with self.lock:
            table = self.table(entity)
            row = table.rows.pop(rid, None)
            if row is None:
                return False
            table.deleted[rid] = row  # kept for the admin view only: Bitrix24 has no deleted flag
            if table.name == "contacts":
                self._unbind_contact(str(rid))
            return True

    def _unbind_contact(self, cid: str) -> None:
        for deal in self.tables["deals"].rows.values():
            if cid in (deal.get("CONTACT_IDS") or []):
                deal["CONTACT_IDS"] = [c for c in deal["CONTACT_IDS"] if c != cid]
                deal["CONTACT_ID"] = deal["CONTACT_IDS"][0] if deal["CONTACT_IDS"] else None

    def touch_record(self, entity: str, rid: int) -> dict[str, Any] | None:
        with self.lock:
            table = self.table(entity)
            row = table.rows.get(rid)
            if row is None:
                return None
            now = dates.iso(self.clock.now(), self.config.timezone)
            if table.name == "tasks":
                row["title"] = _edited(row["title"])
                row["changedDate"], row["changedBy"] = now, "1"
                return dict(row)
            spec = self.spec_for_table(table.name)
            field = spec.title_field if spec else "TITLE"
            row[field] = _edited(row.get(field) or "")
            row["DATE_MODIFY"], row["MODIFY_BY_ID"] = now, "1"
            return dict(row)

    def spec_for_table(self, table: str) -> Any:
        return next((s for s in self.portal.specs.values() if s.table == table), None)

    def fault_response(self, status: int, request: Request) -> Response:
        return Response.json(status, errors.fault_body(status))

    def writes(self, request: Request) -> list[str]:
        """For faults that hit writes: the methods of this call that may write, a ``batch``'s commands
        included (a batch of list calls writes nothing)."""
        if not request.path.startswith("/rest/"):
            return []
        method = request.path.rstrip("/").rsplit("/", 1)[-1].lower().removesuffix(".json")
        if method != "batch":
            return [method] if method.endswith(_WRITES) else []
        params = dict(request.query)
        body = request.body_params()
        if isinstance(body, dict):
            params.update(body)
        names = [cmd.split("?", 1)[0].lower() for _, cmd in batch.commands(params.get("cmd"))]
        return [n for n in names if n.endswith(_WRITES)]

    # -- HTTP -----------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if request.path.startswith("/oauth/"):
            return oauth_routes.handle(self, request)
        if not request.path.startswith("/rest/"):
            return _error(errors.method_not_found())
        started = self.clock.now()
        try:
            method, user_id, params = self._authenticate(request)
            if not self.allow(f"{self.config.portal}|{request.client_ip}"):
                raise errors.query_limit()
            result, timing = self.run_method(method, params, user_id, started=started)
        except ApiError as exc:
            return _error(exc)
        body: dict[str, Any] = {"result": result.result}
        if result.next is not None:
            body["next"] = result.next
        if result.total is not None:
            body["total"] = result.total
        body["time"] = timing
        return Response.json(200, body)

    def _authenticate(self, request: Request) -> tuple[str, int, Params]:
        parts = [p for p in request.path[len("/rest/"):].split("/") if p]
        if len(parts) not in (1, 3):
            raise errors.method_not_found()
        method = parts[-1]
        if method.lower().endswith(".xml"):
            raise ApiError(400, "ERROR_FORMAT", "XML output is not supported by this portal; use .json")
        if method.lower().endswith(".json"):
            method = method[: -len(".json")]
        raw: dict[str, Any] = dict(request.query)
        body = request.body_params()
        if isinstance(body, dict):
            raw.update(body)
        params = Params(raw)
        if len(parts) == 3:
            if parts[0] != str(self.config.webhook_user) or parts[1] != self.config.webhook_code:
                raise errors.no_auth()
            return method, int(parts[0]), params
        token = params.get("auth") or request.bearer()
        if not token:
            raise errors.no_auth()
        state = self.oauth.check(str(token))
        if state == EXPIRED:
            raise errors.expired_token()
        if state != VALID:
            raise errors.invalid_token()
        return method, 1, params

    def run_method(self, method: str, params: Params, user_id: int,
                   started: float | None = None) -> tuple[Result, dict[str, Any]]:
        """Run one method (a direct call or a batch sub-command); returns the result and its ``time`` block."""
        handler = lookup(method)
        if handler is None:
            raise errors.method_not_found()
        key = f"{user_id}|{method.lower()}"
        now = self.clock.now()
        started = now if started is None else started
        if self.operating.blocked(key, now):
            raise errors.operation_time_limit(method)
        t0 = time.perf_counter()
        with self.lock:
            try:
                result = handler(Call(self, method.lower(), params, user_id))
            finally:
                if not method.lower().endswith(_READS):
                    self._id_orders.clear()
        spent = time.perf_counter() - t0
        cost = self.config.operating_cost if self.config.operating_cost is not None else spent
        if method.lower() == "batch":
            cost = 0.0  # the outer batch is not billed; each sub-call was billed to its own method
        finish = self.clock.now()
        self.operating.add(key, cost, finish)
        return result, self.time_block(started, finish, spent, key)

    def time_block(self, start: float, finish: float, processing: float, key: str | None) -> dict[str, Any]:
        finish = max(finish, start + processing)
        used = self.operating.used(key, finish) if key else 0.0
        tz = self.config.timezone
        block: dict[str, Any] = {
            "start": round(start, 6), "finish": round(finish, 6), "duration": round(finish - start, 6) or 1e-6,
            "processing": round(processing, 6) or 1e-6,
            "date_start": dates.iso(start, tz), "date_finish": dates.iso(finish, tz),
            "operating_reset_at": self.operating.reset_at(key, finish) if key else int(finish) + 600,
            "operating": round(used, 6) if used >= 1e-6 else 0,  # PHP prints a zero float as 0
        }
        return block


def _edited(text: str) -> str:
    return text[:-9] if text.endswith(" (edited)") else f"{text} (edited)"


def _error(exc: ApiError) -> Response:
    return Response.json(exc.status, exc.body())
