import pytest

from tests.integration.appsync.harness import SECRET, Server, make_project


@pytest.fixture
def app_server(tmp_path, monkeypatch):
    """``app_server(**project options)``: a started server on a fresh project; stopped after the test."""
    monkeypatch.setenv("CRMSYNC_APP_JWT_SECRET", SECRET)
    started = []

    def start(time_scale=None, **options):
        server = Server(make_project(tmp_path / f"s{len(started)}", **options), time_scale=time_scale).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
