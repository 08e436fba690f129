"""A creatine kinase in thousands, as a note and as a findings list give it (a user test's Duchenne letter: "Creatine
kinase was 15,000 U/L" was cut at its comma into two unread pieces, then asked back as a next step)."""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, intake
from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

ELEVATED_CK, GOWERS = "HP:0003236", "HP:0003391"


def read(note: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(term, words) of each mapped finding, and the words of each part not understood."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    mapped = [(m.hpo_id, note[m.span[0] : m.span[1]]) for m in reading.mapped if m.span]
    missed = [note[n.span[0] : n.span[1]] for n in reading.not_understood if n.span]
    return mapped, missed


@pytest.mark.parametrize(
    "note",
    ["Creatine kinase was 15,000 U/L.", "CK 15000 U/L.", "Serum CK of 12,000.", "CPK: 4,500 IU/L."],
)
def test_a_creatine_kinase_past_every_reference_limit_is_elevated_without_a_flag(note: str) -> None:
    mapped, missed = read(f"A 5-year-old boy. {note}")
    assert [term for term, _ in mapped] == [ELEVATED_CK] and missed == []


@pytest.mark.parametrize(
    "note",
    [
        "A 5-year-old boy. CK 1,800 U/L.",  # raised or not by a laboratory's range, which the note does not give
        "A 5-year-old boy. Urine CK 5000.",  # another sample's
        "A 5-year-old boy. CK < 2000 U/L.",  # says nothing of a value past the limit
        # a code review: a past value, normal now, was read as elevated now; and a value no blood holds, with its unit
        "A 5-year-old boy. CK 25,000 U/L during rhabdomyolysis, now normal.",
        "A 5-year-old boy. CK was 25,000 U/L in 2019 and has since normalised.",
        "A 5-year-old boy. Serum CK 1,234,567 U/L.",
    ],
)
def test_a_creatine_kinase_a_laboratory_may_call_normal_is_not_read_as_elevated(note: str) -> None:
    mapped, _ = read(note)
    assert ELEVATED_CK not in [term for term, _ in mapped]


def test_a_comma_between_thousands_cuts_no_part_of_a_note() -> None:
    _, missed = read("Her weight was 12,500 g today. Seizures, ataxia.")
    assert missed == ["Her weight was 12,500 g today"]  # one part, not "... was 12" and "500 g today"


def test_a_findings_list_item_is_a_laboratory_result_as_a_notes_words_are() -> None:
    """A list item was read by the dictionary alone: "CK raised" or "CK 15,000 U/L" named nothing, and a comma
    between thousands cut an item in two."""
    labels = ["Creatine kinase 15,000 U/L, Gowers sign", "CK raised", "Sodium 118 mmol/L"]
    prepared = intake(
        CaseInput(findings=tuple(FindingInput(label=label) for label in labels), age="P5Y", sex="male"),
        pseudonymiser=Pseudonymiser("lab-values-in-lists-test-key"),
        fallback_id="t",
    )
    by_item = {(m.path, m.hpo_id) for m in prepared.account.mapped}
    assert by_item == {
        ("findings[0]", ELEVATED_CK),
        ("findings[0]", GOWERS),
        ("findings[1]", ELEVATED_CK),
        ("findings[2]", "HP:0002902"),  # Hyponatremia
    }
    assert prepared.account.not_understood == ()
