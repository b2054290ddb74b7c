import threading

import pytest
import requests

from crmsync.connections import oauth_flow as flow
from crmsync.connections.session import apply_credential
from crmsync.connections.spec import OAUTH2, load_connector_auth
from crmsync.errors import UserError
from crmsync.project import Project, builtin_project_dir


def test_connector_specs_give_each_crms_rules():
    project = Project.at(builtin_project_dir())
    amo, b24 = load_connector_auth(project, "amocrm"), load_connector_auth(project, "bitrix24")
    assert amo.auth(OAUTH2).old_refresh_token == "grace" and amo.auth(OAUTH2).token_request == "json"
    assert b24.auth(OAUTH2).old_refresh_token == "invalidate" and b24.auth(OAUTH2).param == "auth"
    assert amo.check_path == "api/v4/account" and b24.check_method == "profile"
    with pytest.raises(UserError, match="do not support webhook_url auth; this connector supports: long_lived"):
        amo.auth("webhook_url")
    with pytest.raises(UserError, match="no connector spec for 'pipedrive'.*known: amocrm, bitrix24, hubspot"):
        load_connector_auth(project, "pipedrive")


def test_credentials_go_where_the_spec_says():
    project = Project.at(builtin_project_dir())
    amo, b24 = load_connector_auth(project, "amocrm"), load_connector_auth(project, "bitrix24")
    r = apply_credential(requests.Request("GET", "http://x/api/v4/account").prepare(), amo.auth(OAUTH2), "T1")
    assert r.headers["Authorization"] == "Bearer T1"
    r = apply_credential(requests.Request("GET", "http://x/rest/profile?auth=OLD&a=1").prepare(),
                         b24.auth(OAUTH2), "T2")
    assert r.url == "http://x/rest/profile?a=1&auth=T2"


def _get(url):
    return requests.get(url, timeout=5)


def test_callback_accepts_the_right_state_only():
    with flow.CallbackServer("good-state") as server:
        threading.Thread(target=_get, args=(server.redirect_uri + "?code=abc&state=good-state&referer=h",)).start()
        redirect = server.wait(5)
    assert redirect.code == "abc" and redirect.params["referer"] == "h"
    with flow.CallbackServer("good-state") as server:
        answer = _get(server.redirect_uri + "?code=abc&state=evil")
        assert answer.status_code == 400
        with pytest.raises(UserError, match="different `state`"):
            server.wait(5)


def test_callback_times_out_cleanly_and_reports_a_refusal():
    with flow.CallbackServer("s") as server, pytest.raises(UserError, match="no authorisation arrived .* 1 s"):
        server.wait(1)
    with flow.CallbackServer("s") as server:
        _get(server.redirect_uri + "?error=access_denied&state=s")
        with pytest.raises(UserError, match="refused the authorisation: access_denied"):
            server.wait(5)


def test_pasted_code_or_url():
    assert flow.parse_pasted(" abc123 ").code == "abc123"
    assert flow.parse_pasted("http://127.0.0.1:8765/callback?code=xyz&state=s").params == {"code": "xyz", "state": "s"}
    with pytest.raises(UserError, match="has no `code`"):
        flow.parse_pasted("http://127.0.0.1:8765/callback?state=s")
