"""Schemathesis against the app sync routes of a configured server, with a valid JWT: no 5xx, every answer
as the OpenAPI document says (status, content type, schema)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.integration.appsync.harness import SECRET, make_project, token


@pytest.fixture(scope="module")
def app_sync_app(tmp_path_factory):
    from crmsync.project import Project
    from crmsync.serve.app import create_app

    mp = pytest.MonkeyPatch()
    mp.setenv("CRMSYNC_APP_JWT_SECRET", SECRET)
    try:
        yield create_app(Project.at(make_project(tmp_path_factory.mktemp("appfuzz"))), schedule=False, stop_grace=0)
    finally:
        mp.undo()


# POST /api/sync/connection checks a token by calling the CRM at the address given: a fuzzer must not send
# the server to arbitrary hosts (tests/integration/appsync/test_tenants.py covers it)
schema = schemathesis.pytest.from_fixture("app_openapi").include(path_regex="^/api/sync/") \
    .exclude(method="POST", path="/api/sync/connection")


@pytest.fixture(scope="module")
def app_openapi(app_sync_app):
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app_sync_app)
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=8)
    return loaded


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_app_sync_matches_its_openapi(case):
    # a push of tables the app schema does not have is schema-valid JSON and a 400 that says which: right
    case.call_and_validate(headers={"Authorization": f"Bearer {token('fuzz')}"},
                           excluded_checks=[positive_data_acceptance])
