"""A fake AmoCRM (Kommo) account speaking API v4 over real HTTP: auth, limits, routing, admin hooks.

The work is done by small modules: ``seed`` (world → account), ``listing`` (filters, order, pages),
``writes`` (validated bulk writes), ``links``, ``events`` (the change feed), ``catalog`` (account
metadata), ``oauth_routes`` and ``errors`` (the API's exact error bodies).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import world as w
from ..base import BaseApp, FakeConfig
from ..oauth import GRACE, VALID, OAuthBook
from ..ratelimit import SlidingWindow
from ..server import Request, Response
from . import catalog, errors, links, oauth_routes
from .events import EventLog, change_events, event_types, list_events, render_event
from .listing import HAL, MAX_LIMIT, BadQuery, filter_rows, hal_page, matches_query, order_rows, strings
from .render import Renderer, deleted_stub, leads_by_contact
from .seed import build_account, seed_tables, seeded_events
from .writes import Writer

ENTITIES = ("contacts", "leads", "tasks", "companies")
WRITABLE = ("contacts", "leads", "tasks", "companies")
SINGULAR = {"contacts": "contact", "leads": "lead", "tasks": "task", "companies": "company"}
PLURAL = {**{v: k for k, v in SINGULAR.items()}, **{k: k for k in SINGULAR}}
_CHOICES = {"read_limit_over_max": ("error", "clamp"), "next_link": ("when_full", "exact"),
            "referer": ("host", "subdomain")}


@dataclass
class AmoCRMConfig(FakeConfig):
    """Settings of the fake AmoCRM; the UNCONFIRMED behaviours of the reference are switchable here."""

    access_token_ttl: int = 86400
    token: str = "demo-token"  # a long-lived token: accepted as Bearer, never expires
    subdomain: str = "demo"
    account_id: int = 30957638
    account_name: str = "Demo"
    rate_limit_rps: int = 7
    filter_enabled: bool = True  # False: filter[updated_at] is silently ignored on contacts/leads/companies
    read_limit_over_max: str = "error"  # limit > max on a list: "error" (422) or "clamp"
    partial_writes: bool = False  # True: a bulk write stores its valid items and reports the rest
    events_page_max: int = 100
    events_newest_first: bool = True
    next_link: str = "when_full"  # "when_full": next on every full page; "exact": only if more rows exist
    strict_order: bool = True  # an order[...] field the entity does not allow → 400 (else ignored)
    refresh_ttl: int = 90 * 86400
    code_ttl: int = 1200
    redirect_uri: str = "http://127.0.0.1/oauth/callback"  # used when /oauth is called without one
    referer: str = "host"  # the redirect's referer: the host the client called, or "{subdomain}.amocrm.ru"
    authorize_decline: bool = False  # True: the consent page redirects with error=access_denied
    seed_events: bool = True  # seeded records come with their *_added events

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of: {', '.join(allowed)}")
        if self.rate_limit_rps < 1 or self.events_page_max < 1:
            raise ValueError("rate_limit_rps and events_page_max must be at least 1")


class FakeAmoCRM(BaseApp):
    name = "amocrm"
    config: AmoCRMConfig

    # -- BaseApp hooks ----------------------------------------------------------------------------
    def _make_oauth(self) -> OAuthBook:
        cfg = self.config
        book = OAuthBook(client_id=cfg.client_id, client_secret=cfg.client_secret, clock=self.clock,
                         access_ttl=cfg.access_token_ttl, refresh_ttl=cfg.refresh_ttl, code_ttl=cfg.code_ttl,
                         old_refresh=GRACE, token_style="jwt",
                         claims={"sub": "9411550", "account_id": cfg.account_id, "base_domain": "amocrm.ru",
                                 "api_domain": "api-b.amocrm.ru", "scopes": ["crm", "notifications"]})
        book.add_static_token(cfg.token)
        return book

    def _make_limiter(self) -> SlidingWindow:
        return SlidingWindow(self.config.rate_limit_rps, 1.0)

    def _seed(self) -> None:
        cfg = self.config
        world = w.build_world(cfg.seed, cfg.contacts, cfg.deals, cfg.tasks)
        self.account = build_account(cfg.account_id, cfg.subdomain, world)
        self.tables = seed_tables(self.account, world)
        self.events = EventLog(cfg.seed, cfg.account_id)
        self.listings: dict[tuple[Any, ...], list[dict[str, Any]]] = {}  # see _listing
        self.rendered: dict[tuple[Any, ...], dict[tuple[int, Any], bytes]] = {}  # see _list
        if cfg.seed_events:
            for type_, entity, rid, user, at in seeded_events(self.tables):
                self.events.add(type_, entity, rid, user, at)
        self.writer = Writer(self)

    def fault_response(self, status: int, request: Request) -> Response:
        return errors.fault_response(status, self.config.retry_after)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {**super().snapshot(), "events": len(self.events.events)}

    def writes(self, request: Request) -> list[str]:
        """For faults that hit writes: every API call that is not a read writes (POST/PATCH arrays)."""
        if request.method in ("GET", "HEAD", "OPTIONS") or not request.path.startswith("/api/v4/"):
            return []
        return [f"{request.method} {request.path}"]

    def admin(self, request: Request, action: str) -> Response | None:
        try:
            if action == "restore" and request.method == "POST":
                body = request.json() or {}
                ok = self.restore_record(str(body["entity"]), int(body["id"]))
                return Response.json(200 if ok else 404, {"restored": ok})
            return super().admin(request, action)
        finally:
            self._forget_listings()  # after the change: a listing that ran before it is not kept

    # -- changes made as a CRM user would (admin routes) -----------------------------------------
    def _now(self) -> int:
        return int(self.clock.now())

    def delete_record(self, entity: str, rid: int) -> bool:
        entity = PLURAL.get(entity, entity)
        with self.lock:
            table = self.table(entity)
            row = table.rows.pop(rid, None)
            if row is None:
                return False
            row.update(is_deleted=True, updated_at=self._now())
            table.deleted[rid] = row
            self.events.add(f"{SINGULAR[entity]}_deleted", entity, rid, self.account.current_user_id, self._now())
            return True

    def restore_record(self, entity: str, rid: int) -> bool:
        entity = PLURAL.get(entity, entity)
        with self.lock:
            table = self.table(entity)
            row = table.deleted.pop(rid, None)
            if row is None:
                return False
            row.update(is_deleted=False, updated_at=self._now())
            table.rows[rid] = row
            self.events.add(f"{SINGULAR[entity]}_restored", entity, rid, self.account.current_user_id, self._now())
            return True

    def touch_record(self, entity: str, rid: int) -> dict[str, Any] | None:
        entity = PLURAL.get(entity, entity)
        with self.lock:
            row = self.table(entity).rows.get(rid)
            if row is None:
                return None
            before = dict(row)
            key = "text" if entity == "tasks" else "name"
            row[key] = f"{row[key]} *"
            row.update(updated_at=self._now(), updated_by=self.account.current_user_id)
            self.record_changes(entity, before, row)
            return dict(row)

    def record_changes(self, entity: str, before: dict[str, Any] | None, row: dict[str, Any]) -> None:
        """Add the events a create (``before`` None) or an update produces."""
        user, now = row["updated_by"], self._now()
        if before is None:
            self.events.add(f"{SINGULAR[entity]}_added", entity, row["id"], row["created_by"], now)
            return
        for type_, after, previous in change_events(entity, before, row):
            self.events.add(type_, entity, row["id"], user, now, after, previous)

    def touch_links(self, entity: str, rid: int, to_type: str, to_id: int, unlink: bool) -> None:
        row = self.tables[entity].rows[rid]
        row.update(updated_at=self._now(), updated_by=self.account.current_user_id)
        self.events.add("entity_unlinked" if unlink else "entity_linked", entity, rid,
                        self.account.current_user_id, self._now(),
                        [] if unlink else [{"link": {"entity": {"type": SINGULAR[to_type], "id": to_id}}}],
                        [{"link": {"entity": {"type": SINGULAR[to_type], "id": to_id}}}] if unlink else [])

    # -- HTTP -------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path in ("/oauth", "/oauth2/authorize"):
            return oauth_routes.authorize(self, request)
        if path == "/oauth2/access_token":
            return oauth_routes.access_token(self, request)
        if not path.startswith("/api/v4/"):
            return errors.not_found_route(request)
        token = request.bearer()
        if self.oauth.check(token) != VALID:
            return errors.unauthorized()
        if not self.allow(str(token)):
            return errors.too_many(self.config.retry_after)
        parts = path[len("/api/v4/"):].split("/")
        with self.lock:
            try:
                return self._route(request, parts)
            except BadQuery as exc:
                return exc.response
            finally:
                if request.method not in ("GET", "HEAD"):
                    self._forget_listings()

    def _route(self, request: Request, parts: list[str]) -> Response:
        m, n = request.method, len(parts)
        head = parts[0]
        ident = int(parts[1]) if n > 1 and re.fullmatch(r"\d+", parts[1]) else None
        if m == "HEAD":
            m = "GET"
        if head == "account" and n == 1:
            return catalog.account(self, request) if m == "GET" else errors.method_not_allowed(request)
        if head == "users" and (n == 1 or (n == 2 and ident is not None)):
            return catalog.users(self, request, ident) if m == "GET" else errors.method_not_allowed(request)
        if head == "events":
            if m != "GET":
                return errors.method_not_allowed(request)
            if n == 1:
                return list_events(self.events, request, self.config.events_page_max,
                                   self.config.read_limit_over_max, self.config.next_link,
                                   self.config.events_newest_first)
            if n == 2 and parts[1] == "types":
                return event_types(request)
            event = self.events.get(parts[1]) if n == 2 else None
            return Response.json(200, render_event(request.base_url, event), content_type=HAL) if event \
                else Response.empty(204)
        if head not in ENTITIES:
            return errors.not_found_route(request)
        if n >= 2 and parts[1] == "custom_fields" and head != "tasks" and n <= 3:
            fid = int(parts[2]) if n == 3 and parts[2].isdigit() else None
            if n == 3 and fid is None:
                return errors.not_found_route(request)
            return catalog.custom_fields(self, request, head, fid) if m == "GET" else \
                errors.method_not_allowed(request)
        if head == "leads" and n >= 2 and parts[1] == "pipelines" and n <= 4:
            pid = int(parts[2]) if n >= 3 and parts[2].isdigit() else None
            if (n >= 3 and pid is None) or (n == 4 and parts[3] != "statuses"):
                return errors.not_found_route(request)
            return catalog.pipelines(self, request, pid, n == 4) if m == "GET" else \
                errors.method_not_allowed(request)
        if head in links.TARGETS and n == 2 and parts[1] in ("link", "unlink") and m == "POST":
            return links.post_links(self, request, head, None, parts[1] == "unlink")
        if head in links.TARGETS and n == 3 and ident is not None and parts[2] in ("links", "link", "unlink"):
            if parts[2] == "links":
                return links.get_links(self, request, head, ident) if m == "GET" else \
                    errors.method_not_allowed(request)
            return links.post_links(self, request, head, ident, parts[2] == "unlink") if m == "POST" else \
                errors.method_not_allowed(request)
        if n == 1:
            if m == "GET":
                return self._list(request, head)
            if m in ("POST", "PATCH") and head in WRITABLE:
                return self.writer.bulk(request, head, update=m == "PATCH")
            return errors.method_not_allowed(request)
        if n == 2 and ident is not None:
            if m == "GET":
                return self._get(request, head, ident)
            if m == "PATCH" and head in WRITABLE:
                return self.writer.one(request, head, ident)
            return errors.method_not_allowed(request)
        return errors.not_found_route(request)

    def _renderer(self, request: Request, entity: str) -> Renderer:
        with_ = set(strings(request.query.get("with")))
        by_contact = leads_by_contact(self.tables["leads"].rows) if entity == "contacts" and "leads" in with_ else None
        return Renderer(request.base_url, entity, with_, self.tables, by_contact)

    def _get(self, request: Request, entity: str, rid: int) -> Response:
        row = self.tables[entity].rows.get(rid)
        if row is None:
            return Response.empty(204)
        return Response.json(200, self._renderer(request, entity)(row), content_type=HAL)

    def _listing(self, entity: str, request: Request) -> list[dict[str, Any]]:
        """The filtered, ordered records a listing pages through. Kept for the next page of the same
        query until anything is written: filtering and sorting every record for each page made a
        100k-record fake spend 70 ms a page, CPU the client being measured on the same machine lacked."""
        key = (entity, tuple(sorted((k, v) for k, v in request.query_pairs if k not in ("page", "limit"))))
        rows = self.listings.get(key)
        if rows is None:
            cfg, q = self.config, request.query
            filters = q.get("filter") if isinstance(q.get("filter"), dict) else {}
            ignore = ("updated_at",) if not cfg.filter_enabled and entity != "tasks" else ()
            rows = filter_rows(entity, self.tables[entity].rows.values(), filters, ignore)
            if isinstance(q.get("query"), str) and q["query"].strip():
                rows = [r for r in rows if matches_query(r, q["query"])]
            rows = order_rows(entity, rows, q.get("order"), cfg.strict_order)
            if len(self.listings) >= 16:
                self.listings.clear()
            self.listings[key] = rows
        return rows

    def _list(self, request: Request, entity: str) -> Response:
        cfg, q = self.config, request.query
        filters = q.get("filter") if isinstance(q.get("filter"), dict) else {}
        table = self.tables[entity]
        if "only_deleted" in strings(q.get("with")) and entity in ("leads", "contacts"):
            rows = filter_rows(entity, table.deleted.values(), {k: v for k, v in filters.items() if k == "id"})
            return hal_page(request, sorted(rows, key=lambda r: r["id"]), entity, MAX_LIMIT,
                            cfg.read_limit_over_max, cfg.next_link,
                            lambda r: deleted_stub(r, request.base_url, entity))
        # Each record is rendered and serialised once per host and ``with=`` (until anything is
        # written), and a page is joined from those bytes: rendering and serialising 250 records was
        # most of the fake's CPU, taken from the client being measured on the same machine, on every
        # first read of a page (each benchmark variant asks its own query).
        with_ = frozenset(strings(q.get("with")))
        cache = self.rendered.get((entity, request.base_url, with_))
        if cache is None:
            if len(self.rendered) >= 8:
                self.rendered.clear()
            cache = self.rendered[(entity, request.base_url, with_)] = {}
        renderer: list[Renderer] = []

        def render(row: dict[str, Any]) -> dict[str, Any]:
            if not renderer:  # only a page with a record not rendered yet pays for the renderer
                renderer.append(self._renderer(request, entity))
            return renderer[0](row)

        def encoded(row: dict[str, Any]) -> bytes:
            key = (row["id"], row.get("updated_at"))  # a record touched in place is rendered again
            body = cache.get(key)
            if body is None:
                body = cache[key] = Response.json(200, render(row)).body
            return body

        return hal_page(request, self._listing(entity, request), entity, MAX_LIMIT, cfg.read_limit_over_max,
                        cfg.next_link, render, encoded)

    def _forget_listings(self) -> None:
        self.listings.clear()
        self.rendered.clear()
