"""Golden cases: real raw records from the fake CRMs ⇄ the canonical records they must become."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import CRMS, ENTITIES, golden, golden_files, golden_id, mapper


@pytest.mark.parametrize("path", golden_files(), ids=golden_id)
def test_pull_gives_the_golden_canonical_record(path: Path) -> None:
    case = golden(path)
    crm, entity = path.parent.parent.name, path.parent.name
    result = mapper(crm, entity).pull_result(case["raw"])
    assert result.canonical == case["canonical"]
    assert result.notes == case.get("notes", [])


@pytest.mark.parametrize("crm", CRMS)
@pytest.mark.parametrize("entity", ENTITIES)
def test_every_entity_of_every_crm_has_several_golden_cases(crm: str, entity: str) -> None:
    assert len(golden_files(crm, entity)) >= 3
