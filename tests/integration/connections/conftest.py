import pytest

from tests.integration.connections.helpers import make_project


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    return make_project(tmp_path / "proj")
