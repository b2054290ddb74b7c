"""[app_sync] in config/config.toml, environment overrides, and the errors a person can act on."""

import pytest

from crmsync.appsync.settings import load
from crmsync.errors import UserError
from crmsync.project import Project


def project(tmp_path, text):
    (tmp_path / "config").mkdir()
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "config" / "config.toml").write_text(text)
    return Project(tmp_path)


def test_no_section_means_off(tmp_path):
    assert load(project(tmp_path, "[runtime]\ndlthub_telemetry = false\n")).enabled is False


def test_the_section_turns_it_on_and_env_overrides(tmp_path, monkeypatch):
    p = project(tmp_path, '[app_sync]\npush_now = false\n[app_sync.jwt]\nissuer = "a"\nalgorithms = ["HS256"]\n')
    monkeypatch.setenv("APP_SYNC__JWT__ISSUER", "b")
    monkeypatch.setenv("APP_SYNC__PUSH_NOW", "true")
    monkeypatch.setenv("APP_SYNC__JWT__ALGORITHMS", "RS256,ES256")
    settings = load(p)
    assert settings.enabled and settings.push_now and settings.jwt.issuer == "b"
    assert settings.jwt.algorithms == ("RS256", "ES256") and settings.jwt.tenant_claim == "sub"


@pytest.mark.parametrize(("text", "message"), [
    ("[app_sync]\npush_noww = true\n", "unknown setting.*push_noww.*allowed:.*push_now"),
    ('[app_sync.jwt]\nalgorithms = ["none"]\n', "algorithms.*allowed: HS256, RS256, ES256"),
    ('[app_sync]\npush_now = "maybe"\n', "push_now = 'maybe' is not a bool"),
    ("[app_sync\n", "config/config.toml: cannot be read"),
])
def test_mistakes_say_what_and_where(tmp_path, text, message):
    with pytest.raises(UserError, match=message):
        load(project(tmp_path, text))
