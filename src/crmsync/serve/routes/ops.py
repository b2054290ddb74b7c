"""``/healthz`` (no key, no data) and ``/metrics`` (Prometheus text, read scope)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crmsync.serve.auth import require
from crmsync.serve.errors import responses

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: 200 while the server runs (no key, no data)")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/metrics", summary="Prometheus metrics: runs, records, errors, durations, rate-limit waits",
            response_class=Response, responses={200: {"content": {"text/plain": {}}}, **responses(401, 403)},
            dependencies=[Depends(require("read"))])
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
