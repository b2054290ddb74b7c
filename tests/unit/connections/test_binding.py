"""What identifies an account comes from the connector spec; a part one side cannot see proves nothing."""

import pytest

from crmsync.connections.binding import AccountMismatch, check_replace, differences, identity_parts, observe
from crmsync.connections.model import Connection
from crmsync.errors import UserError
from crmsync.project import builtin_project_dir
from crmsync.specs.yamlload import load_yaml


def spec(crm):
    return load_yaml(builtin_project_dir() / "connectors" / f"{crm}.yaml")


def test_amocrm_is_identified_by_its_account_answer():
    parts = identity_parts(spec("amocrm"))
    seen = observe(parts, check_body={"id": 30957638, "subdomain": "acme", "name": "Acme"},
                   base_url="https://acme.amocrm.ru")
    assert seen == {"account_id": "30957638", "subdomain": "acme"}


def test_bitrix24_is_identified_by_its_member_id_and_host():
    parts = identity_parts(spec("bitrix24"))
    webhook = observe(parts, check_body={"result": {"ID": "1"}}, base_url="https://Acme.bitrix24.ru/rest/1/abc/")
    assert webhook == {"domain": "acme.bitrix24.ru"}   # a webhook carries no portal id
    oauth = observe(parts, grant={"member_id": "m1"}, base_url="https://acme.bitrix24.ru/rest/")
    assert oauth == {"member_id": "m1", "domain": "acme.bitrix24.ru"}
    assert differences(oauth, webhook) == []                       # the same portal, seen two ways
    assert differences(oauth, {"member_id": "m2"}) == ["member_id"]


def _conn(crm, identity):
    return Connection("sales", crm, "long_lived_token", "https://x", {"identity": identity})


def test_replace_rules():
    a, b = {"account_id": "1", "subdomain": "a"}, {"account_id": "2", "subdomain": "b"}
    check_replace(_conn("amocrm", a), _conn("amocrm", a), new_account=False, title="AmoCRM")   # re-authorise
    with pytest.raises(AccountMismatch, match="bound to the AmoCRM account account_id 1, subdomain a"):
        check_replace(_conn("amocrm", a), _conn("amocrm", b), new_account=False, title="AmoCRM")
    check_replace(_conn("amocrm", a), _conn("amocrm", b), new_account=True, title="AmoCRM")
    with pytest.raises(AccountMismatch, match="cannot turn it into a bitrix24 one"):
        check_replace(_conn("amocrm", a), _conn("bitrix24", {"domain": "x"}), new_account=False, title="Bitrix24")
    with pytest.raises(UserError, match="would make the next sync create every record again"):
        check_replace(_conn("amocrm", a), _conn("amocrm", a), new_account=True, title="AmoCRM")
