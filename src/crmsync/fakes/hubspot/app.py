"""A fake HubSpot portal speaking the CRM v3 objects API over real HTTP: auth, limits, routing, admin hooks.

The work is done by small modules: ``seed`` (world → portal), ``schema`` (properties and their write
rules), ``objects`` (list, get, search, batch), ``writes``, ``search``, ``associations`` and
``assoc_routes`` (v4), ``catalog`` (properties, pipelines, owners), ``limits``, ``oauth_routes`` and
``errors`` (HubSpot's error bodies). Where HubSpot's documentation is the source of a behaviour, the
module says so; see ``README.md`` in this folder for the list and the readings the fake had to choose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import world as w
from ..base import BaseApp, FakeConfig
from ..oauth import EXPIRED, KEEP, VALID, OAuthBook
from ..server import Request, Response
from . import assoc_routes, catalog, errors, oauth_routes
from .associations import object_type
from .errors import ApiError
from .limits import HubSpotLimits
from .objects import Objects
from .seed import build_portal, seed_tables
from .values import iso_ms
from .writes import Writer

_CHOICES = {"batch_update_missing": ("multi_status", "error")}


@dataclass
class HubSpotConfig(FakeConfig):
    """Settings of the fake HubSpot; limits default to a Professional portal's documented numbers."""

    access_token_ttl: int = 1800  # HubSpot's OAuth access tokens live 30 minutes
    token: str = "demo-token"  # the private app's access token: accepted as Bearer, never expires
    hub_id: int = 24151773
    hub_domain: str = "demo-portal.hubspot.com"
    app_id: int = 1834121
    redirect_uri: str = "http://127.0.0.1/oauth/callback"  # used when /oauth/authorize gets none
    code_ttl: int = 600
    burst_per_10s: int = 190  # private apps: Professional/Enterprise 190, Free/Starter 100
    oauth_burst_per_10s: int = 110  # OAuth apps, per account
    daily_limit: int = 625_000  # private apps: Professional 625,000; Free/Starter 250,000; Enterprise 1,000,000
    search_per_second: int = 5
    search_filter_groups: int = 5
    search_filters_per_group: int = 6
    search_filters_total: int = 18
    batch_update_missing: str = "multi_status"  # ids a batch update cannot find: 207 ("multi_status") or 404
    associations_touch: bool = True  # an association change moves both records' modified stamps
    # A contacts search filtering on hs_lastmodifieddate matches nothing (HubSpot's known pitfall: contacts
    # answer to lastmodifieddate); True makes it work like lastmodifieddate.
    contacts_search_modified: bool = False
    # Seconds before a new record shows in search (HubSpot indexes asynchronously, reported up to ~30 s);
    # 0 keeps tests simple, a few seconds tests a client's lost-create recovery honestly.
    search_index_delay: float = 0.0

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of: {', '.join(allowed)}")
        if min(self.burst_per_10s, self.oauth_burst_per_10s, self.daily_limit, self.search_per_second) < 1:
            raise ValueError("rate limits must be at least 1")

    def search_filter_limits(self) -> tuple[int, int, int]:
        return self.search_filter_groups, self.search_filters_per_group, self.search_filters_total


