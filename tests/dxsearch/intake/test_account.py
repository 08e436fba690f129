"""The intake's account of its input, on the real HPO dictionary: every item mapped or not understood."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest

from dxsearch.cases import duration_years
from dxsearch.intake import CaseInput, FindingInput, IntakeError, PreparedCase, intake
from dxsearch.intake.account import (
    DENIED_OF_A_RELATIVE,
    ENTRY_CATEGORIES,
    NO_LOINC_DIRECTION_TERM,
    NO_LOINC_MAPPING,
    NO_TERM,
    NOT_A_FINDING,
    OBSOLETE_KEPT,
    OBSOLETE_READ_BY_WORDS,
    OBSOLETE_REPLACED,
    OF_A_RELATIVE,
    UNDERSTOOD_NOT_A_FINDING,
    UNKNOWN_ID,
    EntryCategory,
    InputAccount,
    NotUnderstood,
    read_text,
    segments,
    understood_not_a_finding,
)
from dxsearch.intake.directions import measured
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser
from tests.support import fhir_bundle, fhir_condition

PSEUDONYMISER = Pseudonymiser("account-test-key")
ARACHNODACTYLY = "HP:0001166"
SEIZURE = "HP:0001250"
INFANTILE_ONSET = "HP:0003593"


def read(payload: CaseInput) -> PreparedCase:
    return intake(payload, pseudonymiser=PSEUDONYMISER, fallback_id="test")


def _but_the_patient(account: InputAccount) -> list[NotUnderstood]:
    """A bundle account's listed entries but the Patient's (``entry[0]``, read for sex and age, always listed)."""
    return [n for n in account.not_understood if n.path != "entry[0].resource"]


def test_findings_list_items_are_mapped_or_listed_as_not_understood() -> None:
    prepared = read(
        CaseInput(
            findings=(
                FindingInput(label="Spider fingers"),
                FindingInput(label="flibbertigibbet wombles"),
                FindingInput(label="Seizures", excluded=True),
                FindingInput(label="HP:0000098"),
            )
        )
    )
    account = prepared.account
    assert account.source == "findings"
    by_path = {m.path: m for m in account.mapped}
    assert by_path["findings[0]"].hpo_id == ARACHNODACTYLY
    assert by_path["findings[0]"].label == "Arachnodactyly"  # the term's name
    assert by_path["findings[0]"].given == "Spider fingers"
    assert by_path["findings[0]"].span == (0, len("Spider fingers"))
    assert by_path["findings[2]"].assertion == "absent"
    assert by_path["findings[3]"].hpo_id == "HP:0000098" and by_path["findings[3]"].given == "Tall stature"
    (missed,) = account.not_understood
    assert missed.path == "findings[1]" and missed.given == "flibbertigibbet wombles" and missed.reason == NO_TERM
    # The unmapped finding is still a finding (its words can still be searched), never dropped.
    labels = [(f.label, f.hpo_id) for f in prepared.case.findings]
    assert ("flibbertigibbet wombles", None) in labels
    assert account.items == 4


def test_a_label_holding_a_term_among_other_words_is_mapped_with_its_span() -> None:
    prepared = read(CaseInput(findings=(FindingInput(label="seizures since infancy"),)))
    seizures, since_infancy = prepared.account.mapped
    assert seizures.hpo_id == SEIZURE and seizures.span == (0, len("seizures")) and seizures.kind == "finding"
    # "since infancy" is the onset, mapped with its kind and carried by the case, not a finding.
    assert since_infancy.hpo_id == INFANTILE_ONSET and since_infancy.kind == "onset"
    assert since_infancy.span == (len("seizures "), len("seizures since infancy"))
    assert prepared.case.findings[0].label == "seizures since infancy"  # the caller's words are kept
    assert [f.hpo_id for f in prepared.case.findings] == [SEIZURE]
    assert prepared.case.onset == INFANTILE_ONSET
    assert not prepared.account.not_understood


def test_note_mentions_keep_spans_and_assertions_and_no_words_of_the_note() -> None:
    note = "Arachnodactyly and scoliosis. No seizures. Family history of hypotonia. Seen at the clinic on Tuesday."
    prepared = read(CaseInput(text=note))
    account = prepared.account
    assert account.source == "text"
    spans = {m.hpo_id: m for m in account.mapped}
    mention = spans[ARACHNODACTYLY]
    assert mention.span is not None and note[mention.span[0] : mention.span[1]] == "Arachnodactyly"
    assert spans[SEIZURE].assertion == "absent"
    assert spans["HP:0001252"].assertion == "family_history"
    # The family's hypotonia is in the account, not among the patient's findings.
    assert "HP:0001252" not in {f.hpo_id for f in prepared.case.findings}
    (missed,) = account.not_understood
    assert missed.span is not None and note[missed.span[0] : missed.span[1]] == "Seen at the clinic on Tuesday"
    assert missed.given is None
    dumped = account.model_dump_json()
    assert "Tuesday" not in dumped and "clinic" not in dumped and "scoliosis" not in dumped


def test_segments_are_lines_sentences_and_list_items() -> None:
    text = "Tall stature, arachnodactyly; lens dislocation.\n- aortic root dilatation\n14"
    assert [text[a:b] for a, b in segments(text)] == [
        "Tall stature",
        "arachnodactyly",
        "lens dislocation",
        "- aortic root dilatation",
    ]


def test_bundle_conditions_are_listed_not_dropped() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "p1", "gender": "male"}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {
                        "coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl", "code": ARACHNODACTYLY}],
                        "text": "Arachnodactyly",
                    },
                    "subject": {"reference": "Patient/p1"},
                }
            },
            {
                "resource": {
                    "resourceType": "Condition",
                    "code": {"text": "Marfan syndrome"},
                    "subject": {"reference": "Patient/p1"},
                }
            },
        ],
    }
    prepared = read(CaseInput(bundle=json.dumps(bundle).encode()))
    account = prepared.account
    assert [m.hpo_id for m in account.mapped] == [ARACHNODACTYLY]
    assert account.mapped[0].path == "entry[1].resource"  # the Bundle entry it came from
    assert [(n.given, n.reason) for n in _but_the_patient(account)] == [("Marfan syndrome", NOT_A_FINDING)]
    assert account.sex == "male" and account.sex_from == "bundle"


def _observation(code: str, text: str | None) -> dict[str, object]:
    concept: dict[str, object] = {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl", "code": code}]}
    if text is not None:
        concept["text"] = text
    return {"resourceType": "Observation", "status": "final", "code": concept, "subject": {"reference": "Patient/p"}}


def test_an_alternative_hpo_id_reads_as_the_term_it_was_merged_into() -> None:
    # HP:0000404 ("Deafness") was merged into HP:0000365, Hearing impairment; older records still carry it.
    listed = read(
        CaseInput(findings=(FindingInput(label="HP:0000404"), FindingInput(label="Neurofibromas", hpo_id="HP:0006746")))
    )
    assert [(m.hpo_id, m.label) for m in listed.account.mapped] == [
        ("HP:0000365", "Hearing impairment"),
        ("HP:0001067", "Neurofibroma"),
    ]
    assert [f.hpo_id for f in listed.case.findings] == ["HP:0000365", "HP:0001067"]
    resources = [
        {"resourceType": "Patient", "id": "p"},
        _observation("HP:0000404", None),
        _observation("HP:9999999", "blue ears"),
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    account = read(CaseInput(bundle=json.dumps(bundle).encode())).account
    assert [(m.path, m.hpo_id) for m in account.mapped] == [("entry[1].resource", "HP:0000365")]
    # An HPO code no release knows is not passed on as a term: the item is read by its words, and said unknown.
    assert [(n.path, n.given, n.reason) for n in _but_the_patient(account)] == [
        ("entry[2].resource", "blue ears", UNKNOWN_ID.format(term_id="HP:9999999"))
    ]


def test_a_bundle_saying_a_finding_both_ways_keeps_it_present_and_both_in_the_account() -> None:
    """An EHR's Observation "absent" at one visit and "present" at another: present wins, as in a note; the absent
    statement is listed with the contradiction (the FHIR reader's one rule, the index's too)."""
    negative = {**_observation(ARACHNODACTYLY, "Arachnodactyly"), "valueBoolean": False}
    resources = [{"resourceType": "Patient", "id": "p"}, negative, _observation(ARACHNODACTYLY, "Arachnodactyly")]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    prepared = read(CaseInput(bundle=json.dumps(bundle).encode()))
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings] == [(ARACHNODACTYLY, False)]
    assert [(m.path, m.assertion) for m in prepared.account.mapped] == [("entry[2].resource", "present")]
    assert [(n.path, n.reason.split(";")[0]) for n in _but_the_patient(prepared.account)] == [
        ("entry[1].resource", "says Arachnodactyly (HP:0001166) is absent: contradicts entry[2], which says present")
    ]


def test_a_findings_item_holding_a_list_is_read_item_by_item() -> None:
    label = "tall stature, arachnodactyly; lens dislocation\n- wibbly wobbles"
    prepared = read(CaseInput(findings=(FindingInput(label=label),)))
    account = prepared.account
    assert [(label[m.span[0] : m.span[1]], m.hpo_id) for m in account.mapped if m.span] == [
        ("tall stature", "HP:0000098"),
        ("arachnodactyly", ARACHNODACTYLY),
        ("lens dislocation", "HP:0001083"),
    ]
    (missed,) = account.not_understood
    assert missed.span is not None and label[missed.span[0] : missed.span[1]] == "wibbly wobbles"
    assert [f.label for f in prepared.case.findings] == [
        "tall stature",
        "arachnodactyly",
        "lens dislocation",
        "wibbly wobbles",
    ]


def test_a_term_holding_a_comma_is_not_split() -> None:
    label = "Long, slender fingers; scoliosis"
    prepared = read(CaseInput(findings=(FindingInput(label=label),)))
    assert [(label[m.span[0] : m.span[1]], m.hpo_id) for m in prepared.account.mapped if m.span] == [
        ("Long, slender fingers", ARACHNODACTYLY),
        ("scoliosis", "HP:0002650"),
    ]


def test_age_and_sex_from_text_fill_the_case_unless_given() -> None:
    note = "14-year-old boy, tall stature, arachnodactyly"
    prepared = read(CaseInput(text=note))
    assert (prepared.case.age, prepared.case.sex) == ("P14Y", "male")
    account = prepared.account
    assert (account.age_from, account.sex_from) == ("text", "text")
    assert account.age_span == (0, 11) and account.sex_span == (12, 15)
    assert not account.not_understood  # the demographic segment is accounted for
    given = read(CaseInput(text=note, age="P15Y", sex="female"))
    assert (given.case.age, given.case.sex) == ("P15Y", "female")
    assert (given.account.age_from, given.account.sex_from) == ("given", "given")


def test_a_findings_item_that_is_an_age_and_sex_gives_the_demographics() -> None:
    prepared = read(CaseInput(findings=(FindingInput(label="14 yo M"), FindingInput(label="Arachnodactyly"))))
    assert (prepared.case.age, prepared.case.sex) == ("P14Y", "male")
    assert prepared.account.age_from == "findings[0]"
    assert [f.hpo_id for f in prepared.case.findings] == [ARACHNODACTYLY]
    assert not prepared.account.not_understood


def test_the_marfan_notes() -> None:
    note = "14-year-old boy, tall stature, arachnodactyly, lens dislocation, aortic root dilatation"
    prepared = read(CaseInput(text=note))
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0000098", ARACHNODACTYLY, "HP:0001083", "HP:0002616"]
    assert (prepared.case.sex, prepared.case.age) == ("male", "P14Y")
    assert not prepared.account.not_understood  # all five items: four findings, one age and sex
    realistic = "14 yo M. Marfanoid habitus, dislocated lenses bilaterally, dilated aortic root on echo"
    prepared = read(CaseInput(text=realistic))
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0001519", "HP:0001083", "HP:0002616"]
    assert (prepared.case.sex, prepared.case.age) == ("male", "P14Y")
    assert not prepared.account.not_understood


def test_findings_mode_maps_a_broad_synonym_and_a_modified_term() -> None:
    prepared = read(
        CaseInput(findings=(FindingInput(label="Aortic root dilatation"), FindingInput(label="marked hypotonia")))
    )
    assert [m.hpo_id for m in prepared.account.mapped] == ["HP:0002616", "HP:0001252"]
    assert prepared.account.mapped[1].span == (7, 16)
    assert not prepared.account.not_understood


def test_an_ehr_bundle_maps_codes_through_hpo_cross_references() -> None:
    """Patient, Conditions (SNOMED CT, ICD-10), Observations (HPO, SNOMED CT, LOINC with interpretation)."""
    bundle = (Path(__file__).parent / "data" / "ehr-bundle.json").read_bytes()
    prepared = read(CaseInput(bundle=bundle))
    case, account = prepared.case, prepared.account
    assert (case.sex, case.age) == ("male", "P14Y")  # gender; birthDate at the latest clinical date
    assert [(f.label, f.hpo_id) for f in case.observed] == [
        ("Arachnodactyly", ARACHNODACTYLY),  # coded in HPO
        ("Dislocation of lens", "HP:0001083"),  # SNOMED CT 74969002 -> Ectopia lentis (hp.obo xref)
        ("Body height: 185 cm (high)", "HP:0000098"),  # LOINC 8302-2, H: "increased body height", Tall stature
        ("Creatinine [Mass/volume] in Serum or Plasma: 2.1 mg/dL (high)", "HP:0003259"),  # elevated circulating ...
        # LOINC 2345-7, H: Hyperglycemia (``LOINC_TERMS``: HPO has no "elevated circulating glucose concentration")
        ("Glucose [Mass/volume] in Serum or Plasma: 210 mg/dL (high)", "HP:0003074"),
        ("Scoliosis", "HP:0002650"),  # a Condition coded in SNOMED CT as a phenotype is a finding
    ]
    by_path = {m.path: m for m in account.mapped}
    assert by_path["entry[4].resource"].label == "Ectopia lentis"
    assert by_path["entry[5].resource"].label == "Tall stature"
    assert by_path["entry[10].resource"].label == "Elevated circulating creatinine concentration"
    assert by_path["entry[11].resource"].label == "Hyperglycemia"
    # entry[6], valueBoolean false, SNOMED CT of Arachnodactyly: read through hp.obo, and it contradicts entry[3]
    contradicted = next(n for n in account.not_understood if n.path == "entry[6].resource")
    assert "(HP:0001166) is absent: contradicts entry[3], which says present; kept: present" in contradicted.reason
    assert [(n.path, n.reason) for n in _but_the_patient(account) if n is not contradicted] == [
        ("entry[2].resource", NOT_A_FINDING),  # ICD-10 Q87.4 Marfan syndrome: history, not a finding
        ("entry[7].resource", "Encounter: not read (only Patient, Observation, Condition)"),
        ("entry[8].resource", "Observation with status entered-in-error: not read"),
        ("entry[9].resource", "repeats the finding of entry[3]: counted once"),
    ]


def _lab(code: str, name: str, interpretation: dict[str, object] | None) -> dict[str, object]:
    observation: dict[str, object] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": name}]},
        "valueQuantity": {"value": 1, "unit": "x"},
        "subject": {"reference": "Patient/p"},
    }
    if interpretation is not None:
        observation["interpretation"] = [interpretation]
    return observation


def test_loinc_interpretations_low_and_abnormal_by_code_or_words_and_none_at_all() -> None:
    v3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
    resources = [
        {"resourceType": "Patient", "id": "p"},
        _lab("718-7", "Hemoglobin [Mass/volume] in Blood", {"coding": [{"system": v3, "code": "LL"}]}),
        _lab("2951-2", "Sodium [Moles/volume] in Serum or Plasma", {"text": "Low"}),
        _lab("8867-4", "Heart rate", {"coding": [{"system": v3, "code": "H"}]}),
        _lab("29463-7", "Body weight", None),
    ]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    account = read(CaseInput(bundle=json.dumps(bundle).encode())).account
    assert {m.path: m.label for m in account.mapped} == {
        "entry[1].resource": "Decreased hemoglobin concentration",
        "entry[2].resource": "Hyponatremia",
        "entry[3].resource": "Tachycardia",
    }
    assert [(n.path, n.reason) for n in _but_the_patient(account)] == [("entry[4].resource", NO_LOINC_MAPPING)]


def test_what_a_loinc_name_measures() -> None:
    assert measured("Creatinine [Mass/volume] in Serum or Plasma") == "creatinine"
    assert measured("Platelets [#/volume] in Blood by Automated count") == "platelets"
    assert measured("Body height") == "body height"
    # The reason names what was measured and how it was off, never a phrase HPO does not use.
    said = NO_LOINC_DIRECTION_TERM.format(measurement=measured("Chest circumference"), direction="low")
    assert said.startswith("a LOINC-coded measurement of chest circumference, low: ") and "concentration" not in said


def _bundle(*resources: dict[str, object], birth_date: str | None = None, timestamp: str | None = None) -> bytes:
    return json.dumps(fhir_bundle(*resources, birth_date=birth_date, timestamp=timestamp)).encode()


def test_what_a_bundle_does_not_say_is_present_is_not_read_as_present() -> None:
    """Unknown, unconfirmed and normal are not "present": each is in the account, none is an observed finding."""
    unknown = {
        **_observation(SEIZURE, "Seizure"),
        "dataAbsentReason": {"coding": [{"code": "asked-unknown"}]},
    }
    normal = {**_observation("HP:0000252", "Microcephaly"), "interpretation": [{"coding": [{"code": "N"}]}]}
    not_observed = {**_observation("HP:0000316", None), "valueCodeableConcept": {"text": "Not observed"}}
    said_no = {**_observation("HP:0000175", None), "valueString": "absent"}
    glucose = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7", "display": "Glucose"}]},
        "valueQuantity": {"value": 5.1, "unit": "mmol/L"},
        "interpretation": [{"coding": [{"code": "N"}]}],
        "subject": {"reference": "Patient/p"},
    }
    resources = [
        _observation(ARACHNODACTYLY, "Arachnodactyly"),
        unknown,
        normal,
        not_observed,
        said_no,
        glucose,
        fhir_condition("HP:0001263", verification="provisional"),
        fhir_condition("HP:0002650", clinical="resolved"),
        fhir_condition("HP:0000098", verification="refuted"),
    ]
    prepared = read(CaseInput(bundle=_bundle(*resources)))
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings] == [
        (ARACHNODACTYLY, False),
        ("HP:0000252", True),
        ("HP:0000316", True),
        ("HP:0000175", True),
        ("HP:0002650", False),  # Scoliosis, resolved: the patient's history
        ("HP:0000098", True),
    ]
    said = {m.path: (m.hpo_id, m.assertion) for m in prepared.account.mapped}
    assert said["entry[7].resource"] == ("HP:0001263", "uncertain")  # provisional: kept in the account only
    assert said["entry[8].resource"] == ("HP:0002650", "historical")
    reasons = {n.path: n.reason for n in prepared.account.not_understood}
    assert reasons["entry[2].resource"] == "Observation with no value (dataAbsentReason: asked-unknown): not read"
    assert reasons["entry[6].resource"] == "Glucose: a normal result, no finding"


def test_a_panel_is_read_by_its_components() -> None:
    """An exam panel or a blood pressure panel says its findings in ``component``; each is read on its own path."""
    bp_system = "http://loinc.org"
    panel = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": bp_system, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": {"reference": "Patient/p"},
        "component": [
            {
                "code": {"coding": [{"system": bp_system, "code": "8480-6", "display": "Systolic blood pressure"}]},
                "valueQuantity": {"value": 180, "unit": "mm[Hg]"},
                "interpretation": [{"coding": [{"code": "H"}]}],
            },
            {
                "code": {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl", "code": "HP:0000175"}]},
                "valueBoolean": False,
            },
            {
                "code": {"coding": [{"system": bp_system, "code": "8462-4", "display": "Diastolic blood pressure"}]},
                "valueQuantity": {"value": 70, "unit": "mm[Hg]"},
                "interpretation": [{"coding": [{"code": "N"}]}],
            },
        ],
    }
    # An HPO finding with components: the finding itself, its HPO-coded components; "Frequency: daily" qualifies.
    seizure = {
        **_observation(SEIZURE, "Seizure"),
        "component": [
            {"code": {"text": "Frequency"}, "valueString": "daily"},
            {
                "code": {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl", "code": "HP:0011097"}]},
                "valueCodeableConcept": {"text": "absent"},
            },
        ],
    }
    prepared = read(CaseInput(bundle=_bundle(_observation(ARACHNODACTYLY, "Arachnodactyly"), panel, seizure)))
    assert [(m.path, m.hpo_id, m.assertion) for m in prepared.account.mapped] == [
        ("entry[1].resource", ARACHNODACTYLY, "present"),
        ("entry[2].resource.component[0]", "HP:0004421", "present"),  # Elevated systolic blood pressure
        ("entry[2].resource.component[1]", "HP:0000175", "absent"),
        ("entry[3].resource", SEIZURE, "present"),
        ("entry[3].resource.component[1]", "HP:0011097", "absent"),  # Epileptic spasm
    ]
    assert prepared.case.findings[1].label == "Systolic blood pressure: 180 mm[Hg] (high)"
    # Each part not read is named by its own path: a user test's viewer said "not used: Blood pressure panel" for a
    # normal diastolic part while the systolic part was read.
    assert [(n.path, n.reason) for n in _but_the_patient(prepared.account)] == [
        ("entry[2].resource.component[2]", "Diastolic blood pressure: a normal result, no finding (component[2])"),
        ("entry[3].resource.component[0]", "a qualifier of the finding, not read (component[0])"),
    ]


def test_an_hpo_coded_condition_is_read_by_its_code_and_a_display_naming_another_term_does_not_label_it() -> None:
    seizure_as_fits = {
        **fhir_condition(SEIZURE),
        "code": {"coding": [{"system": "http://purl.obolibrary.org/obo/hp.owl", "code": SEIZURE, "display": "Fits"}]},
    }
    mislabelled = _observation(ARACHNODACTYLY, "Seizure")
    prepared = read(CaseInput(bundle=_bundle(seizure_as_fits, mislabelled)))
    assert [(f.hpo_id, f.label) for f in prepared.case.findings] == [
        (ARACHNODACTYLY, "Arachnodactyly"),
        (SEIZURE, "Fits"),
    ]
    assert [(m.given, m.hpo_id) for m in prepared.account.mapped] == [("Seizure", ARACHNODACTYLY), ("Fits", SEIZURE)]


def test_a_findings_list_label_naming_another_term_than_its_id_is_refused() -> None:
    with pytest.raises(
        IntakeError,
        match=r"findings\[0\]: the label 'Seizure' names HP:0001250 \(Seizure\), not "
        r"HP:0001166 \(Arachnodactyly\)",
    ):
        read(CaseInput(findings=(FindingInput(label="Seizure", hpo_id=ARACHNODACTYLY),)))
    # A broader or narrower label is the caller's wording of the id: the id wins; so is a synonym HPO gives the
    # id, even one the dictionary files under another term ("Lipomas": HP:0001012 Multiple lipomas).
    focal = read(CaseInput(findings=(FindingInput(label="Seizure", hpo_id="HP:0007359"),)))
    assert [f.hpo_id for f in focal.case.findings] == ["HP:0007359"]
    lipomas = read(CaseInput(findings=(FindingInput(label="Lipomas", hpo_id="HP:0001012"),)))
    assert [f.hpo_id for f in lipomas.case.findings] == ["HP:0001012"]


def test_a_root_of_hpo_is_no_finding() -> None:
    prepared = read(
        CaseInput(
            findings=(
                FindingInput(label="HP:0000118"),
                FindingInput(label="All", hpo_id="HP:0000001"),
                FindingInput(label="Arachnodactyly"),
                FindingInput(label="Phenotypic abnormality"),
                FindingInput(label="Seizure", hpo_id="HP:0000118"),  # the label says what the finding is
            )
        )
    )
    assert [f.hpo_id for f in prepared.case.findings] == [ARACHNODACTYLY, SEIZURE]
    assert [n.path for n in prepared.account.not_understood] == ["findings[0]", "findings[1]", "findings[3]"]
    assert "names a branch of HPO, not a finding" in prepared.account.not_understood[0].reason


def test_a_birth_date_is_counted_from_the_bundle_else_today_and_a_future_one_is_said() -> None:
    def age_of(birth_date: str, timestamp: str | None) -> PreparedCase:
        arachnodactyly = _observation(ARACHNODACTYLY, "Arachnodactyly")
        return read(CaseInput(bundle=_bundle(arachnodactyly, birth_date=birth_date, timestamp=timestamp)))

    assert age_of("2010-03-01", "2024-06-01T00:00:00Z").case.age == "P14Y"
    assert (duration_years(age_of("2010-03-01", None).case.age) or 0) >= 16  # counted from today
    future = age_of("2030-01-01", "2024-06-01T00:00:00Z")
    assert future.case.age is None
    (patient,) = future.account.not_understood  # the Patient entry, one item: what it gave, and why no age
    assert patient.path == "entry[0].resource"
    assert patient.reason.endswith(
        "; Patient.birthDate is after 2024-06-01, the date the age is counted from: age not read"
    )


def test_words_naming_no_term_are_searched_unless_said_of_a_relative() -> None:
    prepared = read(
        CaseInput(
            findings=(
                FindingInput(label="Arachnodactyly"),
                FindingInput(label="father has Marfan syndrome"),
                FindingInput(label="flibbertigibbet wombles"),
                FindingInput(label="per mother's report, frequent breath-holding spells"),  # she only reports it
            )
        )
    )
    assert [f.label for f in prepared.case.findings][:2] == ["Arachnodactyly", "flibbertigibbet wombles"]
    assert any(f.label.startswith("per mother's report") for f in prepared.case.findings)
    relative, words = prepared.account.not_understood[:2]
    assert (relative.path, relative.words_searched) == ("findings[1]", False)
    assert relative.reason == "said of a relative, and names no HPO term: not a finding of the patient"
    assert (words.path, words.words_searched) == ("findings[2]", True)
    assert (relative.category, words.category) == ("of_a_relative", "not_understood")


def test_a_finding_a_relative_is_said_not_to_have_is_nobodys_finding() -> None:
    """A viewer user test: "Mum has no muscle problems" showed as "a relative's: Abnormality of the musculature",
    the opposite of the note; "Family history: no hearing loss" likewise. Listed with why, in no case."""
    note = "Gowers sign. Mum has no muscle problems. Family history: no hearing loss; father has ptosis."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [
        ("HP:0003391", "present"),  # Gowers sign
        ("HP:0000508", "family_history"),  # the father's ptosis
    ]
    denied = [note[n.span[0] : n.span[1]] for n in reading.not_understood if n.reason == DENIED_OF_A_RELATIVE]
    assert denied == ["muscle problems", "hearing loss"]
    assert [f.hpo_id for f in reading.findings] == ["HP:0003391"]


def test_a_segment_saying_the_mention_before_it_is_over_is_read_with_it() -> None:
    """ "History of febrile seizures, resolved": "resolved" makes the mention historical, so it is not listed as a
    segment not understood (a viewer user test saw it there); alone it is listed."""
    note = "History of febrile seizures, resolved. Lipoma, excised. Resolved."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge())
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [
        ("HP:0002373", "historical"),
        ("HP:0012032", "historical"),
    ]
    assert [note[n.span[0] : n.span[1]] for n in reading.not_understood] == ["Resolved"]


def test_a_sentence_naming_the_patient_after_a_relatives_line_is_the_patients() -> None:
    """A user test (2026-11-28): on one line, "Patient:" after "Brother: ..." was still the brother's."""
    note = "Brother: tall, lens dislocation. Patient: aortic root dilatation."
    prepared = read(CaseInput(text=note))
    said = {m.hpo_id: m.assertion for m in prepared.account.mapped}
    assert said == {"HP:0001083": "family_history", "HP:0002616": "present"}
    assert [f.hpo_id for f in prepared.case.findings] == ["HP:0002616"]  # Aortic root aneurysm, the patient's


