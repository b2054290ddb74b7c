"""Hypothesis strategies for canonical records that a given mapping can represent."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from crmsync.mapping import Mapper

# Numbers phonenumbers accepts as valid, in E.164 (what pull produces for a valid number).
PHONES = st.sampled_from(["+79161234567", "+74951234567", "+78121234567", "+79991112233", "+14155552671",
                          "+442079461234", "+4930123456", "+375291234567", "+79161234567;ext=248"])
EMAILS = st.builds(lambda user, host, tld: f"{user}@{host}.{tld}",
                   st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
                   st.from_regex(r"[a-z0-9][a-z0-9-]{0,10}", fullmatch=True), st.sampled_from(["ru", "com", "org"]))
MOMENTS = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31)).map(
    lambda d: d.replace(microsecond=0, tzinfo=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(date.isoformat)
TEXT = st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]),
                                    min_size=1, max_size=20).map(str.strip).filter(bool))


def _amount(whole: bool) -> st.SearchStrategy[float]:
    if whole:
        return st.integers(0, 10**9).map(float)
    return st.decimals(0, 10**9, places=2, allow_nan=False, allow_infinity=False).map(lambda d: float(Decimal(d)))


def _types(m: Mapper, name: str) -> list[str]:
    for bound in m.fields:
        if bound.name == name:
            kinds = bound.chain[0].spec["kinds"]
            return sorted(set(kinds.values()))
    return []


def canonical_records(m: Mapper) -> st.SearchStrategy[dict[str, Any]]:
    """A record holding every two-way field of ``m``, drawn from the values that CRM can store."""
    catalog = m.catalog
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for bound in m.fields:
        if bound.spec.direction != "both":
            continue
        name, types = bound.name, [t.name for t in bound.chain]
        if name == "phones":
            parts[name] = st.lists(st.fixed_dictionaries({"value": PHONES, "type": st.sampled_from(_types(m, name))}),
                                   max_size=3)
        elif name == "emails":
            parts[name] = st.lists(st.fixed_dictionaries({"value": EMAILS, "type": st.sampled_from(_types(m, name))}),
                                   max_size=3)
        elif "user" in types:
            parts[name] = st.sampled_from([u.email.lower() for u in catalog.users if u.email])
        elif "unix_time" in types or "iso_time" in types:
            parts[name] = MOMENTS
        elif "unix_date" in types or "iso_date" in types:
            parts[name] = st.one_of(st.none(), DAYS)
        elif name == "amount":
            parts[name] = _amount(whole=any(t.spec.get("write_as") == "integer" for t in bound.chain))
        elif "number" in types:
            parts[name] = st.one_of(st.none(), _amount(whole=False))
        elif bound.custom is not None and bound.custom.options:
            labels = sorted(bound.custom.options.values())
            many = bound.custom.multiple
            parts[name] = st.lists(st.sampled_from(labels), unique=True) if many else st.one_of(st.none(),
                                                                                                 st.sampled_from(labels))
        elif name == "currency":
            parts[name] = st.sampled_from(["RUB", "USD"])
        elif name == "contacts":
            parts[name] = st.lists(st.integers(1, 10**8).map(lambda i: f"contact:{i}"), unique=True, max_size=4)
        elif name == "related":
            parts[name] = st.one_of(st.none(), st.builds(lambda k, i: {"kind": k, "id": f"{k}:{i}"},
                                                          st.sampled_from(["contact", "deal"]), st.integers(1, 10**8)))
        elif name == "completed":
            parts[name] = st.booleans()
        elif name in ("pipeline", "stage"):
            continue  # drawn together below: a stage belongs to its pipeline
        else:
            parts[name] = TEXT
    names = {b.name for b in m.fields if b.spec.direction == "both"}
    base = st.fixed_dictionaries(parts)
    if "stage" in names:
        base = st.tuples(base, st.sampled_from(catalog.stages)).map(
            lambda pair: {**pair[0], "pipeline": pair[1].pipeline, "stage": pair[1].name})
    return base.map(_nest)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key.startswith("custom."):
            out.setdefault("custom", {})[key[7:]] = value
        else:
            out[key] = value
    return out