class FakeHubSpot(BaseApp):
    name = "hubspot"
    config: HubSpotConfig
    limiter: HubSpotLimits | None  # type: ignore[assignment]

    # -- BaseApp hooks ----------------------------------------------------------------------------
    def _make_oauth(self) -> OAuthBook:
        cfg = self.config
        book = OAuthBook(client_id=cfg.client_id, client_secret=cfg.client_secret, clock=self.clock,
                         access_ttl=cfg.access_token_ttl, refresh_ttl=100 * 365 * 86400, code_ttl=cfg.code_ttl,
                         old_refresh=KEEP)
        book.add_static_token(cfg.token)
        return book

    def _make_limiter(self) -> HubSpotLimits:  # type: ignore[override]
        cfg = self.config
        return HubSpotLimits(cfg.burst_per_10s, cfg.oauth_burst_per_10s, cfg.daily_limit, cfg.search_per_second,
                             self.clock)

    def _seed(self) -> None:
        cfg = self.config
        world = w.build_world(cfg.seed, cfg.contacts, cfg.deals, cfg.tasks)
        self.portal = build_portal(cfg.hub_id, world)
        self.tables, self.links = seed_tables(self.portal, world)
        self._orders: dict[tuple[str, bool], list[int]] = {}
        self._emails: dict[str, int] | None = None
        self.generation = 0  # moves on every write; cached search matches of older generations are stale
        self.writer = Writer(self)
        self.objects = Objects(self)

    def fault_response(self, status: int, request: Request) -> Response:
        return errors.fault(status, self.config.retry_after)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            pairs = sum(len(ids) for by_type in self.links.links.values() for ids in by_type.values())
            return {**super().snapshot(), "associations": pairs // 2}

    def writes(self, request: Request) -> list[str]:
        """For faults that hit writes: any CRM call but GET and the POSTs that only read (search, batch read)."""
        path = request.path.rstrip("/")
        if request.method in ("GET", "HEAD", "OPTIONS") or not path.startswith("/crm/"):
            return []
        if request.method == "POST" and (path.endswith("/search") or path.endswith("/batch/read")):
            return []
        return [f"{request.method} {path}"]

    def admin(self, request: Request, action: str) -> Response | None:
        if request.method != "GET":
            self.generation += 1
        if action == "restore" and request.method == "POST":
            body = request.json() or {}
            ok = self.restore_record(str(body["entity"]), int(body["id"]))
            return Response.json(200 if ok else 404, {"restored": ok})
        return super().admin(request, action)

    # -- state helpers the handlers share ---------------------------------------------------------
    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def changed(self, obj: str, created: bool = False) -> None:
        if created:
            self._orders.pop((obj, False), None)
        if obj == "contacts":
            self._emails = None

    def id_order(self, obj: str, archived: bool) -> list[int]:
        """Ids in ascending order, kept until a record is created, archived or restored."""
        key = (obj, archived)
        if key not in self._orders:
            table = self.tables[obj]
            self._orders[key] = sorted(table.deleted if archived else table.rows)
        return self._orders[key]

    def email_index(self) -> dict[str, int]:
        if self._emails is None:
            self._emails = {r["props"]["email"]: rid for rid, r in self.tables["contacts"].rows.items()
                            if r["props"].get("email")}
        return self._emails

    def find(self, obj: str, ident: str, id_property: str | None, archived: bool) -> dict[str, Any] | None:
        table = self.tables[obj]
        rows = table.deleted if archived else table.rows
        if id_property and id_property != "hs_object_id":
            if obj != "contacts" or id_property != "email":
                raise errors.validation(f"idProperty {id_property!r} is not a unique property of {obj}")
            wanted = ident.strip().lower()
            return next((r for r in rows.values() if r["props"].get("email") == wanted), None)
        return rows.get(int(ident)) if ident.isdigit() else None

    def bump(self, obj: str, rid: int) -> None:
        row = self.tables[obj].rows.get(rid)
        if row is not None and self.config.associations_touch:
            row["updated"] = self.now_ms()

    def derive(self, obj: str, row: dict[str, Any]) -> None:
        """The calculated properties HubSpot keeps in step with a write."""
        props = row["props"]
        if obj == "deals":
            found = self.portal.stage(str(props.get("dealstage", "")))
            won = found is not None and found[1].closed and found[1].probability == "1.0"
            props["hs_is_closed_won"] = "true" if won else "false"
        elif obj == "tasks":
            if props.get("hs_task_status") == "COMPLETED":
                props.setdefault("hs_task_completion_date", iso_ms(self.now_ms()))
            else:
                props.pop("hs_task_completion_date", None)

    def archive(self, obj: str, rid: int) -> bool:
        table = self.tables[obj]
        row = table.rows.pop(rid, None)
        if row is None:
            return False
        row.update(archived=True, archivedAt=self.now_ms(), updated=self.now_ms())
        table.deleted[rid] = row
        self._orders.pop((obj, False), None)
        self._orders.pop((obj, True), None)
        self.changed(obj)
        return True

    # -- changes made as a CRM user would (admin routes) -----------------------------------------
    def delete_record(self, entity: str, rid: int) -> bool:
        obj = object_type(entity) or entity
        with self.lock:
            return self.archive(obj, rid)

    def restore_record(self, entity: str, rid: int) -> bool:
        obj = object_type(entity) or entity
        with self.lock:
            table = self.tables[obj]
            row = table.deleted.pop(rid, None)
            if row is None:
                return False
            row.update(archived=False, archivedAt=None, updated=self.now_ms())
            table.rows[rid] = row
            self._orders.clear()
            self.changed(obj)
            return True

    def touch_record(self, entity: str, rid: int) -> dict[str, Any] | None:
        obj = object_type(entity) or entity
        key = {"contacts": "firstname", "deals": "dealname", "tasks": "hs_task_subject"}[obj]
        with self.lock:
            row = self.tables[obj].rows.get(rid)
            if row is None:
                return None
            row["props"][key] = f"{row['props'].get(key, '')} *".strip()
            row["updated"] = self.now_ms()
            return {"id": str(rid), "properties": dict(row["props"]), "updatedAt": iso_ms(row["updated"])}

    # -- HTTP -------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path == "/oauth/authorize":
            return oauth_routes.authorize(self, request)
        if path == "/oauth/v1/token":
            return oauth_routes.token(self, request)
        if path.startswith("/oauth/v1/access-tokens/") and request.method == "GET":
            return oauth_routes.access_token_info(self, path.rsplit("/", 1)[1])
        if not path.startswith("/crm/"):
            return errors.route_not_found(request.method, path)
        token = request.bearer()
        state = self.oauth.check(token)
        if state == EXPIRED:
            expires_at = self.oauth.expires_at(str(token)) or 0.0
            return errors.expired(iso_ms(int(expires_at * 1000)), int((self.clock.now() - expires_at) // 3600))
        if state != VALID:
            return errors.unauthenticated(token is not None)
        headers: dict[str, str] = {}
        if self.limiter is not None:
            is_search = request.method == "POST" and path.endswith("/search")
            oauth = token != self.config.token
            # private apps are limited per app (its token), OAuth apps per account
            verdict = self.limiter.check("oauth" if oauth else str(token), oauth=oauth, search=is_search)
            if verdict.policy is not None:
                with self.lock:
                    self.rate_limited += 1
                return errors.rate_limited(verdict.policy, verdict.headers)
            headers = verdict.headers
        with self.lock:
            if self.writes(request):
                self.generation += 1
            try:
                response = self._route(request, path.split("/")[2:])
            except ApiError as exc:
                response = exc.response()
        response.headers.update(headers)
        return response

    def _route(self, request: Request, parts: list[str]) -> Response:
        # parts: [version, group, ...]
        m = request.method
        version, group, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
        if version == "v4" and group == "objects":
            return assoc_routes.objects_route(self, request, rest)
        if version == "v4" and group == "associations":
            return assoc_routes.batch_route(self, request, rest)
        if version != "v3":
            return errors.route_not_found(m, request.path)
        if group == "properties" and m == "GET" and 1 <= len(rest) <= 2:
            return catalog.properties(self, request, rest)
        if group == "pipelines" and m == "GET" and 1 <= len(rest) <= 3:
            return catalog.pipelines(self, request, rest)
        if group == "owners" and m == "GET" and len(rest) <= 1:
            return catalog.owners(self, request, rest)
        if group != "objects" or not rest:
            return errors.route_not_found(m, request.path)
        obj = object_type(rest[0])
        if obj is None:
            raise ApiError(400, f"Unable to infer object type from: {rest[0]}", "VALIDATION_ERROR")
        n = len(rest)
        if n == 1 and m == "GET":
            return self.objects.list(request, obj)
        if n == 1 and m == "POST":
            return self.objects.create(request, obj)
        if n == 2 and rest[1] == "search" and m == "POST":
            return self.objects.search(request, obj)
        if n == 3 and rest[1] == "batch" and m == "POST":
            return self.objects.batch(request, obj, rest[2])
        if n == 2 and m == "GET":
            return self.objects.get(request, obj, rest[1])
        if n == 2 and m == "PATCH":
            return self.objects.update(request, obj, rest[1])
        if n == 2 and m == "DELETE":
            return self.objects.archive(request, obj, rest[1])
        return errors.route_not_found(m, request.path)
