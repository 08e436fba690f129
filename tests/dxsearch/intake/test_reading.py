"""The intake refuses a case with no observed finding, saying what it did read (real HPO data and readers)."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, NoFindingsError, intake
from dxsearch.pseudonym import Pseudonymiser

PSEUDONYMS = Pseudonymiser("reading-test-pseudonym-key")


def _refusal(payload: CaseInput) -> str:
    with pytest.raises(NoFindingsError) as refused:
        intake(payload, pseudonymiser=PSEUDONYMS, fallback_id="t")
    return str(refused.value)


def test_a_note_of_negations_is_refused_as_findings_named_only_as_absent() -> None:
    message = _refusal(CaseInput(text="No seizures. No microcephaly."))
    assert message == "the text names findings only as absent (2): name at least one observed finding"


def test_a_note_without_any_finding_is_refused_as_nothing_recognised() -> None:
    message = _refusal(CaseInput(text="Seen today, feeling well."))
    assert message == "no findings recognised in the text: name at least one observed finding"


def test_a_findings_list_of_absent_findings_keeps_its_message() -> None:
    message = _refusal(CaseInput(findings=(FindingInput(label="Seizure", excluded=True),)))
    assert message == "the case has no observed finding: give at least one finding that is present"


def test_one_observed_finding_among_negations_is_enough() -> None:
    prepared = intake(CaseInput(text="No seizures. Microcephaly."), pseudonymiser=PSEUDONYMS, fallback_id="t")
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings] == [("HP:0001250", True), ("HP:0000252", False)]
