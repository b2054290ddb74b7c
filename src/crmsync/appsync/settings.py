"""The app sync API's settings: the ``[app_sync]`` section of ``config/config.toml``, overridden by
environment variables dlt-style (``APP_SYNC__PUSH_NOW=true``, ``APP_SYNC__JWT__ISSUER=…``).

Secrets are never in the file: the HS256 secret is read from the environment variable that
``jwt.secret_env`` names (default ``CRMSYNC_APP_JWT_SECRET``); RS256/ES256 keys come from a JWKS file or URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from crmsync.errors import UserError
from crmsync.project import Project

ALGORITHMS = ("HS256", "RS256", "ES256")
SECTION = "app_sync"


@dataclass(frozen=True)
class JwtSettings:
    algorithms: tuple[str, ...] = ("HS256",)
    secret_env: str = "CRMSYNC_APP_JWT_SECRET"
    jwks_file: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    leeway_seconds: float = 30.0
    tenant_claim: str = "sub"


@dataclass(frozen=True)
class AppSyncSettings:
    enabled: bool = False                 # an [app_sync] section (or APP_SYNC__ENABLED) turns the app routes on
    jwt: JwtSettings = field(default_factory=JwtSettings)
    push_now: bool = False                # after an app push, start the tenant's syncs at once
    store: str = "crmsync.duckdb"         # the tenant store the app reads and writes (relative to its folder)
    conflicts_from: str | None = None     # the pipeline whose `conflicts:` policy app pushes follow
    keep_open_seconds: float = 2.0        # a tenant's store stays open this long after its last request
    max_push_mb: float = 50.0             # a larger push body is refused (413) before it is read


def _read_toml(path: Any) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomlkit comes with dlt
        import tomlkit

        return tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    with open(path, "rb") as fh:
        return tomllib.load(fh)


def _env(keys: list[str]) -> str | None:
    return os.environ.get("__".join(k.upper() for k in [SECTION, *keys]))


def _typed(name: str, value: Any, default: Any, where: str) -> Any:
    if value is None:
        return default
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return value.lower() in ("true", "1", "yes")
            return bool(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, tuple):
            items = [v.strip() for v in value.split(",")] if isinstance(value, str) else list(value)
            return tuple(i for i in items if i)
        return str(value)
    except (TypeError, ValueError):
        raise UserError(f"{where}: {name} = {value!r} is not a {type(default).__name__}") from None


def load(project: Project) -> AppSyncSettings:
    path = project.config_dir / "config.toml"
    raw: dict[str, Any] = {}
    where = "config/config.toml"
    has_section = False
    if path.exists():
        try:
            document = _read_toml(path)
        except Exception as exc:  # a TOML syntax error: say where
            raise UserError(f"{where}: cannot be read: {exc}") from None
        has_section = SECTION in document
        raw = document.get(SECTION) or {}
    jwt_raw = raw.get("jwt") or {}
    unknown = sorted(set(raw) - set(AppSyncSettings.__dataclass_fields__)) + \
        sorted(f"jwt.{k}" for k in set(jwt_raw) - set(JwtSettings.__dataclass_fields__))
    if unknown:
        allowed = ", ".join(sorted([*AppSyncSettings.__dataclass_fields__, *(
            f"jwt.{k}" for k in JwtSettings.__dataclass_fields__)]))
        raise UserError(f"{where}: [{SECTION}] has unknown setting(s) {', '.join(unknown)}; allowed: {allowed}")
    jwt_values = {}
    for name, spec in JwtSettings.__dataclass_fields__.items():
        value = _env(["jwt", name]) or jwt_raw.get(name)
        jwt_values[name] = _typed(f"[{SECTION}.jwt] {name}", value, spec.default, where)
    jwt = JwtSettings(**{k: (v or None) if k in ("jwks_file", "jwks_url", "issuer", "audience") else v
                         for k, v in jwt_values.items()})
    bad = [a for a in jwt.algorithms if a not in ALGORITHMS]
    if bad or not jwt.algorithms:
        raise UserError(f"{where}: [{SECTION}.jwt] algorithms {list(jwt.algorithms)}; "
                        f"allowed: {', '.join(ALGORITHMS)}")
    values: dict[str, Any] = {"jwt": jwt}
    for name, spec in AppSyncSettings.__dataclass_fields__.items():
        if name == "jwt":
            continue
        default = spec.default if spec.default is not None else ""
        value = _typed(f"[{SECTION}] {name}", _env([name]) or raw.get(name), default, where)
        values[name] = value if value != "" else None
    if has_section and _env(["enabled"]) is None:
        values["enabled"] = bool(raw.get("enabled", True))
    return AppSyncSettings(**values)
