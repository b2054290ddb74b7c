"""OAuth connect entirely through the API: the consent URL from the server, the fake AmoCRM's
consent page redirecting to the server's own callback, the connection saved and usable."""

import requests

from tests.integration.serve.served import wait_for
from tests.integration.test_pull_cli import run_here


def test_oauth_connect_through_the_api(tmp_path, fake_crm, serve):
    run_here(tmp_path, "init", str(tmp_path / "p"))
    project = tmp_path / "p"
    amo = fake_crm("amocrm", contacts=5, deals=1, tasks=1, rate_limit=False)
    served = serve(project, "--no-schedule")
    auth = {"Authorization": f"Bearer {served.key}"}

    refused = requests.get(served.base + "/api/connections/amocrm/auth-url",
                           params={"crm": "amocrm", "client_id": "demo-client"}, headers=auth, timeout=10)
    assert refused.status_code == 400 and "X-Client-Secret" in refused.json()["error"]["message"]

    answer = requests.get(served.base + "/api/connections/amocrm/auth-url", timeout=10,
                          params={"crm": "amocrm", "client_id": "demo-client", "base_url": amo.url,
                                  "authorize_url": amo.url + "/oauth"},
                          headers={**auth, "X-Client-Secret": "demo-secret"})
    assert answer.status_code == 200, answer.text
    consent = answer.json()
    assert consent["redirect_uri"] == served.base + "/api/oauth/callback"
    assert consent["url"].startswith(amo.url + "/oauth?") and "demo-secret" not in consent["url"]

    # the browser's part: the fake's consent page approves and redirects to the server's callback
    page = requests.get(consent["url"], timeout=30)
    assert page.status_code == 200, page.text
    assert "Connected amocrm" in page.text
    assert requests.get(page.url, timeout=10).status_code == 400  # the state is spent: a replay is refused

    listed = served.get("/api/connections")["connections"]
    assert [(c["name"], c["auth"], c["status"]) for c in listed] == [("amocrm", "oauth2", "ok")]
    assert amo.app.oauth.exchange_count == 1
    job = served.post("/api/pipelines/amocrm/runs", {"kind": "pull"})
    done = served.wait_job(job["job_id"])
    assert done["status"] == "ok", done
    assert done["result"]["entities"]["contact"]["read"] == 5

    deleted = requests.delete(served.base + "/api/connections/amocrm", headers=auth, timeout=10)
    assert deleted.status_code == 200 and deleted.json() == {"deleted": "amocrm"}
    wait_for(lambda: served.get("/api/connections")["connections"] == [], 10, "the connection to go")
