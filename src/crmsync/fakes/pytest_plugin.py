"""pytest fixtures that run fake CRMs on free loopback ports and stop them after each test.

Enable with ``pytest_plugins = ["crmsync.fakes.pytest_plugin"]`` in a ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from . import start_fake
from .server import FakeServer


@pytest.fixture
def fake_crm() -> Iterator[Callable[..., FakeServer]]:
    """Factory: ``fake_crm("amocrm", contacts=500, faults=["429:x2"])`` → a started server."""
    servers: list[FakeServer] = []

    def start(name: str, **settings: Any) -> FakeServer:
        server = start_fake(name, **settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def fake_amocrm(fake_crm: Callable[..., FakeServer]) -> FakeServer:
    """A small seeded fake AmoCRM with rate limits off (tests of limits start their own)."""
    return fake_crm("amocrm", rate_limit=False)


@pytest.fixture
def fake_bitrix24(fake_crm: Callable[..., FakeServer]) -> FakeServer:
    """A small seeded fake Bitrix24 with rate limits off (tests of limits start their own)."""
    return fake_crm("bitrix24", rate_limit=False)


@pytest.fixture
def fake_hubspot(fake_crm: Callable[..., FakeServer]) -> FakeServer:
    """A small seeded fake HubSpot with rate limits off (tests of limits start their own)."""
    return fake_crm("hubspot", rate_limit=False)
