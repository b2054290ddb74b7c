"""`crmsync validate` on what a connector's schema cannot say: the webhook URL shape and error codes."""

import pytest

from crmsync.specs.project_specs import load_specs
from tests.unit.specs.project_fixture import edit, make_project

PATTERN = "    pattern: '(?P<portal>https?://[^/\\s]+)/rest/(?P<webhook_user>\\d+)/(?P<code>[^/\\s?#]+)/?'"
ALLOWED_REGEX = ("(allowed: a Python regular expression for the whole URL, without ^ and $, with named groups "
                 "(?P<name>...))")


@pytest.fixture()
def project(tmp_path):
    return make_project(tmp_path / "p")


def texts(project):
    return [str(p) for p in load_specs(project).problems]


def test_a_pattern_that_does_not_compile(project):
    line = edit(project, "connectors/bitrix24.yaml", PATTERN, "    pattern: '(?P<portal>https?://[^/\\s]+/(?P<code>.+)'")
    assert texts(project) == [f"connectors/bitrix24.yaml:{line}: connect.webhook.pattern: is not a regular "
                              f"expression: missing ), unterminated subpattern at position 0 {ALLOWED_REGEX}"]


def test_an_anchored_pattern(project):
    line = edit(project, "connectors/bitrix24.yaml", PATTERN, "    pattern: '^https://(?P<code>.+)$'")
    assert texts(project) == [f"connectors/bitrix24.yaml:{line}: connect.webhook.pattern: leave out ^ and $: the "
                              f"pattern is matched against the whole URL, and searched for in messages and logs to "
                              f"mask its secret groups {ALLOWED_REGEX}"]


def test_a_secret_that_is_not_a_group_of_the_pattern(project):
    line = edit(project, "connectors/bitrix24.yaml", "    secret: code ", "    secret: [code, token] ")
    assert texts(project) == [f"connectors/bitrix24.yaml:{line}: connect.webhook.secret: 'token' is not a named "
                              f"group of the pattern (allowed: portal, webhook_user, code)"]


def test_webhook_auth_without_a_shape(project):
    edit(project, "connectors/bitrix24.yaml", "  webhook:  ", "  x-webhook:  ")
    line = edit(project, "connectors/bitrix24.yaml", "  - type: webhook_url ", "  - type: webhook_url ")
    problems = texts(project)
    assert problems[0] == (f"connectors/bitrix24.yaml:{line}: auth[0].type: webhook_url needs connect.webhook: the "
                           f"shape of this CRM's webhook URLs, with the group that holds the secret (allowed: "
                           f"connect: {{webhook: {{pattern: ..., secret: ...}}}})")


def test_error_codes_need_to_know_where_the_body_holds_them(project):
    edit(project, "connectors/bitrix24.yaml", "  code: error ", "  x: error ")
    specs = load_specs(project)
    paths = [(p.path, p.message.split(",")[0]) for p in specs.problems]
    assert ("errors[0].error", "matches the CRM's error code") in paths
    assert ("errors[3].error", "matches the CRM's error code") in paths
    assert any(p.path == "error_body.x" for p in specs.problems)  # the schema names the unknown key
    assert {p.allowed for p in specs.problems if p.path.startswith("errors[")} == {
        ("error_body: {code: <dotted path in the body>}",)}
