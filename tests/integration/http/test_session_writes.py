"""A write that is not idempotent is never resent blind: a failure after the request may have reached
the CRM raises OutcomeUnknown; what provably never ran (refused connection, 429, a documented
not-executed answer) and what the caller declares idempotent are retried as is."""

import socket

import pytest

from crmsync.errors import CrmError, UserError
from crmsync.http.pacing import LeakyBucket, RollingWindow
from crmsync.http.policy import RetryPolicy
from crmsync.http.session import CrmSession, OutcomeUnknown, timeout_from_env
from crmsync.project import builtin_project_dir
from crmsync.specs.yamlload import load_yaml

AMO_SPEC = load_yaml(builtin_project_dir() / "connectors" / "amocrm.yaml")
B24_SPEC = load_yaml(builtin_project_dir() / "connectors" / "bitrix24.yaml")


def amo(**kw):
    s = CrmSession.from_connector(AMO_SPEC, RollingWindow(1000), sleep=lambda _: None, **kw)
    s.headers["Authorization"] = "Bearer demo-token"
    return s


def b24(**kw):
    return CrmSession.from_connector(B24_SPEC, LeakyBucket(1000, 1000), sleep=lambda _: None, **kw)


def amo_names(server):
    return [r.get("first_name") for r in server.app.table("contacts").rows.values()]


def b24_names(server):
    return [r.get("NAME") for r in server.app.table("contacts").rows.values()]


@pytest.mark.parametrize("fault", ["truncate-after", "drop-after", "hang-after", "500-after", "503-after"])
def test_amocrm_write_whose_answer_is_lost_is_not_resent(fake_crm, fault):
    server = fake_crm("amocrm", contacts=1, rate_limit=False)
    server.faults.add_spec(f"{fault}:x1@/api/v4/contacts").hang_seconds = 3
    s = amo(timeout=(2, 0.5))
    with pytest.raises(OutcomeUnknown, match=r"may have carried out POST .*/api/v4/contacts") as exc:
        s.post(server.url + "/api/v4/contacts", json=[{"first_name": "Once"}])
    assert amo_names(server).count("Once") == 1  # the CRM did it once; we did not send it again
    assert s.stats.requests == 1 and s.stats.unknown == 1 and exc.value.exit_code == 3


@pytest.mark.parametrize("fault", ["truncate-after", "drop-after", "500-after"])
def test_bitrix24_batch_that_writes_is_not_resent(fake_crm, fault):
    server = fake_crm("bitrix24", contacts=1, rate_limit=False, faults=[f"{fault}:x1@crm.contact.add"])
    s = b24()
    with pytest.raises(OutcomeUnknown):
        s.post(server.url + "/rest/1/demo/batch", json={"halt": 0, "cmd": {"a": "crm.contact.add?fields[NAME]=Once"}},
               idempotent=False)
    assert b24_names(server).count("Once") == 1 and s.stats.requests == 1


@pytest.mark.parametrize("crm, fault", [("amocrm", "429-before"), ("bitrix24", "503-before"),
                                        ("bitrix24", "429-before")])
def test_answers_the_crm_documents_as_not_run_are_retried_as_is(fake_crm, crm, fault):
    server = fake_crm(crm, contacts=1, rate_limit=False, faults=[f"{fault}:x2"])
    if crm == "amocrm":
        r = amo().post(server.url + "/api/v4/contacts", json=[{"first_name": "Once"}])
        names = amo_names(server)
    else:
        r = b24().post(server.url + "/rest/1/demo/crm.contact.add", json={"fields": {"NAME": "Once"}})
        names = b24_names(server)
    assert r.status_code == 200 and names.count("Once") == 1


def test_a_5xx_whose_write_did_not_run_is_still_unknown_to_the_client(fake_crm):
    # A 500 does not say whether the CRM ran the write: the caller must look before resending.
    server = fake_crm("bitrix24", contacts=1, rate_limit=False, faults=["500-before:x1"])
    with pytest.raises(OutcomeUnknown, match="HTTP 500"):
        b24().post(server.url + "/rest/1/demo/crm.contact.add", json={"fields": {"NAME": "Never"}})
    assert "Never" not in b24_names(server)


def test_a_read_declared_idempotent_is_retried_through_lost_answers(fake_crm):
    server = fake_crm("bitrix24", contacts=3, rate_limit=False, faults=["drop:x1", "truncate:x1", "500:x1"])
    s = b24()
    r = s.post(server.url + "/rest/1/demo/batch", json={"halt": 0, "cmd": {"a": "crm.contact.list?select[]=ID"}},
               idempotent=True)
    assert r.status_code == 200 and len(r.json()["result"]["result"]["a"]) == 3 and s.stats.retries == 3


def test_a_refused_connection_never_reached_the_crm_so_a_write_is_retried():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    s = CrmSession.from_connector(AMO_SPEC, RollingWindow(1000), retry=RetryPolicy(max_attempts=3),
                                  sleep=lambda _: None)
    with pytest.raises(CrmError, match="still failing after 3 attempts on POST") as exc:
        s.post(f"http://127.0.0.1:{port}/api/v4/contacts", json=[{"first_name": "X"}])
    assert not isinstance(exc.value, OutcomeUnknown) and s.stats.requests == 3


def test_the_timeout_setting(monkeypatch):
    monkeypatch.setenv("CRMSYNC_HTTP_TIMEOUT", "0.5")
    assert timeout_from_env() == (10.0, 0.5) and CrmSession(crm_title="x").timeout == (10.0, 0.5)
    monkeypatch.setenv("CRMSYNC_HTTP_TIMEOUT", "2,30")
    assert timeout_from_env() == (2.0, 30.0)
    monkeypatch.setenv("CRMSYNC_HTTP_TIMEOUT", "soon")
    with pytest.raises(UserError, match=r"CRMSYNC_HTTP_TIMEOUT='soon' is not a timeout: give READ or CONNECT,READ"):
        CrmSession(crm_title="x")
