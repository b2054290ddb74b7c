"""Account metadata reads: ``/account``, ``/users``, ``/leads/pipelines`` and ``/{entity}/custom_fields``."""

from __future__ import annotations

import math
import uuid
from typing import TYPE_CHECKING, Any

from ..server import Request, Response
from .listing import HAL, page_and_limit, strings
from .render import link
from .seed import TASK_TYPES, Pipeline, Status

if TYPE_CHECKING:
    from .app import FakeAmoCRM

ACCOUNT_CREATED = 1585840134


def account(app: FakeAmoCRM, request: Request) -> Response:
    acc, cfg = app.account, app.config
    with_ = set(strings(request.query.get("with")))
    body: dict[str, Any] = {
        "id": acc.id, "name": cfg.account_name, "subdomain": acc.subdomain, "created_at": ACCOUNT_CREATED,
        "created_by": acc.current_user_id, "updated_at": ACCOUNT_CREATED, "updated_by": acc.current_user_id,
        "current_user_id": acc.current_user_id, "country": "RU", "currency": "RUB", "currency_symbol": "₽",
        "customers_mode": "disabled", "is_unsorted_on": True, "mobile_feature_version": 0,
        "is_loss_reason_enabled": False, "is_helpbot_enabled": False, "is_technical_account": False,
        "contact_name_display_order": 1,
    }
    ids = uuid.UUID(int=acc.id)
    if "amojo_id" in with_:
        body["amojo_id"] = str(uuid.UUID(int=acc.id << 64))
    if "uuid" in with_:
        body["uuid"] = str(ids)
    if "version" in with_:
        body["version"] = 11
    if "is_api_filter_enabled" in with_:
        body["is_api_filter_enabled"] = cfg.filter_enabled
    body["_links"] = {"self": {"href": f"{request.base_url}/api/v4/account"}}
    embedded: dict[str, Any] = {}
    if "task_types" in with_:
        embedded["task_types"] = TASK_TYPES
    if "users_groups" in with_:
        embedded["users_groups"] = [{"id": 0, "name": "Отдел продаж", "uuid": None}]
    if "datetime_settings" in with_:
        embedded["datetime_settings"] = {"date_pattern": "d.m.Y H:i", "short_date_pattern": "d.m.Y",
                                         "short_time_pattern": "H:i", "date_formant": "d.m.Y",
                                         "time_format": "H:i:s", "timezone": "Europe/Moscow",
                                         "timezone_offset": "+03:00"}
    if embedded:
        body["_embedded"] = embedded
    return Response.json(200, body, content_type=HAL)


def _counted_page(request: Request, key: str, items: list[dict[str, Any]], over_max: str) -> Response:
    page, limit = page_and_limit(request, 250, over_max)
    chunk = items[(page - 1) * limit: page * limit]
    if not chunk:
        return Response.empty(204)
    base = f"{request.base_url}{request.path}"
    links: dict[str, Any] = {"self": {"href": f"{base}?page={page}&limit={limit}"}}
    if page * limit < len(items):
        links["next"] = {"href": f"{base}?page={page + 1}&limit={limit}"}
    if page > 1:
        links["prev"] = {"href": f"{base}?page={page - 1}&limit={limit}"}
    return Response.json(200, {"_total_items": len(items), "_page": page,
                               "_page_count": math.ceil(len(items) / limit), "_links": links,
                               "_embedded": {key: chunk}}, content_type=HAL)


def users(app: FakeAmoCRM, request: Request, uid: int | None) -> Response:
    rows = [{**u, "_links": link(request.base_url, "users", u["id"])} for u in app.account.users]
    if uid is not None:
        one = next((u for u in rows if u["id"] == uid), None)
        return Response.json(200, one, content_type=HAL) if one else Response.empty(204)
    return _counted_page(request, "users", rows, app.config.read_limit_over_max)


def custom_fields(app: FakeAmoCRM, request: Request, entity: str, fid: int | None) -> Response:
    book = app.account.fields[entity]
    rows = [f.metadata(request.base_url, app.account.id) for f in book.fields]
    if fid is not None:
        one = next((r for r in rows if r["id"] == fid), None)
        return Response.json(200, one, content_type=HAL) if one else Response.empty(204)
    return _counted_page(request, "custom_fields", rows, app.config.read_limit_over_max)


def _status(base_url: str, account_id: int, s: Status) -> dict[str, Any]:
    href = f"{base_url}/api/v4/leads/pipelines/{s.pipeline_id}/statuses/{s.id}"
    return {"id": s.id, "name": s.name, "sort": s.sort, "is_editable": s.id not in (142, 143) and s.type == 0,
            "pipeline_id": s.pipeline_id, "color": s.color, "type": s.type, "account_id": account_id,
            "_links": {"self": {"href": href}}}


def _pipeline(base_url: str, account_id: int, p: Pipeline) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "sort": p.sort, "is_main": p.is_main, "is_unsorted_on": True,
            "is_archive": False, "account_id": account_id,
            "_links": {"self": {"href": f"{base_url}/api/v4/leads/pipelines/{p.id}"}},
            "_embedded": {"statuses": [_status(base_url, account_id, s) for s in p.statuses]}}


def pipelines(app: FakeAmoCRM, request: Request, pid: int | None, statuses: bool) -> Response:
    acc = app.account
    if pid is None:
        items = [_pipeline(request.base_url, acc.id, p) for p in acc.pipelines]
        return Response.json(200, {"_total_items": len(items),
                                   "_links": {"self": {"href": f"{request.base_url}/api/v4/leads/pipelines"}},
                                   "_embedded": {"pipelines": items}}, content_type=HAL)
    pipe = acc.pipeline(pid)
    if pipe is None:
        return Response.empty(204)
    if not statuses:
        return Response.json(200, _pipeline(request.base_url, acc.id, pipe), content_type=HAL)
    items = [_status(request.base_url, acc.id, s) for s in pipe.statuses]
    return Response.json(200, {"_total_items": len(items), "_links": {"self": {"href": request.base_url
                                                                                + request.path}},
                               "_embedded": {"statuses": items}}, content_type=HAL)
