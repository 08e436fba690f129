"""Modes of inheritance and onsets in the input: mapped in the account with their kind, carried by the case.

Real HPO terms and real phrasings of clinic letters; what the case carries reaches the likelihood-ratio
scorer's inheritance and onset factors (checked on Marfan syndrome, an autosomal dominant disorder).
"""

from __future__ import annotations

import json

from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.evaluation import likelihood_runner
from dxsearch.intake import CaseInput, FindingInput, PreparedCase, intake
from dxsearch.knowledge.context_lookup import get_context_lookup
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.pseudonym import Pseudonymiser

PSEUDONYMISER = Pseudonymiser("inheritance-test-key")
AUTOSOMAL_DOMINANT = "HP:0000006"
AUTOSOMAL_RECESSIVE = "HP:0000007"
SPORADIC = "HP:0003745"
CONGENITAL_ONSET = "HP:0003577"
INFANTILE_ONSET = "HP:0003593"
MARFAN = "OMIM:154700"
MARFAN_FINDINGS = ("HP:0000098", "HP:0001166", "HP:0001083", "HP:0002616")  # tall, arachnodactyly, lens, aorta


def read(payload: CaseInput) -> PreparedCase:
    return intake(payload, pseudonymiser=PSEUDONYMISER, fallback_id="test")


def stated(prepared: PreparedCase) -> list[tuple[str, str, str]]:
    """(id, kind, assertion) of the account's items that are not findings."""
    return [(m.hpo_id, m.kind, m.assertion) for m in prepared.account.mapped if m.kind != "finding"]


def test_autosomal_dominant_inheritance_in_a_note_is_in_the_account_and_the_case() -> None:
    note = "Tall stature and arachnodactyly. Autosomal dominant inheritance: the mother is affected too."
    prepared = read(CaseInput(text=note))
    assert stated(prepared) == [(AUTOSOMAL_DOMINANT, "inheritance", "present")]
    (item,) = [m for m in prepared.account.mapped if m.kind == "inheritance"]
    assert item.label == "Autosomal dominant inheritance"
    assert note[item.span[0] : item.span[1]] == "Autosomal dominant inheritance"  # type: ignore[index]
    assert prepared.case.inheritance == (AUTOSOMAL_DOMINANT,)
    assert AUTOSOMAL_DOMINANT not in {f.hpo_id for f in prepared.case.findings}  # not a finding to match
    assert not prepared.account.not_understood


def test_no_family_history_states_no_mode_of_inheritance() -> None:
    prepared = read(CaseInput(text="Seizures and hypotonia. No family history of similar problems."))
    assert stated(prepared) == []
    assert prepared.case.inheritance == () and prepared.case.onset is None


def test_denied_suspected_or_family_modes_stay_in_the_account_only() -> None:
    note = (
        "Arachnodactyly. Not autosomal recessive. Possibly X-linked. "
        "Family history of autosomal dominant polycystic kidney disease in the father."
    )
    prepared = read(CaseInput(text=note))
    assert stated(prepared) == [
        (AUTOSOMAL_RECESSIVE, "inheritance", "absent"),
        ("HP:0001417", "inheritance", "uncertain"),
        (AUTOSOMAL_DOMINANT, "inheritance", "family_history"),
    ]
    assert prepared.case.inheritance == ()


def test_a_de_novo_variant_is_sporadic_in_the_account_but_no_mode_for_the_scorer() -> None:
    """A de novo variant of a dominant disorder is a sporadic case: read as a mode it would weigh against
    every disease not annotated "Sporadic", so the case carries no mode."""
    prepared = read(CaseInput(text="Seizures. Exome sequencing found a de novo variant in SCN1A."))
    assert stated(prepared) == [(SPORADIC, "inheritance", "present")]
    assert prepared.case.inheritance == ()


def test_dominant_alone_is_no_mode_of_inheritance() -> None:
    prepared = read(CaseInput(text="Seizures. The EEG showed bifrontally dominant high-amplitude delta waves."))
    assert stated(prepared) == []


def test_the_earliest_onset_stated_is_the_cases_onset() -> None:
    prepared = read(CaseInput(text="Seizures since infancy. Hypotonia present since birth."))
    assert stated(prepared) == [(INFANTILE_ONSET, "onset", "present"), (CONGENITAL_ONSET, "onset", "present")]
    assert prepared.case.onset == CONGENITAL_ONSET


def test_a_findings_list_item_or_id_that_is_a_mode_is_carried_not_matched() -> None:
    prepared = read(
        CaseInput(
            findings=(
                FindingInput(label="Arachnodactyly"),
                FindingInput(label="Autosomal dominant inheritance"),
                FindingInput(label="HP:0003577"),
            )
        )
    )
    assert stated(prepared) == [(AUTOSOMAL_DOMINANT, "inheritance", "present"), (CONGENITAL_ONSET, "onset", "present")]
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0001166"]
    assert (prepared.case.inheritance, prepared.case.onset) == ((AUTOSOMAL_DOMINANT,), CONGENITAL_ONSET)
    assert not prepared.account.not_understood


