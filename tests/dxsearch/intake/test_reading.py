"""The intake refuses a case with no observed finding, saying what it did read (real HPO data and readers)."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, IntakeError, NoFindingsError, PreparedCase, intake
from dxsearch.intake.account import NO_TERM, OF_A_RELATIVE
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


def test_a_note_in_which_nothing_was_understood_is_a_case_without_findings_not_a_refusal() -> None:
    """The policies answer it "insufficient evidence" with a reason, audited, as a findings list nobody can read."""
    text = "Seen today, feeling well. 14-year-old boy."
    prepared = intake(CaseInput(text=text), pseudonymiser=PSEUDONYMS, fallback_id="t")
    assert prepared.case.findings == () and prepared.case.text == text
    assert (prepared.case.age, prepared.case.sex) == ("P14Y", "male")
    assert [text[n.span[0] : n.span[1]] for n in prepared.account.not_understood if n.span] == [
        "Seen today",
        "feeling well",
    ]


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


def test_a_relatives_diagnosis_is_accounted_for_as_said_of_a_relative() -> None:
    """ "Father has NF1" was "no HPO term matches these words": a relative's diagnosis, no finding of the patient's,
    and none is made up from it."""
    text = "Father has NF1. Mother has Marfan syndrome.\nFamily history:\nNF1 in paternal aunt\n\nSeizures. Xyzzy."
    prepared = intake(CaseInput(text=text), pseudonymiser=PSEUDONYMS, fallback_id="t")
    reasons = {text[n.span[0] : n.span[1]]: n.reason for n in prepared.account.not_understood if n.span is not None}
    assert reasons == {
        "Father has NF1": OF_A_RELATIVE,
        "Mother has Marfan syndrome": OF_A_RELATIVE,
        "Family history:": OF_A_RELATIVE,
        "NF1 in paternal aunt": OF_A_RELATIVE,
        "Xyzzy": NO_TERM,  # words of the patient's that name nothing stay not understood
    }
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0001250"]
    assert [m.hpo_id for m in prepared.account.mapped] == ["HP:0001250"]


def test_a_note_naming_only_a_relatives_diagnosis_is_refused_as_a_relatives() -> None:
    message = _refusal(CaseInput(text="Father has NF1."))
    assert message == "the text names findings only as a relative's (1): name at least one observed finding"


def test_hedges_free_of_and_past_history_reach_the_account_as_read() -> None:
    """The user test's notes through the whole intake (second reader included): none is a present finding."""
    text = (
        "r/o optic glioma. Likely hepatomegaly. Seizures vs syncope. Seizure free for 2 years on valproate. "
        "Pain-free. PMH: asthma, eczema\nPrior VSD closure. PDA ligated. ID badge checked. Tall stature."
    )
    prepared = intake(CaseInput(text=text), pseudonymiser=PSEUDONYMS, fallback_id="t")
    said = {(m.hpo_id, m.assertion) for m in prepared.account.mapped}
    assert said == {
        ("HP:0009734", "uncertain"),  # Optic nerve glioma
        ("HP:0002240", "uncertain"),  # Hepatomegaly
        ("HP:0001279", "uncertain"),  # Syncope
        ("HP:0001250", "uncertain"),  # Seizure (also historical: the patient's history wins in the case)
        ("HP:0001250", "historical"),
        ("HP:0012531", "absent"),  # Pain
        ("HP:0002099", "historical"),  # Asthma
        ("HP:0000964", "historical"),  # Eczema
        ("HP:0001629", "historical"),  # Ventricular septal defect
        ("HP:0001643", "historical"),  # Patent ductus arteriosus
        ("HP:0000098", "present"),  # Tall stature
    }
    observed = {f.hpo_id for f in prepared.case.findings if not f.excluded}
    assert observed == {"HP:0001250", "HP:0002099", "HP:0000964", "HP:0001629", "HP:0001643", "HP:0000098"}


def _read(**fields: object) -> tuple[PreparedCase, list[tuple[str, str | None, str]]]:
    """The case of ``fields`` and its account's not-understood entries as (path, words at their span, reason)."""
    prepared = intake(CaseInput.model_validate(fields), pseudonymiser=PSEUDONYMS, fallback_id="t")
    text = str(fields.get("text") or "")
    entries = [
        (n.path, text[n.span[0] : n.span[1]] if n.path == "text" and n.span else n.given, n.reason)
        for n in prepared.account.not_understood
    ]
    return prepared, entries


def test_an_age_no_one_can_be_is_listed_as_not_used_with_its_reason() -> None:
    """A user test: "200-year-old man" lost the age in silence (the API refuses such an age given as a field)."""
    prepared, entries = _read(text="200-year-old man with seizures")
    assert prepared.case.age is None and prepared.account.age_from is None
    reason = "age 200 years is not plausible (more than 130 years)"
    assert ("text", "200-year-old", reason) in entries
    # in a findings list too: it was kept as a finding of words naming no term
    prepared, entries = _read(findings=[{"label": "200-year-old man"}, {"label": "Seizure"}])
    assert entries == [("findings[0]", "200-year-old man", reason)]
    assert [f.label for f in prepared.case.findings] == ["Seizure"]


def test_a_sex_given_that_the_note_contradicts_wins_and_the_account_says_so() -> None:
    """A user test: "Newborn girl" sent with sex male took the field's sex with no word of the note's."""
    prepared, entries = _read(text="Newborn girl with seizures", sex="male")
    case, account = prepared.case, prepared.account
    assert (case.sex, account.sex_from) == ("male", "given")
    assert entries == [("text", "girl", "the note says female; the sex given (male) is used")]
    assert [n.category for n in account.not_understood] == ["not_understood"]


@pytest.mark.parametrize(
    ("text", "age", "said"),
    [
        (
            "Newborn girl with seizures",
            "P2Y",
            ("text", "Newborn", "the note says age P0D; the age given (P2Y) is used"),
        ),
        (
            "14-year-old boy with seizures",
            "P15Y",
            ("text", "14-year-old", "the note says age P14Y; the age given (P15Y) is used"),
        ),
        ("14-year-old boy with seizures", "P14Y6M", None),  # within the note's year: the same age, more precisely
        ("Newborn girl with seizures", "P5D", None),  # a newborn is up to 28 days old
    ],
)
def test_an_age_given_that_the_note_contradicts_wins_and_the_account_says_so(
    text: str, age: str, said: tuple[str, str, str] | None
) -> None:
    prepared, entries = _read(text=text, age=age)
    assert prepared.case.age == age
    assert entries == ([said] if said else [])


def test_a_note_that_agrees_with_the_fields_adds_nothing_and_pronouns_say_where_the_sex_came_from() -> None:
    _, entries = _read(text="Newborn girl with seizures", sex="female", age="P3D")
    assert entries == []
    prepared, _ = _read(text="He has seizures. His gait is ataxic.")
    assert (prepared.account.sex, prepared.account.sex_from) == ("male", "text")
    _, entries = _read(text="He has seizures. His gait is ataxic.", sex="female")
    assert entries == [("text", None, "the note says male; the sex given (female) is used")]
