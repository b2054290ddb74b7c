"""The README's "Editing the store with SQL" section, followed literally: its SQL statements run as written
on the store, its command runs through the real CLI, and the fake AmoCRM shows the new contact and then
the change."""

import re
import shlex
from pathlib import Path

from tests.integration.sync.test_sync_cli import Amo, project, sent, sql  # noqa: F401  (project is a fixture)
from tests.integration.test_pull_cli import run_here

README = Path(__file__).parents[3] / "README.md"


def section(title):
    text = README.read_text(encoding="utf-8")
    start = text.index(f"### {title}\n")
    end = text.index("\n#", start + 4)
    return text[start:end]


def blocks(text, language):
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def amo_contact_by_email(server, address):
    for row in server.app.table("contacts").rows.values():
        for f in row.get("custom_fields_values") or []:
            if f.get("field_code") == "EMAIL" and any(v["value"].lower() == address for v in f["values"]):
                return row
    return None


def test_the_readme_editing_section_works_as_written(project, fake_crm):  # noqa: F811
    server = fake_crm("amocrm", contacts=5, deals=2, tasks=2, rate_limit=False)
    run_here(project, "connect", "amocrm", "--name", "amocrm", "--base-url", server.url,
             "--long-lived-token", "demo-token")
    run_here(project, "sync", "amocrm", "--no-strict")

    text = section("Editing the store with SQL")
    (statements,) = blocks(text, "sql")
    (commands,) = blocks(text, "sh")
    insert, update = [s.strip() for s in statements.split(";") if s.strip()]
    assert "INSERT INTO canonical.contacts" in insert and "updated_at = now()" in update

    def follow_commands():
        for line in commands.strip().splitlines():
            words = shlex.split(line.split("#")[0])
            assert words[0] == "crmsync"
            out = run_here(project, *words[1:], "--json", "--no-strict")  # the fake's seed has records set aside
        return out

    sql(project, insert)
    cid, version, created, updated = sql(project, "SELECT id, version, created_at, updated_at FROM canonical.contacts "
                                                  "WHERE first_name = 'Ann' AND last_name = 'Lee'")[0]
    assert version == 1 and created is not None and updated is not None
    follow_commands()
    made = amo_contact_by_email(server, "ann.lee@example.com")
    assert made is not None and made["first_name"] == "Ann" and made["last_name"] == "Lee"
    assert sql(project, "SELECT count(*) FROM sync.links WHERE canonical_id = ? AND connection = 'amocrm'",
               [cid]) == [(1,)]

    sql(project, update)
    follow_commands()
    assert Amo(server).position(made["id"]) == "Head of sales"
    assert sql(project, "SELECT position FROM canonical.contacts WHERE id = ?", [cid]) == [("Head of sales",)]

    import json
    assert sent(json.loads(follow_commands())) == 0  # and nothing more to send
