"""The parts of a connector spec (``connectors/<crm>.yaml``) that connections use: ``auth`` and ``check``.

Read straight from the YAML into typed objects; the full spec is validated elsewhere (the JSON
Schema). Only what connecting and refreshing need is looked at here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crmsync.errors import UserError
from crmsync.http.error_body import ErrorBody
from crmsync.http.url_secrets import ShapeError, WebhookShape, register_connector, webhook_shape
from crmsync.project import Project
from crmsync.specs.yamlload import SpecYAMLError, line_of, load_yaml

LONG_LIVED_TOKEN, WEBHOOK_URL, OAUTH2 = "long_lived_token", "webhook_url", "oauth2"
AUTH_TYPES = (LONG_LIVED_TOKEN, WEBHOOK_URL, OAUTH2)


@dataclass(frozen=True)
class AuthSpec:
    type: str
    header: str | None = None            # send the credential in this header ...
    param: str | None = None             # ... or as this query parameter
    value: str = "{token}"               # template: {token} / {access_token}
    authorize_url: str | None = None
    authorize_params: dict[str, str] = field(default_factory=dict)
    token_url: str | None = None
    token_request: str = "json"          # json / form: POST a JSON / form body; query: GET with the grant in the query
    refresh_rotates: bool = True
    old_refresh_token: str = "invalidate"  # grace | invalidate: is the old refresh token usable after a refresh?
    error_body: dict[str, Any] | None = None  # the token endpoint's refusals, when not as the connector's


@dataclass(frozen=True)
class ConnectorAuth:
    name: str
    title: str
    auths: dict[str, AuthSpec]
    check_path: str | None
    check_method: str | None
    raw: dict[str, Any]                  # the whole spec, for the HTTP session (errors, retry, rate_limit)
    file: str = ""                       # where the spec came from, for messages (project-relative)

    @property
    def connect(self) -> dict[str, Any]:
        """How ``crmsync connect`` finds the account's address (the spec's ``connect`` block)."""
        return dict(self.raw.get("connect") or {})

    @property
    def error_body(self) -> ErrorBody:
        """Where this CRM's error answers hold its code and words (the spec's ``error_body``)."""
        return ErrorBody.from_spec(self.raw.get("error_body"))

    @property
    def token_error_body(self) -> ErrorBody:
        """Where its OAuth token endpoint's refusals hold its words (``oauth2.error_body``, else the spec's)."""
        own = self.auths[OAUTH2].error_body if OAUTH2 in self.auths else None
        return ErrorBody.from_spec(own) if own else self.error_body

    def webhook_shape(self) -> WebhookShape:
        """What a webhook URL of this CRM looks like (``connect.webhook``); a missing or unusable
        declaration is the user's to fix, with the file, line and field."""
        try:
            shape = webhook_shape(self.raw)
        except ShapeError as exc:
            line = line_of(self.raw, ["connect", "webhook", exc.field])
            allowed = f" (allowed: {', '.join(exc.allowed)})" if exc.allowed else ""
            raise UserError(f"{self.file or self.name}:{line}: connect.webhook.{exc.field}: {exc}{allowed}") from None
        if shape is None:
            raise UserError(f"{self.file or self.name}:{line_of(self.raw, ['connect'])}: connect.webhook is missing: "
                            f"auth webhook_url needs the shape of this CRM's webhook URLs (pattern, secret); "
                            f"run `crmsync validate`")
        return shape

    def auth(self, kind: str) -> AuthSpec:
        try:
            return self.auths[kind]
        except KeyError:
            raise UserError(f"{self.title} connections do not support {kind} auth; this connector supports: "
                            f"{', '.join(self.auths)}") from None


def known_crms(project: Project) -> list[str]:
    return sorted(p.stem for p in project.connectors_dir.glob("*.yaml"))


def load_connector_auth(project: Project, crm: str) -> ConnectorAuth:
    path = project.connectors_dir / f"{crm}.yaml"
    if not path.is_file():
        raise UserError(f"no connector spec for {crm!r} in {project.connectors_dir}; known: "
                        f"{', '.join(known_crms(project)) or 'none'}")
    try:
        raw = load_yaml(path)
    except SpecYAMLError as exc:
        raise UserError(str(exc)) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("auth"), list):
        raise UserError(f"{project.relative(path)}: `auth` must be a list of auth kinds; "
                        f"run `crmsync validate` for details")
    auths: dict[str, AuthSpec] = {}
    for item in raw["auth"]:
        kind = item.get("type") if isinstance(item, dict) else None
        if kind not in AUTH_TYPES:
            raise UserError(f"{project.relative(path)}: auth.type {kind!r} is not one of: {', '.join(AUTH_TYPES)}")
        known = set(AuthSpec.__dataclass_fields__)
        auths[kind] = AuthSpec(**{k: (dict(v) if isinstance(v, dict) else v) for k, v in item.items() if k in known})
    register_connector(raw)  # its URL secrets are masked from here on, whatever happens next
    check = raw.get("check") or {}
    return ConnectorAuth(name=str(raw.get("name", crm)), title=str(raw.get("title", crm)), auths=auths,
                         check_path=check.get("path"), check_method=check.get("method"), raw=raw,
                         file=project.relative(path))