def test_a_denied_family_history_is_nobodys_finding_and_every_member_of_its_list_is_accounted_for() -> None:
    """A user test: "No family history of sudden death" was a relative's Sudden death ("a relative's: ..." in the
    viewer); in "... of Marfan syndrome or sudden cardiac death", Marfan syndrome was in no part of the account."""
    note = "Seizures. No family history of sudden death. There is no family history of scoliosis."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [(SEIZURE, "present")]
    denied = [note[n.span[0] : n.span[1]] for n in reading.not_understood if n.reason == DENIED_OF_A_RELATIVE]
    assert denied == ["sudden death", "scoliosis"]
    listed = "Seizures. No family history of Marfan syndrome or sudden cardiac death."
    reading = read_text(listed, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [(SEIZURE, "present")]
    assert [(listed[n.span[0] : n.span[1]], n.reason) for n in reading.not_understood] == [
        ("Marfan syndrome", NO_TERM),
        ("sudden cardiac death", DENIED_OF_A_RELATIVE),
    ]
    # A clause after "and" is no list member; its words no reading uses are listed as such (they vanished before).
    clause = "Seizures began at 6 months and valproate was given."
    missed = read_text(clause, get_term_lookup(), get_hpo_knowledge()).not_understood
    assert [(clause[n.span[0] : n.span[1]], n.reason) for n in missed if n.span] == [("valproate", NO_TERM)]
    # In a findings list, as in a note.
    items = read(
        CaseInput(findings=(FindingInput(label="Seizures"), FindingInput(label="No family history of sudden death")))
    )
    assert [(n.path, n.reason) for n in items.account.not_understood] == [("findings[1]", DENIED_OF_A_RELATIVE)]
    assert [n.category for n in items.account.not_understood] == ["denied_of_a_relative"]
    assert [f.hpo_id for f in items.case.findings] == [SEIZURE]


@pytest.mark.parametrize(
    ("note", "listed"),
    [
        # A user test (2026-11-28): words beside what was read in their segment vanished ("4yo with N/V and HA x3
        # days": only the age was read); letters joined by slashes were no words at all ("Seizures, X/Y.").
        ("4yo with URI and HA x3 days.", ["URI and HA"]),
        ("Seizures, X/Y.", ["X/Y"]),
        ("Hypotonia noted by Dr Smith on valproate.", ["Dr Smith on valproate"]),
        ("?Parkinson disease vs drug-induced parkinsonism", ["Parkinson disease vs drug-induced"]),
        # ... while words that say how a finding is meant are no item of their own
        ("Marked hypotonia and mild ptosis since birth were noted at 3 months.", []),
        ("Hypertelorism? Possibly.", []),
    ],
)
def test_words_nothing_read_beside_what_was_read_are_listed(note: str, listed: list[str]) -> None:
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [note[n.span[0] : n.span[1]] for n in reading.not_understood if n.span] == listed
    assert all(n.reason == NO_TERM for n in reading.not_understood)


def test_modifiers_listed_before_one_head_are_one_item_of_several_terms() -> None:
    """A user test: the findings item "Low-set, posteriorly rotated ears" was Posteriorly rotated ears and a
    not-understood "Low-set" (7 items counted as 8); in a note "low-set" vanished."""
    labels = ["Short stature", "Low-set, posteriorly rotated ears", "long, thin fingers"]
    prepared = read(CaseInput(findings=tuple(FindingInput(label=label) for label in labels)))
    account = prepared.account
    assert [(m.path, m.hpo_id, m.span) for m in account.mapped] == [
        ("findings[0]", "HP:0004322", (0, 13)),
        ("findings[1]", "HP:0000369", (0, 33)),  # Low-set ears
        ("findings[1]", "HP:0000358", (0, 33)),  # Posteriorly rotated ears
        ("findings[2]", "HP:0100807", (0, 18)),  # Long fingers
        ("findings[2]", "HP:0001238", (0, 18)),  # Slender finger
    ]
    assert not account.not_understood and account.items == 3
    assert all(f.hpo_id is not None for f in prepared.case.findings)
    note = "She has short stature, webbed neck and low-set, posteriorly rotated ears."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, note[m.span[0] : m.span[1]]) for m in reading.mapped] == [
        ("HP:0004322", "short stature"),
        ("HP:0000465", "webbed neck"),
        ("HP:0000369", "low-set"),
        ("HP:0000358", "posteriorly rotated ears"),
    ]
    assert reading.not_understood == ()


