"""A record that fails mapping or the canonical schema is set aside with its reason; the rest continues."""

from __future__ import annotations

import copy

import pytest

from crmsync.mapping import Rejection

from .helpers import golden, golden_files, mapper


def _raw(crm: str, entity: str, name: str) -> dict:
    path = next(p for p in golden_files(crm, entity) if p.stem == name)
    return copy.deepcopy(golden(path)["raw"])


def test_an_invalid_email_sets_the_amocrm_contact_aside_naming_the_field() -> None:
    raw = _raw("amocrm", "contact", "messy_email")
    email = next(e for e in raw["custom_fields_values"] if e["field_code"] == "EMAIL")
    email["values"][0]["value"] = "not an address"
    with pytest.raises(Rejection) as caught:
        mapper("amocrm", "contact").pull(raw)
    assert caught.value.field == "emails"
    assert str(caught.value) == "emails: 'not an address' is not an e-mail address"


def test_an_unparseable_date_sets_the_bitrix24_deal_aside_naming_the_field() -> None:
    raw = _raw("bitrix24", "deal", "won")
    raw["DATE_MODIFY"] = "вчера"
    with pytest.raises(Rejection) as caught:
        mapper("bitrix24", "deal").pull(raw)
    assert caught.value.as_dict() == {"field": "updated_at", "reason": "'вчера' is not an ISO-8601 date-time",
                                      "direction": "pull"}


def test_a_bad_unix_timestamp_and_an_unknown_user_are_rejections_too() -> None:
    raw = _raw("amocrm", "task", "unattached")
    raw["complete_till"] = "soon"
    with pytest.raises(Rejection, match="due_at: 'soon' is not a Unix timestamp"):
        mapper("amocrm", "task").pull(raw)
    raw = _raw("amocrm", "task", "unattached")
    raw["responsible_user_id"] = 1
    with pytest.raises(Rejection, match="owner: user 1 is not among the CRM's users"):
        mapper("amocrm", "task").pull(raw)


def test_an_unknown_stage_or_option_is_set_aside_with_advice() -> None:
    raw = _raw("bitrix24", "deal", "won")
    raw["STAGE_ID"] = "C7:NOWHERE"
    with pytest.raises(Rejection, match="stage: stage 'C7:NOWHERE' of pipeline '0' is not among the CRM's stages"):
        mapper("bitrix24", "deal").pull(raw)
    raw = _raw("bitrix24", "contact", "selects_and_dates")
    raw["UF_CRM_1736400000100"] = "999"
    with pytest.raises(Rejection, match="custom.source: option '999' is not an option of 'Источник'; refresh"):
        mapper("bitrix24", "contact").pull(raw)


def test_one_bad_record_does_not_stop_the_rest() -> None:
    good = _raw("bitrix24", "contact", "messy_email")
    bad = copy.deepcopy(good)
    bad["EMAIL"][0]["VALUE"] = "@@"
    results = [r for _, r in mapper("bitrix24", "contact").pull_each([good, bad, good])]
    assert [type(r).__name__ for r in results] == ["Pulled", "Rejection", "Pulled"]
    assert results[1].field == "emails"


def test_an_odd_raw_shape_is_a_rejection_not_a_crash() -> None:
    raw = _raw("amocrm", "deal", "won")
    raw["_embedded"]["contacts"] = "21300034"
    with pytest.raises(Rejection) as caught:
        mapper("amocrm", "deal").pull(raw)
    assert caught.value.field == "contacts"


def test_push_rejects_values_the_crm_cannot_take() -> None:
    m = mapper("amocrm", "deal")
    record = m.pull(_raw("amocrm", "deal", "won"))
    with pytest.raises(Rejection) as caught:
        m.push({**record, "stage": "Nowhere"}, fields={"stage"})
    assert caught.value.direction == "push"
    assert str(caught.value).startswith("stage: 'Nowhere' is not a stage of pipeline 'Продажи' (known: ")
    with pytest.raises(Rejection, match=r"owner: 'nobody@example.com' is not the e-mail of a user of this CRM"):
        m.push({**record, "owner": "nobody@example.com"}, fields={"owner"})
    with pytest.raises(Rejection, match=r"custom.product: 'Gold' is not an option of 'Продукт' \(allowed: Basic"):
        m.push({**record, "custom": {**record["custom"], "product": "Gold"}}, fields={"custom"})


def test_push_checks_the_canonical_record_against_its_schema() -> None:
    m = mapper("bitrix24", "contact")
    record = m.pull(_raw("bitrix24", "contact", "messy_email"))
    with pytest.raises(Rejection) as caught:
        m.push({**record, "phones": [{"value": "+79161234567", "type": "cell"}]})
    assert caught.value.field == "phones[0].type"
    assert "'cell' is not one of" in caught.value.reason
