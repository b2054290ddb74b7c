"""Fixtures the mapping tests share."""

from __future__ import annotations

from typing import Any

import pytest

from crmsync.fakes import start_fake


@pytest.fixture(scope="module")
def hubspot() -> Any:
    """A fake HubSpot on loopback: the metadata and records of the HubSpot cases (it has no golden ones)."""
    with start_fake("hubspot", contacts=12, deals=12, tasks=12, rate_limit=False) as server:
        yield server
