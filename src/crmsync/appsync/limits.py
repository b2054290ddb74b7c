"""The largest push the server reads (``[app_sync] max_push_mb``): a bigger body is refused with 413 before
it is parsed, whether it says its length or streams in chunks, so one client cannot exhaust the memory."""

from __future__ import annotations

import json
from typing import Any

PATH = "/api/sync/outgoing"


class PushSizeLimit:
    """ASGI middleware: only ``POST /api/sync/outgoing`` is measured."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("path") != PATH or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        # read it here, at most max_bytes of it, then hand it on: a chunked body has no length to check first
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await self._refuse(send)
                return
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Any:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        mb = self.max_bytes / 2**20
        body = json.dumps({"error": {"status": 413, "code": "too_large", "message": (
            f"a push of more than {mb:g} MB is refused ([app_sync] max_push_mb); push in smaller batches")}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