def test_a_bundle_observation_coded_as_a_mode_is_carried_by_the_case() -> None:
    hpo = "http://purl.obolibrary.org/obo/hp.owl"

    def observation(code: str) -> dict[str, object]:
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": hpo, "code": code}]},
            "subject": {"reference": "Patient/p1"},
        }

    entries = [{"resourceType": "Patient", "id": "p1"}, observation("HP:0001166"), observation(AUTOSOMAL_DOMINANT)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries]}
    prepared = read(CaseInput(bundle=json.dumps(bundle).encode()))
    assert prepared.case.inheritance == (AUTOSOMAL_DOMINANT,)
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0001166"]
    assert ("entry[2].resource", "inheritance") in {(m.path, m.kind) for m in prepared.account.mapped}


def test_the_case_inheritance_reaches_the_likelihood_ratio_scorer() -> None:
    """Marfan findings: the two FBN1 disorders lead, both autosomal dominant, and "Marfanoid habitus with
    situs inversus" (OMIM:609008, annotated Sporadic only) follows; once the case says autosomal dominant,
    the leaders gain the probability the third loses."""
    run = likelihood_runner(get_hpo_knowledge())
    findings = tuple(Finding(label=t, hpo_id=t) for t in MARFAN_FINDINGS)

    def ranked(inheritance: tuple[str, ...]) -> tuple[list[str | None], float]:
        case = Case(case_id="c", findings=findings, inheritance=inheritance)
        answer = run(LabelledCase(case=case, gold=GoldDiagnosis(id=MARFAN, label="Marfan syndrome")))
        assert answer.confidence is not None
        return list(answer.codes[:3]), answer.confidence

    unstated, before = ranked(())
    dominant, after = ranked((AUTOSOMAL_DOMINANT,))
    assert set(unstated[:2]) == set(dominant[:2]) == {MARFAN, "OMIM:616914"}
    assert unstated[2] == "OMIM:609008"
    assert after > before + 0.05


def test_the_context_dictionary_holds_no_one_word_synonym_and_no_root() -> None:
    lookup = get_context_lookup()
    assert lookup.lookup("Inheritance") is None and lookup.lookup("mitochondrial") is None
    assert lookup.lookup("Mode of inheritance") is None and lookup.lookup("Age of onset") is None
    assert lookup.lookup("uniparental disomy") is None  # a test result, not a mode
    assert lookup.lookup("autosomal recessive") == AUTOSOMAL_RECESSIVE
    assert lookup.lookup("Mitochondrial inheritance") == "HP:0001427"


CHILDHOOD_ONSET = "HP:0011463"
JUVENILE_ONSET = "HP:0003621"


def onsets(note: str) -> list[tuple[str, str, str, bool]]:
    """(id, words, assertion, from a value) of the onsets the account holds for ``note``."""
    prepared = read(CaseInput(text=note))
    return [
        (m.hpo_id, note[m.span[0] : m.span[1]], m.assertion, m.from_value)
        for m in prepared.account.mapped
        if m.kind == "onset" and m.span is not None
    ]


def test_an_onset_stated_by_an_age_names_its_hpo_onset_class() -> None:
    assert onsets("Seizure onset at 3 months.") == [(INFANTILE_ONSET, "onset at 3 months", "present", True)]
    # the finding's words stay the finding's: the onset is the age
    assert onsets("She developed seizures at the age of 2 years.") == [
        (CHILDHOOD_ONSET, "at the age of 2 years", "present", True)
    ]
    assert onsets("Weakness since the age of 12; no seizures.") == [
        (JUVENILE_ONSET, "since the age of 12", "present", True)
    ]
    assert read(CaseInput(text="Hypotonia. First seizure at 9 months of age.")).case.onset == INFANTILE_ONSET


def test_a_period_after_a_word_of_beginning_is_an_onset() -> None:
    assert [o[0] for o in onsets("Hypotonia. Symptoms began in infancy.")] == [INFANTILE_ONSET]
    assert [o[0] for o in onsets("Onset in early childhood with ataxia.")] == [CHILDHOOD_ONSET]
    assert [o[0] for o in onsets("Hypotonia was noted at birth.")] == [CONGENITAL_ONSET]


def test_a_milestone_a_visit_or_a_relative_gives_no_onset_of_the_patient() -> None:
    assert onsets("Hypotonia. He started saying words at 2 years. He developed independent walking at 18 months.") == []
    assert onsets("First seen in clinic at 5 years with hypotonia.") == []
    prepared = read(CaseInput(text="Hypotonia. His brother's seizures began at 2 years."))
    assert [(m.hpo_id, m.assertion) for m in prepared.account.mapped if m.kind == "onset"] == [
        (CHILDHOOD_ONSET, "family_history")
    ]
    assert prepared.case.onset is None


def test_school_a_treatment_or_normal_development_gives_no_onset() -> None:
    note = "Hypotonia. He started school at 4 years. Started levetiracetam at 2 years. On melatonin since age 3."
    assert onsets(note) == []
    # Stop 30 left "none since age 2" read as a childhood onset: it is when they ended.
    for ended in (
        "He had seizures as a baby but none since age 2.",
        "Seizure-free since age 5.",
        "Seizures stopped; no more since age 3.",
    ):
        assert onsets(ended) == [], ended
    assert [o[0] for o in onsets("Seizures since age 2.")] == [CHILDHOOD_ONSET]
    # A negation of something else in the clause is no end (a code review): "no aura" is the migraine's kind.
    assert [o[0] for o in onsets("Migraine with no aura since age 10.")] == ["HP:0003621"]  # Juvenile onset
    assert onsets("Seizures. First seizure: 6 months.") == [(INFANTILE_ONSET, "6 months", "present", True)]
