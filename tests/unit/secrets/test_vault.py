import os
import stat

import pytest

from crmsync.errors import UserError
from crmsync.secrets import keys
from crmsync.secrets.vault import TamperedError, Vault, WrongKeyError, vault_for


@pytest.fixture(autouse=True)
def no_env_key(monkeypatch):
    monkeypatch.delenv(keys.ENV_VAR, raising=False)


def test_seal_and_open_round_trip_with_a_fresh_nonce_each_time(tmp_path):
    vault = vault_for(tmp_path)
    a = vault.seal("sales", "credentials", {"access_token": "tok-123456"})
    b = vault.seal("sales", "credentials", {"access_token": "tok-123456"})
    assert a != b and a[1:13] != b[1:13]  # per-record nonce
    assert b"tok-123456" not in a
    assert vault.open("sales", "credentials", a, vault.key_id) == {"access_token": "tok-123456"}


def test_key_file_is_created_owner_only_and_reused(tmp_path):
    first = keys.load_key(tmp_path)
    path = tmp_path / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert keys.load_key(tmp_path).material == first.material
    assert first.key_id not in path.read_text() and "material" not in repr(first)


def test_env_key_wins_and_a_malformed_one_is_explained(tmp_path, monkeypatch):
    text = keys.new_key_text()
    monkeypatch.setenv(keys.ENV_VAR, text)
    assert keys.load_key(tmp_path).source == keys.ENV_VAR and not (tmp_path / "secret.key").exists()
    monkeypatch.setenv(keys.ENV_VAR, "not-a-key")
    with pytest.raises(UserError, match="CRMSYNC_SECRET_KEY is not a valid crmsync key: expected urlsafe base64"):
        keys.load_key(tmp_path)


def test_ciphertext_moved_to_another_connection_or_field_does_not_open(tmp_path):
    vault = vault_for(tmp_path)
    sealed = vault.seal("sales", "credentials", {"token": "abcdefgh"})
    with pytest.raises(TamperedError, match="connection 'support'"):
        vault.open("support", "credentials", sealed, vault.key_id)
    with pytest.raises(TamperedError):
        vault.open("sales", "other", sealed, vault.key_id)


@pytest.mark.parametrize("where", [0, 5, 20, -1])
def test_any_flipped_byte_is_detected(tmp_path, where):
    vault = vault_for(tmp_path)
    sealed = bytearray(vault.seal("sales", "credentials", {"token": "abcdefgh"}))
    sealed[where] ^= 0x01
    with pytest.raises(TamperedError, match="failed their integrity check"):
        vault.open("sales", "credentials", bytes(sealed), vault.key_id)


def test_wrong_key_names_the_connection_and_the_key_source(tmp_path):
    sealed_by = Vault(keys.parse_key(keys.new_key_text(), "elsewhere"))
    sealed = sealed_by.seal("sales", "credentials", {"token": "abcdefgh"})
    mine = vault_for(tmp_path)
    with pytest.raises(WrongKeyError) as err:
        mine.open("sales", "credentials", sealed, sealed_by.key_id)
    text = str(err.value)
    assert "connection 'sales'" in text and sealed_by.key_id in text and str(tmp_path / "secret.key") in text


def test_a_pending_key_from_an_interrupted_rotation_still_opens(tmp_path):
    keys.load_key(tmp_path)
    text = keys.new_key_text()
    keys.write_pending_key(tmp_path, text)
    new = Vault(keys.parse_key(text, "pending"))
    sealed = new.seal("sales", "credentials", {"token": "abcdefgh"})
    assert vault_for(tmp_path).open("sales", "credentials", sealed, new.key_id) == {"token": "abcdefgh"}
    keys.promote_pending_key(tmp_path)
    assert vault_for(tmp_path).key_id == new.key_id and not (tmp_path / "secret.key.new").exists()
    assert oct(os.stat(tmp_path / "secret.key").st_mode & 0o777) == "0o600"
