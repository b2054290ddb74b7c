"""What every fake CRM app shares: its settings, a record store, and the common admin actions.

A fake keeps its records in the CRM's *native* shape (AmoCRM dicts with ``custom_fields_values``,
Bitrix24 dicts with ``UF_CRM_*`` keys), so handlers serve them with little translation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from .clock import Clock
from .oauth import OAuthBook
from .ratelimit import LeakyBucket, SlidingWindow
from .server import Request, Response


@dataclass
class FakeConfig:
    """Settings common to both fakes (each fake extends this)."""

    seed: int = 42
    contacts: int = 60
    deals: int = 40
    tasks: int = 50
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"
    access_token_ttl: int = 3600
    rate_limit: bool = True
    retry_after: int = 1  # seconds advertised on injected 429/503, kept short so tests stay fast


@dataclass
class Table:
    """Records of one entity kind, by id, with server-assigned ids and a lock for writers."""

    name: str
    next_id: int
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: dict[int, dict[str, Any]] = field(default_factory=dict)

    def new_id(self) -> int:
        rid = self.next_id
        self.next_id += 1
        return rid


class BaseApp:
    """Common plumbing; subclasses implement ``handle``, ``fault_response``, ``_seed`` and the entity hooks."""

    name = "base"

    def __init__(self, config: FakeConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self.tables: dict[str, Table] = {}
        self.oauth: OAuthBook = self._make_oauth()
        self.limiter: SlidingWindow | LeakyBucket | None = self._make_limiter() if config.rate_limit else None
        self.rate_limited = 0
        self.reset()

    # -- hooks for subclasses -------------------------------------------------------------------
    def _make_oauth(self) -> OAuthBook:
        raise NotImplementedError

    def _make_limiter(self) -> SlidingWindow | LeakyBucket:
        raise NotImplementedError

    def _seed(self) -> None:
        """Fill ``self.tables`` from the seeded world."""
        raise NotImplementedError

    def delete_record(self, entity: str, rid: int) -> bool:
        """Delete as a user of the CRM would (AmoCRM: only via the UI; here via the admin route)."""
        raise NotImplementedError

    def touch_record(self, entity: str, rid: int) -> dict[str, Any] | None:
        """Edit a record as a CRM user would: change its name/title and move ``updated_at``."""
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_response(self, status: int, request: Request) -> Response:
        raise NotImplementedError

    # -- shared behaviour -----------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.tables = {}
            self._seed()

    def table(self, entity: str) -> Table:
        try:
            return self.tables[entity]
        except KeyError:
            raise KeyError(f"unknown entity {entity!r}; known: {', '.join(sorted(self.tables))}") from None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "crm": self.name,
                "entities": {name: len(t.rows) for name, t in self.tables.items()},
                "deleted": {name: len(t.deleted) for name, t in self.tables.items()},
                "oauth": {"refreshes": self.oauth.refresh_count, "code_exchanges": self.oauth.exchange_count},
                "rate_limited": self.rate_limited,
            }

    def admin(self, request: Request, action: str) -> Response | None:
        body = request.json() if request.method in ("POST", "PATCH", "PUT") else None
        body = body or {}
        if action == "delete" and request.method == "POST":
            ok = self.delete_record(str(body["entity"]), int(body["id"]))
            return Response.json(200 if ok else 404, {"deleted": ok})
        if action == "touch" and request.method == "POST":
            entity = str(body["entity"])
            ids = [int(i) for i in body.get("ids") or []]
            if not ids and body.get("count"):
                with self.lock:
                    ids = sorted(self.table(entity).rows)[: int(body["count"])]
            touched = [self.touch_record(entity, rid) for rid in ids]
            return Response.json(200, {"touched": [t for t in touched if t is not None]})
        if action == "records" and request.method == "GET":
            entity = str(request.query.get("entity", ""))
            with self.lock:
                return Response.json(200, {"records": list(self.table(entity).rows.values())})
        if action == "expire-tokens" and request.method == "POST":
            self.oauth.expire_access_tokens()
            return Response.json(200, {"expired": True})
        if action == "revoke-tokens" and request.method == "POST":
            self.oauth.revoke_all()
            return Response.json(200, {"revoked": True})
        if action == "rate-limit" and request.method == "POST":
            # A fresh limiter (empty bucket / window), so a benchmark phase starts where a quiet CRM would.
            with self.lock:
                self.config.rate_limit = bool(body.get("enabled", True))
                self.limiter = self._make_limiter() if self.config.rate_limit else None
            return Response.json(200, {"rate_limit": self.config.rate_limit})
        if action == "clock" and request.method == "POST":
            if "freeze" in body:
                self.clock.freeze(float(body["freeze"]))
            if body.get("unfreeze"):
                self.clock.unfreeze()
            if "advance" in body:
                self.clock.advance(float(body["advance"]))
            return Response.json(200, {"now": self.clock.now()})
        return None

    def allow(self, key: str) -> bool:
        """Apply the rate limit for ``key``; counts rejections for the status view."""
        if self.limiter is None or self.limiter.allow(key):
            return True
        with self.lock:
            self.rate_limited += 1
        return False
