"""Field by field: what a pull puts in canonical tables is what the fake CRM was seeded with.

The ground truth is the fakes' neutral seeded world (crmsync.fakes.world), independent of both the
fakes' wire formats and the mapping files; a record is found again by (created_at, name/title/text).
"""

import datetime as dt
import json
import shutil
from collections import Counter
from decimal import Decimal

import duckdb
import phonenumbers
import pytest

from crmsync.canonical.values import plain
from crmsync.fakes.world import PIPELINES, build_world
from crmsync.mapping import load_canonical, load_mapping
from crmsync.project import Project, builtin_project_dir
from crmsync.pull import pull_connection
from tests.integration.fake_sessions import fake_session

SIZES = {"contacts": 700, "deals": 150, "tasks": 150}  # 700 contacts: the 300-record same-second block included
PHONE_KIND = {"WORK": "work", "MOBILE": "mobile", "HOME": "home", "FAX": "fax", "OTHER": "other"}
EMAIL_KIND = {"WORK": "work", "PRIVATE": "personal", "OTHER": "other"}


def iso(ts):
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def e164(raw):
    """E.164, plus ``;ext=N`` when the person typed an extension (RFC 3966 style)."""
    try:
        number = phonenumbers.parse(raw, "RU")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{text};ext={number.extension}" if number.extension else text


@pytest.fixture(scope="module", params=["amocrm", "bitrix24"])
def pulled(request, tmp_path_factory):
    from crmsync.fakes import start_fake

    crm = request.param
    root = tmp_path_factory.mktemp(crm)
    for folder in ("connectors", "mappings"):
        shutil.copytree(builtin_project_dir() / folder, root / folder)
    project = Project(root)
    with start_fake(crm, rate_limit=False, **SIZES) as server:
        connector, session, base = fake_session(project, crm, server)
        result = pull_connection(
            project, pipeline=crm, connection=crm, crm=crm, connector=connector,
            mappings={e: load_mapping(project.mappings_dir / crm / f"{e}.yaml") for e in ("contact", "deal", "task")},
            canonical=load_canonical(root), entities=["contact", "deal", "task"], session=session, base_url=base,
            store="crmsync.duckdb")
    con = duckdb.connect(str(project.store_path()), read_only=True)
    tables = {}
    for table in ("contacts", "deals", "tasks"):
        cur = con.execute(f"SELECT * FROM canonical.{table}")
        names = [d[0] for d in cur.description]
        # typed columns (TIMESTAMPTZ, DECIMAL) compared as the canonical JSON text the mapping produced
        tables[table] = [dict(zip(names, map(_as_json, row), strict=True)) for row in cur.fetchall()]
    con.close()
    return crm, result, tables


def _as_json(value):
    return plain(value) if isinstance(value, dt.datetime | Decimal) else value


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def by_key(rows, key):
    counts = Counter(key(r) for r in rows)
    return {key(r): r for r in rows if counts[key(r)] == 1}


def test_counts_and_nothing_rejected(pulled):
    _, result, tables = pulled
    assert {e: (c["read"], c["rejected"]) for e, c in result.entities.items()} == {
        "contact": (700, 0), "deal": (150, 0), "task": (150, 0)}
    assert [len(tables[t]) for t in ("contacts", "deals", "tasks")] == [700, 150, 150]


def test_contacts_field_by_field(pulled):
    crm, _, tables = pulled
    world = build_world(42, **SIZES)
    rows = by_key(tables["contacts"], lambda r: (r["created_at"], r["first_name"], r["last_name"]))
    checked = 0
    for c in world.contacts:
        row = rows.get((iso(c.created_at), c.first_name, c.last_name))
        if row is None:
            continue
        checked += 1
        assert row["updated_at"] == iso(c.updated_at)
        phones = _json(row["phones"]) or []
        assert len(phones) == len(c.phones)
        for want, got in zip(c.phones, phones, strict=True):
            assert got["value"] == (e164(want.value) or got["value"])  # E.164 wherever the number is valid
            if e164(want.value):
                assert got["value"].startswith("+")
        assert [p["type"] for p in phones] == [PHONE_KIND[p.kind] for p in c.phones]
        assert [e["value"] for e in _json(row["emails"]) or []] == [e.value.strip().lower() for e in c.emails]
        assert [e["type"] for e in _json(row["emails"]) or []] == [EMAIL_KIND[e.kind] for e in c.emails]
        assert row["position"] == c.position
        assert row["company"] == (world.companies[c.company] if c.company is not None else None)
        assert row["owner"] == world.users[c.owner].email.lower()
        custom = _json(row["custom"]) or {}
        assert custom.get("source") == c.custom.get("source")
        assert (custom.get("interests") or []) == (c.custom.get("interests") or [])
        if "budget" in c.custom:
            assert float(custom["budget"]) == float(c.custom["budget"])
        if "birthday" in c.custom:
            assert custom["birthday"] == dt.datetime.fromtimestamp(c.custom["birthday"], dt.timezone.utc).date()\
                .isoformat()
        assert custom.get("notes") == c.custom.get("notes")
    assert checked >= 650, f"only {checked} of 700 contacts could be matched to the world"


def test_deals_field_by_field(pulled):
    crm, _, tables = pulled
    world = build_world(42, **SIZES)
    contact_ids = {(r["created_at"], r["first_name"], r["last_name"]): r["id"] for r in tables["contacts"]}
    rows = by_key(tables["deals"], lambda r: (r["created_at"], r["title"]))
    checked = 0
    for d in world.deals:
        row = rows.get((iso(d.created_at), d.title))
        if row is None:
            continue
        checked += 1
        pipeline_name, stages = PIPELINES[d.pipeline]
        assert row["amount"] == pytest.approx(d.amount)
        assert row["currency"] == d.currency
        assert row["pipeline"] == pipeline_name
        assert row["stage"] == dict(stages)[d.stage]
        assert row["status"] == d.status
        assert (row["closed_at"] is not None) == (d.status != "open")
        assert row["owner"] == world.users[d.owner].email.lower()
        want = [contact_ids.get((iso(world.contacts[i].created_at), world.contacts[i].first_name,
                                 world.contacts[i].last_name)) for i in d.contacts]
        assert sorted(_json(row["contacts"]) or []) == sorted(w for w in want if w)
        custom = _json(row["custom"]) or {}
        assert custom.get("product") == d.custom.get("product")
        assert (custom.get("channels") or []) == (d.custom.get("channels") or [])
    assert checked >= 140


def test_tasks_field_by_field(pulled):
    crm, _, tables = pulled
    world = build_world(42, **SIZES)
    deal_ids = {(r["created_at"], r["title"]): r["id"] for r in tables["deals"]}
    contact_ids = {(r["created_at"], r["first_name"], r["last_name"]): r["id"] for r in tables["contacts"]}
    rows = by_key(tables["tasks"], lambda r: (r["created_at"], r["title"]))
    checked = 0
    for t in world.tasks:
        row = rows.get((iso(t.created_at), t.text))
        if row is None:
            continue
        checked += 1
        assert row["completed"] == t.completed
        assert row["due_at"] == iso(t.due_at)
        assert row["owner"] == world.users[t.owner].email.lower()
        related = _json(row["related"])
        if t.related is None:
            assert related is None
        else:
            kind, index = t.related
            if kind == "deal":
                d = world.deals[index]
                want = deal_ids.get((iso(d.created_at), d.title))
            else:
                c = world.contacts[index]
                want = contact_ids.get((iso(c.created_at), c.first_name, c.last_name))
            assert related["kind"] == kind
            if want:
                assert related["id"] == want
    assert checked >= 140
