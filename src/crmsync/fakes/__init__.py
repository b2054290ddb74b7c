"""Fake AmoCRM, Bitrix24 and HubSpot servers on loopback, for tests, the demo and benchmarks.

    from crmsync.fakes import start_fake
    with start_fake("amocrm", contacts=500, rate_limit=False) as server:
        requests.get(server.url + "/api/v4/contacts", headers={"Authorization": "Bearer demo-token"})

``start_fake`` returns a started :class:`FakeServer`; ``server.app`` is the fake itself (its store,
OAuth book and clock), ``server.faults`` its fault plan, ``server.stats`` what it was asked.
"""

from __future__ import annotations

import importlib
from dataclasses import fields
from typing import Any

from .base import BaseApp, FakeConfig
from .faults import FaultPlan, FaultRule
from .server import FakeServer

# name -> "module:AppClass:ConfigClass"; imported on use so `crmsync --help` stays fast.
_REGISTRY: dict[str, str] = {
    "amocrm": "crmsync.fakes.amocrm.app:FakeAmoCRM:AmoCRMConfig",
    "bitrix24": "crmsync.fakes.bitrix24.app:FakeBitrix24:Bitrix24Config",
    "hubspot": "crmsync.fakes.hubspot.app:FakeHubSpot:HubSpotConfig",
}


def register_fake(name: str, target: str) -> None:
    """Register a fake CRM app as ``"module:AppClass:ConfigClass"``."""
    _REGISTRY[name] = target


def fake_names() -> list[str]:
    return sorted(_REGISTRY)


def fake_classes(name: str) -> tuple[type[BaseApp], type[FakeConfig]]:
    try:
        module, app_cls, cfg_cls = _REGISTRY[name].split(":")
    except KeyError:
        raise ValueError(f"unknown fake CRM {name!r}; known: {', '.join(fake_names())}") from None
    mod = importlib.import_module(module)
    return getattr(mod, app_cls), getattr(mod, cfg_cls)


def make_app(name: str, **settings: Any) -> BaseApp:
    app_cls, cfg_cls = fake_classes(name)
    known = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise TypeError(f"unknown setting(s) for fake {name}: {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return app_cls(cfg_cls(**settings))


def start_fake(name: str, *, port: int = 0, faults: list[str] | FaultPlan | None = None,
               fault_seed: int = 0, tls: bool = False, **settings: Any) -> FakeServer:
    """Start fake ``name`` on 127.0.0.1 (``tls=True``: HTTPS, trust ``server.cert_path``)."""
    plan = faults if isinstance(faults, FaultPlan) else FaultPlan(
        [FaultRule.parse(s) for s in faults or []], seed=fault_seed)
    return FakeServer(make_app(name, **settings), port=port, faults=plan, tls=tls).start()


__all__ = ["FakeServer", "FaultPlan", "FaultRule", "FakeConfig", "BaseApp", "start_fake", "make_app",
           "fake_names", "fake_classes", "register_fake"]
