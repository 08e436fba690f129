"""The intake refuses a case with no observed finding, saying what it did read (real HPO data and readers)."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, IntakeError, NoFindingsError, intake
from dxsearch.pseudonym import Pseudonymiser

PSEUDONYMS = Pseudonymiser("reading-test-pseudonym-key")


def _refusal(payload: CaseInput) -> str:
    with pytest.raises(NoFindingsError) as refused:
        intake(payload, pseudonymiser=PSEUDONYMS, fallback_id="t")
    return str(refused.value)


def test_a_note_of_negations_is_refused_as_findings_named_only_as_absent() -> None:
    message = _refusal(CaseInput(text="No seizures. No microcephaly."))
    assert message == "the text names findings only as absent (2): name at least one observed finding"


def test_a_note_of_possibilities_and_relatives_findings_is_refused_saying_so() -> None:
    message = _refusal(CaseInput(text="His mother has ptosis. Possible scoliosis. Retinitis pigmentosa is unlikely."))
    assert message == (
        "the text names findings only as uncertain (2) or a relative's (1): name at least one observed finding"
    )


def test_a_note_without_any_finding_is_refused_as_nothing_recognised() -> None:
    message = _refusal(CaseInput(text="Seen today, feeling well."))
    assert message == "no findings recognised in the text: name at least one observed finding"


def test_a_findings_list_of_absent_findings_keeps_its_message() -> None:
    message = _refusal(CaseInput(findings=(FindingInput(label="Seizure", excluded=True),)))
    assert message == "the case has no observed finding: give at least one finding that is present"


def test_one_observed_finding_among_negations_is_enough() -> None:
    prepared = intake(CaseInput(text="No seizures. Microcephaly."), pseudonymiser=PSEUDONYMS, fallback_id="t")
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings] == [("HP:0001250", True), ("HP:0000252", False)]


@pytest.mark.parametrize(
    ("first", "second", "said"),
    [
        ("HP:0000404", "HP:0000365", "findings[0] 'HP:0000404' (present) and findings[1] 'HP:0000365' (excluded)"),
        ("Seizures", "Epilepsy", "findings[0] 'Seizures' (present) and findings[1] 'Epilepsy' (excluded)"),
    ],
)
def test_a_findings_list_entering_one_finding_present_and_excluded_is_refused(
    first: str, second: str, said: str
) -> None:
    """An alternative id and its term, or two synonyms: the case would otherwise keep one in silence."""
    payload = CaseInput(findings=(FindingInput(label=first), FindingInput(label=second, excluded=True)))
    with pytest.raises(IntakeError) as refused:
        intake(payload, pseudonymiser=PSEUDONYMS, fallback_id="t")
    assert str(refused.value).startswith(said) and refused.value.status == 422
    # A note may say both ("no seizures at first; seizures from age 3"): read, the present mention wins.
    note = intake(
        CaseInput(text="No seizures at first; seizures from age 3."), pseudonymiser=PSEUDONYMS, fallback_id="t"
    )
    assert [(f.hpo_id, f.excluded) for f in note.case.findings] == [("HP:0001250", False)]
