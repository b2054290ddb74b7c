"""The first run of this release on a store the previous release made: the real CLI migrates it in place,
keeps the old rows with their values typed, and pulls on top of it."""

import datetime as dt
import json
from decimal import Decimal

from tests.integration.sync.test_sync_cli import project, sql  # noqa: F401  (project is a fixture)
from tests.integration.test_pull_cli import run_here
from tests.unit.canonical.test_migrate import v1_store


def test_the_first_pull_of_a_new_release_migrates_an_old_store_and_carries_on(project, fake_crm):  # noqa: F811
    v1_store(project / "crmsync.duckdb").close()
    server = fake_crm("amocrm", contacts=4, deals=2, tasks=2, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    result = json.loads(run_here(project, "pull", "amocrm", "--json"))
    assert result["entities"]["contact"]["applied"] == 4

    assert sql(project, "SELECT version FROM sync.schema_version ORDER BY version") == [(1,), (2,)]
    assert sql(project, "SELECT amount, closed_at FROM canonical.deals WHERE id = 'd1'") == [
        (Decimal("1000000.50"), dt.datetime(2026, 1, 5, 12, tzinfo=dt.timezone.utc))]
    assert sql(project, "SELECT updated_at FROM canonical.contacts WHERE id = 'c1'") == [
        (dt.datetime(2026, 12, 6, 0, 56, 8, 281452, tzinfo=dt.timezone.utc),)]
    assert sql(project, "SELECT count(*) FROM canonical.contacts") == [(2 + 4,)]  # the old rows and the new
    assert sql(project, "SELECT count(*) FROM canonical.contacts WHERE created_at >= TIMESTAMPTZ '2000-01-01' "
                        "AND id NOT IN ('c2')") == [(1 + 4,)]  # typed, comparable timestamps (c2 had none)
