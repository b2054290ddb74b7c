import pytest

from crmsync.connections import repository
from crmsync.connections.model import Connection
from crmsync.errors import UserError
from crmsync.project import Project
from crmsync.secrets.vault import vault_for


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.delenv("CRMSYNC_SECRET_KEY", raising=False)
    (tmp_path / "connectors").mkdir()
    return Project.at(tmp_path)


def _conn(name="sales", token="tok-abcdef-123"):
    return Connection(name, "amocrm", "oauth2", "https://acme.amocrm.ru", {"client_id": "cid"},
                      {"access_token": token, "refresh_token": "ref-abcdef-123"}, token_expires_at=2e9)


def test_round_trip_and_nothing_readable_on_disk(project):
    vault = vault_for(project.state_dir)
    repository.insert(project, vault, _conn(), replace=False)
    got = repository.get(project, "sales", vault)
    assert got.credentials["access_token"] == "tok-abcdef-123" and got.settings == {"client_id": "cid"}
    assert got.token_expires_at == pytest.approx(2e9)
    assert repository.get(project, "sales").credentials == {}  # not opened without a vault
    data = project.store_path().read_bytes()
    assert b"tok-abcdef-123" not in data and b"ref-abcdef-123" not in data


def test_replace_is_explicit_and_atomic(project):
    vault = vault_for(project.state_dir)
    repository.insert(project, vault, _conn(), replace=False)
    with pytest.raises(UserError, match="already exists; pass --replace"):
        repository.insert(project, vault, _conn(token="other-token-1"), replace=False)
    repository.insert(project, vault, _conn(token="other-token-1"), replace=True)
    assert repository.get(project, "sales", vault).credentials["access_token"] == "other-token-1"
    assert [c.name for c in repository.list_all(project)] == ["sales"]


def test_save_tokens_bumps_generation_and_clears_the_refresh_mark(project):
    vault = vault_for(project.state_dir)
    repository.insert(project, vault, _conn(), replace=False)
    repository.mark_refresh_started(project, "sales", 1.7e9)
    conn = repository.get(project, "sales", vault)
    assert conn.refresh_started_at == pytest.approx(1.7e9)
    conn.credentials["access_token"] = "new-token-xyz"
    repository.save_tokens(project, vault, conn)
    again = repository.get(project, "sales", vault)
    assert again.generation == 1 and again.refresh_started_at is None and again.status == "ok"
    assert again.credentials["access_token"] == "new-token-xyz"


def test_unknown_name_lists_the_known_ones(project):
    with pytest.raises(UserError, match="create one with `crmsync connect`"):
        repository.get(project, "nope")
    repository.insert(project, vault_for(project.state_dir), _conn(), replace=False)
    with pytest.raises(UserError, match="no connection named 'nope'; known: sales"):
        repository.get(project, "nope")
    assert repository.delete(project, "sales") and not repository.delete(project, "sales")