def test_an_obsolete_hpo_id_reads_as_its_replacement_and_the_account_says_so() -> None:
    """A user test: HP:0000368 showed as "obsolete Low-set, posteriorly rotated ears" and stayed in the case."""
    bare = read(CaseInput(findings=(FindingInput(hpo_id="HP:0000368"), FindingInput(label="Seizures"))))
    (rotated, _) = bare.account.mapped
    assert (rotated.hpo_id, rotated.label) == ("HP:0000358", "Posteriorly rotated ears")
    assert rotated.id_note == OBSOLETE_REPLACED.format(
        given="HP:0000368",
        name="obsolete Low-set, posteriorly rotated ears",
        term_id="HP:0000358",
        term="Posteriorly rotated ears",
    )
    assert [(f.label, f.hpo_id) for f in bare.case.findings] == [
        ("Posteriorly rotated ears", "HP:0000358"),
        ("Seizures", SEIZURE),
    ]
    # Its label naming the findings HPO retired the bundle for: both read, each its own term.
    labelled = read(CaseInput(findings=(FindingInput(hpo_id="HP:0000368", label="Low-set, posteriorly rotated ears"),)))
    assert [f.hpo_id for f in labelled.case.findings] == ["HP:0000369", "HP:0000358"]
    assert {m.id_note for m in labelled.account.mapped} == {
        OBSOLETE_READ_BY_WORDS.format(
            given="HP:0000368",
            name="obsolete Low-set, posteriorly rotated ears",
            term_id="HP:0000358",
            term="Posteriorly rotated ears",
        )
    }
    assert [
        f.hpo_id
        for f in read(CaseInput(findings=(FindingInput(hpo_id="HP:0000368", label="Low-set ears"),))).case.findings
    ] == ["HP:0000369"]
    # Retired without a replacement ("consider" only): kept as given, and said so.
    kept = read(CaseInput(findings=(FindingInput(hpo_id="HP:0001145", label="Chorioretinopathy"),)))
    (chorio,) = kept.account.mapped
    assert chorio.hpo_id == "HP:0001145" and [f.hpo_id for f in kept.case.findings] == ["HP:0001145"]
    assert chorio.id_note == OBSOLETE_KEPT.format(
        given="HP:0001145",
        name="obsolete Chorioretinopathy",
        consider="consider HP:0000532 (Abnormal chorioretinal morphology)",
    )
    # A FHIR coding of it, the same.
    resources = [{"resourceType": "Patient", "id": "p"}, _observation("HP:0000368", None)]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    coded = read(CaseInput(bundle=json.dumps(bundle).encode()))
    assert [(m.hpo_id, m.id_note is not None) for m in coded.account.mapped] == [("HP:0000358", True)]
    assert [f.hpo_id for f in coded.case.findings] == ["HP:0000358"]


