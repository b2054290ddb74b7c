"""Fixtures shared by the CLI contract tests (exit codes, smaller breaks): a project made by
``crmsync init`` and a small fake AmoCRM connected to it."""

import pytest

from tests.integration.test_pull_cli import run_here


@pytest.fixture
def project(tmp_path):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    return tmp_path / "p"


@pytest.fixture
def amo(project, fake_crm):
    server = fake_crm("amocrm", contacts=8, deals=3, tasks=3, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    return server
