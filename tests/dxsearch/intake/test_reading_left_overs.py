"""Left-overs of the 2026-11-28 sessions, each read by the real readers on the real HPO dictionary (no mocks)."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, intake
from dxsearch.intake.account import Reading, read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

FEEDING_DIFFICULTIES, SEIZURE, JAUNDICE, HYPOTONIA = "HP:0011968", "HP:0001250", "HP:0000952", "HP:0001252"
TALL_STATURE, SHORT_STATURE = "HP:0000098", "HP:0004322"
LONG_FINGERS, LONG_TOE, SHORT_FINGER, SHORT_TOE = "HP:0100807", "HP:0010511", "HP:0009381", "HP:0001831"


def _read(text: str) -> Reading:
    return read_text(text, get_term_lookup(), get_hpo_knowledge(), get_second_reader())


def _said(text: str) -> dict[str, str]:
    """Each finding read from ``text`` and its assertion (one term said twice here keeps its first)."""
    said: dict[str, str] = {}
    for m in _read(text).mapped:
        if m.kind == "finding" and m.hpo_id is not None:
            said.setdefault(m.hpo_id, m.assertion)
    return said


# -- 1. a leading "Resolved" / "Past" / "Former" is history, as "now resolved" after it ---------------------------


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("Resolved neonatal feeding difficulties.", FEEDING_DIFFICULTIES),
        ("Neonatal feeding difficulties, now resolved.", FEEDING_DIFFICULTIES),
        ("Past seizures.", SEIZURE),
        ("Former seizures.", SEIZURE),
        ("His past seizures were febrile.", SEIZURE),
        ("Problems: hypotonia, resolved jaundice.", JAUNDICE),
        ("Seizures have resolved and hypotonia improved.", SEIZURE),
    ],
)
def test_a_finding_said_to_be_over_before_or_after_it_is_history(text: str, term: str) -> None:
    assert _said(text)[term] == "historical"


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("He has unresolved seizures.", SEIZURE),  # not resolved: still there
        ("Problems: hypotonia, resolved jaundice.", HYPOTONIA),  # the next item's adjective, not the hypotonia's end
        ("Seizures have resolved and hypotonia improved.", HYPOTONIA),  # a verb, no adjective of the hypotonia
        ("Over the past 2 months, seizures.", SEIZURE),  # a time, no history
        ("In the past year he had seizures.", SEIZURE),
        ("Former preterm infant with hypotonia.", HYPOTONIA),  # the adjective's scope is its noun phrase
        ("Resolved jaundice; current hypotonia.", HYPOTONIA),
    ],
)
def test_what_is_not_said_to_be_over_stays_present(text: str, term: str) -> None:
    assert _said(text)[term] == "present"


# -- 2. "tall" / "short" said of the patient ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "term", "words"),
    [
        ("He is tall (196 cm, >99th centile).", TALL_STATURE, "tall (196 cm, >99th centile"),
        ("He is very tall and thin.", TALL_STATURE, "tall"),
        ("He's tall with long fingers.", TALL_STATURE, "tall"),
        ("She is short (height -2.6 SD).", SHORT_STATURE, "short (height -2.6 SD"),
        ("She is short for her age.", SHORT_STATURE, "short for her age"),
        ("Now 14, she is quite short, with a broad chest.", SHORT_STATURE, "short"),
        ("Father has Marfan syndrome. She is tall too.", TALL_STATURE, "tall"),
    ],
)
def test_tall_or_short_said_of_the_patient_is_their_stature(text: str, term: str, words: str) -> None:
    reading = _read(text)
    found = [(m.hpo_id, text[m.span[0] : m.span[1]], m.assertion) for m in reading.mapped if m.span]
    assert (term, words, "present") in found
    assert not any(m.from_value for m in reading.mapped if m.hpo_id == term and m.span and m.span[0] > 4)


@pytest.mark.parametrize(
    "text",
    [
        "ECG: very tall T waves.",  # why "tall" alone is never read
        "He is 180 cm tall.",
        "She is short of breath.",
        "He is short-sighted.",
        "His mother is tall.",
        "She is tall (50th centile).",  # the measurement says otherwise
        "The QT interval is short.",
    ],
)
def test_tall_or_short_that_is_no_stature_of_the_patient_is_not_read(text: str) -> None:
    said = _said(text)
    assert said.get(TALL_STATURE) in (None, "family_history")
    assert SHORT_STATURE not in said


def test_a_stature_denied_is_absent_and_a_relatives_is_theirs() -> None:
    assert _said("He is not tall.")[TALL_STATURE] == "absent"
    assert _said("Father has Marfan syndrome; he is tall too.")[TALL_STATURE] == "family_history"


# -- 3. a modifier shared over "fingers and toes" ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("He has long thin fingers and toes.", {LONG_FINGERS, LONG_TOE}),
        ("She has long, thin fingers and toes.", {LONG_FINGERS, LONG_TOE}),
        ("Long fingers and toes.", {LONG_FINGERS, LONG_TOE}),
        ("Short fingers and toes.", {SHORT_FINGER, SHORT_TOE}),
    ],
)
def test_a_modifier_over_fingers_and_toes_gives_both_terms(text: str, terms: set[str]) -> None:
    said = _said(text)
    assert all(said.get(term) == "present" for term in terms), said


def test_a_findings_item_of_fingers_and_toes_gives_both_terms() -> None:
    label = "long thin fingers and toes"
    prepared = intake(
        CaseInput(findings=(FindingInput(label=label),)),
        pseudonymiser=Pseudonymiser("left-overs-test-key"),
        fallback_id="test",
    )
    ids = {f.hpo_id for f in prepared.case.findings}
    assert {LONG_FINGERS, LONG_TOE} <= ids


# -- 4. one term said twice: two mentions, each with its own span, never the same span twice ----------------------


def test_a_term_said_twice_is_listed_once_per_mention_never_twice_at_one_span() -> None:
    text = (
        "Girl aged 4 years with hypertelorism, webbed neck, pulmonary valve stenosis and short stature "
        "(height -2.5 SD). Intellectual disability was ruled out."
    )
    reading = _read(text)
    short = [m for m in reading.mapped if m.hpo_id == SHORT_STATURE]
    assert [(text[m.span[0] : m.span[1]], m.from_value) for m in short if m.span] == [
        ("short stature", False),
        ("height -2.5 SD", True),
    ]
    spans = [(m.hpo_id, m.span) for m in reading.mapped]
    assert len(spans) == len(set(spans))
    assert [f.hpo_id for f in reading.findings].count(SHORT_STATURE) == 1
