"""Muscle strength graded below full power, read as the weakness of the group, through the note reading."""

from __future__ import annotations

import time

import pytest

from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.intake.strength import MUSCLE_GROUPS
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup


def read(note: str) -> list[tuple[str, str, str, bool]]:
    """(id, words, assertion, from a value) of every finding the account maps."""
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    return [(m.hpo_id, note[m.span[0] : m.span[1]], m.assertion, m.from_value) for m in reading.mapped if m.span]


@pytest.mark.parametrize(
    ("note", "expected"),
    [
        # the grade before its groups, one of them at full power
        (
            "Power 4/5 in hip flexors and hip extensors, 5/5 distally.",
            [
                ("HP:0012515", "4/5 in hip flexors", "present", True),  # Hip flexor weakness
                ("HP:0003749", "hip extensors", "present", True),  # Pelvic girdle muscle weakness
            ],
        ),
        # each group with its grade after it, "+" and "-" grades
        (
            "Power: ankle dorsiflexion 2/5, finger abduction 4-/5, deltoids 4+/5.",
            [
                ("HP:0009027", "ankle dorsiflexion 2/5", "present", True),  # Foot dorsiflexor weakness
                ("HP:0009005", "finger abduction 4-/5", "present", True),  # Weakness of the intrinsic hand muscles
                ("HP:0003547", "deltoids 4+/5", "present", True),  # Shoulder girdle muscle weakness
            ],
        ),
        # a relative's grade is family history
        ("His brother has hip flexors 3/5.", [("HP:0012515", "hip flexors 3/5", "family_history", True)]),
        # full power, or a group not known, is no weakness
        ("Power 5/5 throughout. Toe extension 4/5.", []),
    ],
)
def test_a_grade_below_full_power_is_the_weakness_of_its_group(
    note: str, expected: list[tuple[str, str, str, bool]]
) -> None:
    assert read(note) == expected


def test_every_group_names_a_live_weakness_term() -> None:
    knowledge = get_hpo_knowledge()
    for group, term_id in MUSCLE_GROUPS.items():
        assert knowledge.current_id(term_id) == term_id, group
        assert "weakness" in knowledge.term_name(term_id).lower(), (group, term_id)


def test_a_long_run_of_grades_is_read_quickly() -> None:
    note = "hip flexors 4/5 and " * 2_000 + "4/5 in " + "hip flexors and " * 2_000
    started = time.perf_counter()
    read(note)
    assert time.perf_counter() - started < 30  # a bound against backtracking, not a speed target