def test_a_findings_list_item_with_a_query_mark_is_uncertain_as_in_a_note() -> None:
    # A user test: "?hypotonia" and "hypotonia?" in a findings list were present, while a note read them as asked.
    labels = ["?hypotonia", "Tall stature, ?arachnodactyly", "Seizures (?)", "Ectopia lentis"]
    prepared = read(CaseInput(findings=tuple(FindingInput(label=label) for label in labels)))
    said = {(m.path, m.hpo_id): m.assertion for m in prepared.account.mapped}
    assert said == {
        ("findings[0]", "HP:0001252"): "uncertain",
        ("findings[1]", "HP:0000098"): "present",
        ("findings[1]", ARACHNODACTYLY): "uncertain",
        ("findings[2]", SEIZURE): "uncertain",
        ("findings[3]", "HP:0001083"): "present",
    }
    assert {f.hpo_id for f in prepared.case.findings} == {"HP:0000098", "HP:0001083"}  # a question is no finding


def test_a_label_given_with_an_id_still_says_whether_the_patient_has_it() -> None:
    # A user test: these labels, each with its id, were all read present (a denied finding, a relative's, a
    # question); without an id the same words were read by the note's rules.
    items = [
        ("no seizures", SEIZURE, "absent"),
        ("FHx: deafness", "HP:0000365", "family_history"),
        ("Ptosis? No.", "HP:0000508", "absent"),
        ("?hypotonia", "HP:0001252", "uncertain"),
        ("h/o scoliosis", "HP:0002650", "historical"),
        ("Family history of cancer", "HP:0032317", "present"),  # a name whose own words hold the cue
        ("Seizures, no ataxia", "HP:0001251", "absent"),  # the given term's mention says it (code review)
        ("Arachnodactyly", ARACHNODACTYLY, "present"),
    ]
    prepared = read(CaseInput(findings=tuple(FindingInput(label=label, hpo_id=term) for label, term, _ in items)))
    assert [(m.hpo_id, m.assertion) for m in prepared.account.mapped] == [(term, said) for _, term, said in items]
    kept = {(f.hpo_id, f.excluded) for f in prepared.case.findings} - {("HP:0001251", True)}
    assert kept == {
        (SEIZURE, True),
        ("HP:0000508", True),
        ("HP:0002650", False),
        ("HP:0032317", False),
        (ARACHNODACTYLY, False),
    }


