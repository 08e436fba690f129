"""Gestation at birth as neonatal notes write it, read through the note reading the API and CLI use."""

from __future__ import annotations

import pytest

from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup

EXTREMELY, VERY, MODERATE_TO_LATE = "HP:0025665", "HP:0025666", "HP:0025664"


def births(note: str) -> list[tuple[str, str, bool]]:
    """(id, assertion, from a value) of the preterm-birth terms the account maps."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    return [(m.hpo_id, m.assertion, m.from_value) for m in reading.mapped if m.hpo_id.startswith("HP:00256")]


@pytest.mark.parametrize(
    ("note", "term"),
    [
        ("Born at 26+5/40 by emergency section.", EXTREMELY),
        ("Born at 28 weeks gestation.", VERY),
        ("ex-28 weeker on CPAP.", VERY),
        ("Ex-33/40 prem with apnoeas.", MODERATE_TO_LATE),
        ("Baby girl Lopez, 36+2 wks, BW 1.9 kg.", MODERATE_TO_LATE),
        ("GA 29+3 weeks.", VERY),
    ],
)
def test_a_gestation_at_birth_before_term_names_its_range(note: str, term: str) -> None:
    assert births(note) == [(term, "present", True)]


def test_a_pregnancy_date_a_term_birth_or_a_relatives_birth_is_no_preterm_birth_of_the_patient() -> None:
    assert births("At 20+3 weeks the scan showed polyhydramnios. Born at 39 weeks by SVD.") == []
    assert births("Hypotonia. Her brother was born at 30 weeks.") == [(VERY, "family_history", True)]


def test_a_scans_weeks_are_no_birth() -> None:
    """A code review: "Anomaly scan at 20+3 weeks" was read as Extremely preterm birth."""
    assert births("Anomaly scan at 20+3 weeks showed the baby had a VSD. Growth scan at 32+1 weeks: baby small.") == []


@pytest.mark.parametrize(
    ("note", "term"),
    [
        # A user test (2026-11-28): the reason after the birth ("for reduced fetal movements") took the preterm birth
        # for a pregnancy's date; after "born at" or "ex-", a pregnancy's word is the birth's story.
        ("Born at 34 weeks by emergency caesarean for reduced fetal movements.", MODERATE_TO_LATE),
        ("She was born at 30 weeks after an uncomplicated pregnancy.", VERY),
        ("Ex-27 weeker, delivered for fetal distress.", EXTREMELY),
        ("Fetal scan at 20 weeks was normal; born at 30 weeks.", VERY),
    ],
)
def test_a_birth_before_term_is_read_whatever_reason_follows_it(note: str, term: str) -> None:
    assert births(note) == [(term, "present", True)]


@pytest.mark.parametrize(
    "note",
    [
        # ... while a pregnancy's word before the weeks, or any beside "GA" (no word of a birth), still dates a scan.
        "GA 32 weeks at the anomaly scan.",
        "Now corrected GA 36 weeks.",
        "At 20+3 weeks the scan showed polyhydramnios.",
    ],
)
def test_a_gestation_beside_a_pregnancys_words_without_a_birth_is_no_preterm_birth(note: str) -> None:
    assert births(note) == []
