"""Secrets that travel inside URLs, as a connector declares them, and URLs fit to be shown.

A connector says two things about them: which query parameter carries a credential (``auth[].param``)
and, for an inbound webhook URL that holds its own secret, the URL's shape (``connect.webhook``: a
regular expression with named groups, ``secret`` naming the groups that are secret). Loading a
connector registers both with :mod:`crmsync.secrets.masking`, so every message and log line of the
process masks them, whichever connection they belong to; :func:`safe_url` applies the same to a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crmsync.secrets.masking import MASK, mask_url, register_param, register_shape

REGEX = ("a Python regular expression for the whole URL, without ^ and $, with named groups (?P<name>...)",)


class ShapeError(ValueError):
    """A ``connect.webhook`` block that cannot work: ``field`` (under connect.webhook) and what is allowed."""

    def __init__(self, field: str, message: str, allowed: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.field, self.allowed = field, allowed


@dataclass(frozen=True)
class WebhookShape:
    pattern: re.Pattern[str]
    secret: tuple[str, ...]              # named groups that are secret: masked wherever the URL is shown
    help: str = ""                       # what such a URL looks like and where to find it

    @classmethod
    def from_block(cls, block: Any) -> WebhookShape:
        """The shape ``connect.webhook`` declares; :class:`ShapeError` says what is wrong with it."""
        if not isinstance(block, dict) or not isinstance(block.get("pattern"), str):
            raise ShapeError("pattern", "needs a regular expression that matches the whole webhook URL", REGEX)
        text = block["pattern"]
        if text.startswith("^") or text.endswith("$"):
            raise ShapeError("pattern", "leave out ^ and $: the pattern is matched against the whole URL, and "
                                        "searched for in messages and logs to mask its secret groups", REGEX)
        try:
            pattern = re.compile(text)
        except re.error as exc:
            raise ShapeError("pattern", f"is not a regular expression: {exc}", REGEX) from None
        groups = tuple(pattern.groupindex)
        secret = block.get("secret")
        secret = (secret,) if isinstance(secret, str) else tuple(secret or ())
        if not secret:
            raise ShapeError("secret", "name the group(s) of the pattern that hold the URL's secret",
                             groups or ("(the pattern has no named groups: write (?P<name>...))",))
        unknown = [g for g in secret if g not in groups]
        if unknown:
            raise ShapeError("secret", f"{', '.join(map(repr, unknown))} is not a named group of the pattern",
                             groups)
        return cls(pattern, secret, str(block.get("help") or ""))

    def match(self, url: str) -> re.Match[str] | None:
        return self.pattern.fullmatch(url)

    def settings(self, match: re.Match[str]) -> dict[str, str]:
        """The named groups that are not secret (stored with the connection, e.g. the account's host)."""
        return {k: v for k, v in match.groupdict().items() if k not in self.secret and v is not None}

    def secrets(self, match: re.Match[str]) -> list[str]:
        return [match.group(g) for g in self.secret if match.group(g)]

    def masked(self, match: re.Match[str]) -> str:
        """The matched URL with its secret groups as ``***``: what may be shown and stored in the clear."""
        text, out, last = match.string, [], 0
        for start, end in sorted(match.span(g) for g in self.secret if match.group(g)):
            out += [text[last:start], MASK]
            last = end
        return "".join(out) + text[last:]


def webhook_shape(spec: dict[str, Any]) -> WebhookShape | None:
    """The connector's webhook URL shape, or None when it declares none."""
    block = (spec.get("connect") or {}).get("webhook") if isinstance(spec.get("connect"), dict) else None
    return None if block is None else WebhookShape.from_block(block)


def register_connector(spec: dict[str, Any]) -> None:
    """Mask what ``spec`` says travels in URLs, in everything this process shows or logs from now on.

    A webhook shape that cannot be used is left for the caller (connect) and `crmsync validate` to
    report with its file and line: masking must never be why a command fails.
    """
    for auth in spec.get("auth") or []:
        if isinstance(auth, dict) and isinstance(auth.get("param"), str):
            register_param(auth["param"])
    try:
        shape = webhook_shape(spec)
    except ShapeError:
        return
    if shape is not None:
        register_shape(shape.pattern, shape.secret)


def safe_url(url: str) -> str:
    """``url`` fit for a message or log: the secret parts declared by loaded connectors and credential
    query parameters masked."""
    return mask_url(url)