def test_chart_shorthand_for_how_a_finding_is_said_is_not_listed_as_not_understood() -> None:
    # A second user test found "h/o", "c/o", "O/E", "-ve", "overnight", "none", "longer" listed beside what was read.
    text = "h/o seizures. O/E: hepatomegaly, ascites -ve. c/o headache overnight. No longer has seizures."
    reading = read_text(text, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert {m.hpo_id for m in reading.mapped} >= {SEIZURE, "HP:0002240", "HP:0001541", "HP:0002315"}
    assert [text[n.span[0] : n.span[1]] for n in reading.not_understood] == []


def test_a_name_beside_a_coded_label_is_dropped_after_its_words_are_read() -> None:
    # Code review: "Priscilla has no seizures" with its id was renamed Seizure first, and so read present.
    items = (FindingInput(label="Priscilla has no seizures", hpo_id=SEIZURE), FindingInput(label="Arachnodactyly"))
    prepared = read(CaseInput(findings=items))
    first = next(m for m in prepared.account.mapped if m.path == "findings[0]")
    assert (first.hpo_id, first.assertion, first.given) == (SEIZURE, "absent", "Seizure")
    assert (SEIZURE, True) in {(f.hpo_id, f.excluded) for f in prepared.case.findings}


def test_words_beside_a_relatives_finding_are_the_relatives() -> None:
    """Stop 30 left "Mother has several lipomas and NF1" listing "NF1" as words no term matches: it is the mother's
    diagnosis. Beside the patient's own finding, such words stay not understood."""
    note = "Mother has several lipomas and NF1."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(note[n.span[0] : n.span[1]], n.reason) for n in reading.not_understood] == [("NF1", OF_A_RELATIVE)]
    note = "Hypotonia and NF1."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(note[n.span[0] : n.span[1]], n.reason) for n in reading.not_understood] == [("NF1", NO_TERM)]


