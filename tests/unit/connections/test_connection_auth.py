"""A 401 names the token its own request carried, whatever other threads sent meanwhile."""

import threading
from types import SimpleNamespace

import requests

from crmsync.connections.session import ConnectionAuth


class _Tokens:
    """What ConnectionAuth asks of a TokenManager: a bearer token now, a refresh of a stale one."""

    def __init__(self):
        self.current, self.stale_named = "T1", []
        self.connection = SimpleNamespace(auth_type="oauth2")
        self.connector = SimpleNamespace(auth=lambda _: SimpleNamespace(
            type="oauth2", value="Bearer {access_token}", header="Authorization", param=None))

    def credential(self):
        return self.current

    def refresh(self, stale):
        self.stale_named.append(stale)


def _prepared():
    return requests.Request("GET", "http://127.0.0.1/api").prepare()


def test_a_refused_request_names_its_own_token_not_the_one_another_thread_sent_since():
    tokens = _Tokens()
    auth = ConnectionAuth(tokens)
    assert auth(_prepared()).headers["Authorization"] == "Bearer T1"  # this thread's request, then a 401
    tokens.current = "T2"  # meanwhile another thread refreshed and sent the new token
    other = threading.Thread(target=lambda: auth(_prepared()))
    other.start()
    other.join()
    auth.refresh()
    assert tokens.stale_named == ["T1"]  # "T2" would make the manager refresh a second time
