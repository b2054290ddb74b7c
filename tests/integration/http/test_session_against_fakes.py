"""CrmSession over real HTTP: pacing keeps the fakes' real limits unbroken; faults are survived."""

import time

import pytest
import requests

from crmsync.errors import CrmError
from crmsync.http.pacing import LeakyBucket, RollingWindow
from crmsync.http.policy import ErrorPolicy, RetryPolicy
from crmsync.http.session import CrmSession
from crmsync.project import builtin_project_dir
from crmsync.specs.yamlload import load_yaml

AMO_SPEC = load_yaml(builtin_project_dir() / "connectors" / "amocrm.yaml")
B24_SPEC = load_yaml(builtin_project_dir() / "connectors" / "bitrix24.yaml")


def amo_session(**kw):
    s = CrmSession.from_connector(AMO_SPEC, RollingWindow(7), **kw)
    s.headers["Authorization"] = "Bearer demo-token"
    return s


def test_paced_requests_never_hit_amocrms_limit(fake_crm):
    amo = fake_crm("amocrm", contacts=5)  # rate limit on: 7/s per token
    s = amo_session()
    start = time.monotonic()
    for _ in range(15):
        assert s.get(amo.url + "/api/v4/contacts").status_code == 200
    elapsed = time.monotonic() - start
    assert amo.stats.by_status.get(429, 0) == 0 and s.stats.throttled == 0
    assert 14 / 7 <= elapsed < 14 / 7 * 1.3  # close to the ceiling, not far under it


def test_leaky_bucket_pacing_under_bitrix24s_bucket(fake_crm):
    # A faster bucket than the real 2/s keeps the test short; the arithmetic is the same.
    b24 = fake_crm("bitrix24", contacts=5, bucket_rate=20, bucket_capacity=10)
    s = CrmSession.from_connector(B24_SPEC, LeakyBucket(20, 10))
    for _ in range(40):
        assert s.post(b24.url + "/rest/1/demo/profile", json={}).status_code == 200
    assert b24.stats.by_status.get(503, 0) == 0


@pytest.mark.parametrize("fault", ["429:x2", "503:x3", "500:x2", "drop:x2", "truncate:x2"])
def test_transient_faults_are_retried_to_the_same_answer(fake_crm, fault):
    amo = fake_crm("amocrm", contacts=7, rate_limit=False, faults=[fault])
    s = amo_session(sleep=lambda _: None)
    r = s.get(amo.url + "/api/v4/contacts")
    assert r.status_code == 200 and len(r.json()["_embedded"]["contacts"]) == 7
    assert s.stats.retries >= 2


def test_a_hung_request_times_out_and_is_retried(fake_crm):
    amo = fake_crm("amocrm", contacts=3, rate_limit=False)
    amo.faults.add("hang", count=1, hang_seconds=5)
    s = amo_session(sleep=lambda _: None, timeout=(2, 0.5))
    assert s.get(amo.url + "/api/v4/contacts").status_code == 200


def test_persistent_outage_stops_with_the_crms_words(fake_crm):
    amo = fake_crm("amocrm", rate_limit=False, faults=["503:1.0"])
    s = CrmSession.from_connector(AMO_SPEC, RollingWindow(1000), retry=RetryPolicy(max_attempts=3),
                                  sleep=lambda _: None)
    with pytest.raises(CrmError, match=r"still failing after 3 attempts on GET .*/api/v4/contacts: HTTP 503"):
        s.get(amo.url + "/api/v4/contacts", headers={"Authorization": "Bearer demo-token"})


def test_fail_run_and_fail_record(fake_crm):
    b24 = fake_crm("bitrix24", rate_limit=False)
    s = CrmSession.from_connector(B24_SPEC, LeakyBucket(1000, 1000), sleep=lambda _: None)
    with pytest.raises(CrmError) as exc:
        s.post(b24.url + "/rest/1/wrong-code/profile", json={})
    assert "NO_AUTH_FOUND: Wrong authorization data" in str(exc.value)
    assert "wrong-code" not in str(exc.value) and "/rest/1/***/profile" in str(exc.value)
    assert "reconnect" in str(exc.value).lower()
    with pytest.raises(CrmError, match="answered 400 .*Not found"):
        s.post(b24.url + "/rest/1/demo/crm.contact.get", json={"id": 999999})  # a read: the request is wrong
    s.records_can_fail = True
    r = s.post(b24.url + "/rest/1/demo/crm.contact.get", json={"id": 999999})
    assert r.status_code == 400  # a writer sets the record aside and goes on


class RefreshingAuth(requests.auth.AuthBase):
    def __init__(self, token):
        self.token, self.refreshed = token, 0

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r

    def refresh(self):
        self.refreshed += 1
        self.token = "demo-token"


def test_a_401_refreshes_once_then_retries_and_never_loops(fake_crm):
    amo = fake_crm("amocrm", contacts=2, rate_limit=False)
    s = CrmSession.from_connector(AMO_SPEC, RollingWindow(1000), sleep=lambda _: None)
    s.auth = RefreshingAuth("expired")
    assert s.get(amo.url + "/api/v4/contacts").status_code == 200 and s.auth.refreshed == 1
    s.auth = RefreshingAuth("expired")
    s.auth.refresh = lambda: None  # a refresh that does not help
    with pytest.raises(CrmError, match="answered 401"):
        s.get(amo.url + "/api/v4/contacts")
    assert ErrorPolicy  # the policy came from the spec, not from code