# -- what kind of entry: a field, never the reason's words ---------------------------------------------------------


def test_every_category_is_described_and_the_understood_ones_are_categories() -> None:
    """The API schema describes ``category`` from :data:`ENTRY_CATEGORIES`: a category added without its meaning
    fails here."""
    assert set(ENTRY_CATEGORIES) == set(get_args(EntryCategory))
    assert set(UNDERSTOOD_NOT_A_FINDING) < set(ENTRY_CATEGORIES)
    assert NotUnderstood(path="text", reason=NO_TERM).category == "not_understood"  # the default


@pytest.mark.parametrize("category", get_args(EntryCategory))
def test_understood_not_a_finding_follows_the_category_not_the_reasons_words(category: EntryCategory) -> None:
    """A reason reworded (or one that reads like another kind) moves no entry to another heading."""
    reworded = NotUnderstood(path="entry[9].resource", reason="seen twice, kept once", category=category)
    assert understood_not_a_finding(reworded) == (category in UNDERSTOOD_NOT_A_FINDING)
    looks_like = NotUnderstood(path="entry[2].resource", reason=NOT_A_FINDING, category=category)
    assert understood_not_a_finding(looks_like) == (category in UNDERSTOOD_NOT_A_FINDING)


def test_a_notes_entries_say_what_kind_they_are() -> None:
    note = "Arachnodactyly. Father has NF1. No family history of sudden cardiac death. Seen on Tuesday."
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(note[n.span[0] : n.span[1]], n.category) for n in reading.not_understood if n.span] == [
        ("Father has NF1", "of_a_relative"),
        ("sudden cardiac death", "denied_of_a_relative"),
        ("Seen on Tuesday", "not_understood"),
    ]


def test_a_relatives_age_between_commas_is_no_words_left_unread() -> None:
    """ "His mother, now 34, has mild cardiomyopathy": the relative and her age say whose the finding is (the
    viewer listed "His mother" and "now 34" as not understood)."""
    text = "His mother, now 34, has mild cardiomyopathy."
    reading = read_text(text, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    assert [(m.hpo_id, m.assertion) for m in reading.mapped] == [("HP:0001638", "family_history")]
    assert reading.not_understood == ()


def test_learning_difficulties_are_said_to_be_ambiguous_not_unmatched() -> None:
    """Deliberately not mapped (British: intellectual disability; American: a specific learning disability): the account
    names the ambiguity instead of "no HPO term matches", in a note and in a findings list alike."""
    lookup, knowledge = get_term_lookup(), get_hpo_knowledge()
    for text in ("She has learning difficulties.", "learning disability"):
        reading = read_text(text, lookup, knowledge)
        assert not reading.mapped
        (entry,) = reading.not_understood
        assert "ambiguous" in entry.reason and "HP:0001249" in entry.reason and "HP:0001328" in entry.reason
        assert entry.category == "not_understood"
    (other,) = read_text("She has zorblatt.", lookup, knowledge).not_understood
    assert other.reason == NO_TERM
