import pytest

from tests.integration.serve.served import start_serve


@pytest.fixture
def serve():
    """``serve(project, *args, env=...)`` starts `crmsync serve`; every server still running is stopped after."""
    started = []

    def start(project, *args, env=None):
        served = start_serve(project, *args, env=env)
        started.append(served)
        return served

    yield start
    for served in started:
        if served.proc.poll() is None:
            served.stop()
