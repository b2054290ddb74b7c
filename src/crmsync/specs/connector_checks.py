"""Checks of a connector spec that its JSON Schema cannot express: what one key needs of another,
and values that must compile (a webhook URL's regular expression).

Each returns :class:`Problem` s with the file, line, dotted field and what is allowed, like the
schema check; both run on every connector file, so `crmsync validate` reports them together.
"""

from __future__ import annotations

from typing import Any

from crmsync.http.url_secrets import ShapeError, WebhookShape

from .problems import Problem
from .yamlload import line_of


def connector_problems(data: Any, file: str) -> list[Problem]:
    if not isinstance(data, dict):
        return []
    return [*_webhook(data, file), *_error_codes(data, file)]


def _webhook(data: dict[str, Any], file: str) -> list[Problem]:
    connect = data.get("connect") if isinstance(data.get("connect"), dict) else {}
    block = connect.get("webhook")
    if block is None:
        auths = data.get("auth") if isinstance(data.get("auth"), list) else []
        return [Problem(file, line_of(data, ["auth", i, "type"]), f"auth[{i}].type",
                        "webhook_url needs connect.webhook: the shape of this CRM's webhook URLs, with the "
                        "group that holds the secret", ("connect: {webhook: {pattern: ..., secret: ...}}",))
                for i, a in enumerate(auths) if isinstance(a, dict) and a.get("type") == "webhook_url"]
    try:
        WebhookShape.from_block(block)
    except ShapeError as exc:
        return [Problem(file, line_of(data, ["connect", "webhook", exc.field]), f"connect.webhook.{exc.field}",
                        str(exc), exc.allowed)]
    return []


def _error_codes(data: dict[str, Any], file: str) -> list[Problem]:
    body = data.get("error_body") if isinstance(data.get("error_body"), dict) else {}
    if body.get("code"):
        return []
    rules = data.get("errors") if isinstance(data.get("errors"), list) else []
    return [Problem(file, line_of(data, ["errors", i, "error"]), f"errors[{i}].error",
                    "matches the CRM's error code, but error_body.code does not say where an error answer "
                    "holds it", ("error_body: {code: <dotted path in the body>}",))
            for i, r in enumerate(rules) if isinstance(r, dict) and r.get("error")]
