"""Small real documents and an in-memory source for tests that need a known corpus."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from corpus_builder.sources.base import Reject, SourceInfo
from dxsearch.cases import Case, Finding, GoldDiagnosis, LabelledCase
from dxsearch.corpus import Document, DocumentKind, DocumentMetadata

HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"
_CONDITION_STATUS = "http://terminology.hl7.org/CodeSystem/condition-"

#: The Marfan syndrome case most tests reason about: its cardinal findings, by HPO id.
MARFAN_TERMS: dict[str, str] = {
    "HP:0001166": "Arachnodactyly",
    "HP:0001083": "Ectopia lentis",
    "HP:0000098": "Tall stature",
    "HP:0002616": "Aortic root aneurysm",
}
MARFAN_GOLD = GoldDiagnosis(id="OMIM:154700", label="Marfan syndrome")
#: The three findings a clinician names first (the short Marfan case).
MARFAN_CORE = ("HP:0001166", "HP:0001083", "HP:0000098")


def marfan_findings(
    terms: tuple[str, ...] = MARFAN_CORE, *, excluded: dict[str, str] | None = None
) -> tuple[Finding, ...]:
    """Marfan findings by id (observed), then ``excluded`` ({id: label}) as findings looked for and absent."""
    observed = tuple(Finding(label=MARFAN_TERMS[term], hpo_id=term) for term in terms)
    absent = tuple(Finding(label=label, hpo_id=term, excluded=True) for term, label in (excluded or {}).items())
    return observed + absent


def marfan_case(case_id: str = "marfan", *, findings: tuple[Finding, ...] | None = None, **fields: object) -> Case:
    """A Marfan-like case (female, 14 years unless ``fields`` say otherwise)."""
    values: dict[str, object] = {"sex": "female", "age": "P14Y", **fields}
    return Case(case_id=case_id, findings=findings if findings is not None else marfan_findings(), **values)  # type: ignore[arg-type]


def marfan_labelled(case: Case | None = None, *, pmid: str | None = None) -> LabelledCase:
    return LabelledCase(case=case or marfan_case(), gold=MARFAN_GOLD, pmid=pmid)


class ListSource:
    """A source over documents given in memory (for tests that need a tiny, known corpus)."""

    def __init__(self, name: str, items: list[Document | Reject]) -> None:
        self._items = items
        self.info = SourceInfo(name=name, description="test documents", licence="CC0-1.0")

    def iter_items(self) -> Iterator[Document | Reject]:
        yield from self._items


def make_doc(doc_id: str, kind: DocumentKind, title: str, text: str, codes: tuple[str, ...] = ()) -> Document:
    return Document(
        id=doc_id,
        kind=kind,
        title=title,
        text=text,
        metadata=DocumentMetadata(source="test", licence="CC0-1.0", codes=codes),
    )


SMALL_DOCS = [
    make_doc(
        "omim:154700",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Marfan syndrome",
        "Marfan syndrome (OMIM:154700)\nGenes: FBN1\nClinical features:\n- Arachnodactyly\n- Ectopia lentis\n"
        "- Aortic root aneurysm\n- Tall stature\n- Pectus excavatum",
        ("OMIM:154700", "HP:0001166", "HP:0001083"),
    ),
    make_doc(
        "omim:219700",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Cystic fibrosis",
        "Cystic fibrosis (OMIM:219700)\nGenes: CFTR\nClinical features:\n- Recurrent respiratory infections\n"
        "- Pancreatic insufficiency\n- Elevated sweat chloride\n- Bronchiectasis\n- Meconium ileus",
        ("OMIM:219700",),
    ),
    make_doc(
        "omim:143100",
        DocumentKind.DISEASE_KNOWLEDGE,
        "Huntington disease",
        "Huntington disease (OMIM:143100)\nGenes: HTT\nClinical features:\n- Chorea\n- Dementia\n"
        "- Psychiatric disturbances\n- Caudate atrophy",
        ("OMIM:143100",),
    ),
    make_doc(
        "pt:aaaa1111",
        DocumentKind.PATIENT_RECORD,
        "Patient record (female, 14 years)",
        "Observed findings: Arachnodactyly; Lens dislocation; Tall stature\nDiagnosis: Marfan syndrome (OMIM:154700)",
        ("OMIM:154700", "HP:0001166", "HP:0001083", "HP:0000098"),  # as built records hold them: diagnosis, findings
    ),
    make_doc(
        "gl:0123456789abcdef",
        DocumentKind.GUIDELINE,
        "Test guideline on sweat testing",
        "# Sweat testing\nA sweat chloride test is written here by the test suite, not a real guideline.\n"
        "## Interpretation\nValues are compared with a threshold chosen for this test.",
    ),
]

#: Marfan syndrome's Orphanet card: with SMALL_DOCS, the disease is in the corpus twice, as in the real one.
ORPHA_MARFAN = make_doc(
    "orpha:558",
    DocumentKind.DISEASE_KNOWLEDGE,
    "Marfan syndrome",
    "Marfan syndrome (ORPHA:558)\nClinical features:\n- Arachnodactyly\n- Ectopia lentis\n- Tall stature\n"
    "- Aortic root aneurysm\n- Dural ectasia",
    ("ORPHA:558", "HP:0001166", "HP:0001083"),
)
#: Patients recorded under the Orphanet code: their votes bring the ORPHA:558 entry into the top five.
ORPHA_PATIENTS = [
    make_doc(
        f"pt:orpha558{n}",
        DocumentKind.PATIENT_RECORD,
        f"Patient record (male, {age} years)",
        "Observed findings: Arachnodactyly; Ectopia lentis; Tall stature; Aortic root aneurysm\n"
        "Diagnosis: Marfan syndrome (ORPHA:558)",
        ("ORPHA:558", "HP:0001166", "HP:0001083", "HP:0000098", "HP:0002616"),
    )
    for n, age in ((1, 16), (2, 23))
]


def fhir_bundle(
    *resources: dict[str, object], gender: str = "female", birth_date: str | None = None, timestamp: str | None = None
) -> dict[str, object]:
    """A collection Bundle of Patient "p" (``gender``, perhaps ``birth_date``) and ``resources`` about it."""
    patient: dict[str, object] = {"resourceType": "Patient", "id": "p", "gender": gender}
    if birth_date is not None:
        patient["birthDate"] = birth_date
    bundle: dict[str, object] = {"resourceType": "Bundle", "type": "collection"}
    if timestamp is not None:
        bundle["timestamp"] = timestamp
    bundle["entry"] = [{"resource": r} for r in [patient, *resources]]
    return bundle


def fhir_hpo_observation(code: str, **fields: Any) -> dict[str, Any]:
    """A final Observation of Patient "p" coded ``code`` in HPO, with ``fields`` added (a value, a status, ...)."""
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": HPO_SYSTEM, "code": code}]},
        "subject": {"reference": "Patient/p"},
        **fields,
    }


def fhir_condition(
    code: str,
    *,
    system: str = HPO_SYSTEM,
    text: str | None = None,
    verification: str | None = None,
    clinical: str | None = None,
) -> dict[str, object]:
    """A Condition of Patient "p" coded ``code`` in ``system``, with a verification or clinical status if given."""
    concept: dict[str, object] = {"coding": [{"system": system, "code": code}]}
    if text is not None:
        concept["text"] = text
    condition: dict[str, object] = {"resourceType": "Condition", "code": concept, "subject": {"reference": "Patient/p"}}
    for field, status, value in (
        ("verificationStatus", "ver-status", verification),
        ("clinicalStatus", "clinical", clinical),
    ):
        if value is not None:
            condition[field] = {"coding": [{"system": _CONDITION_STATUS + status, "code": value}]}
    return condition
