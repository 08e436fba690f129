"""The publication split: deterministic, about 20% held out, no publication on both sides."""

from __future__ import annotations

from collections import defaultdict

import pytest

from corpus_builder.sources.phenopackets import CASES_PATH
from dxsearch.cases import PhenopacketRow, iter_phenopacket_rows
from dxsearch.intake.splits import publication_split

ROWS = [row for row in iter_phenopacket_rows(CASES_PATH) if isinstance(row, PhenopacketRow)]


def test_no_publication_on_both_sides_and_about_a_fifth_held_out() -> None:
    sides: dict[str | None, set[str]] = defaultdict(set)
    heldout_cases = 0
    for row in ROWS:
        side = publication_split(row.pmid, row.case_id)
        sides[row.pmid].add(side)
        heldout_cases += side == "heldout"
    assert all(len(found) == 1 for found in sides.values())
    heldout_publications = sum(found == {"heldout"} for found in sides.values())
    assert 0.15 < heldout_publications / len(sides) < 0.25
    assert 0.1 < heldout_cases / len(ROWS) < 0.3


def test_deterministic_and_salted() -> None:
    first = [publication_split(row.pmid, row.case_id) for row in ROWS]
    assert first == [publication_split(row.pmid, row.case_id) for row in ROWS]
    resalted = [publication_split(row.pmid, row.case_id, salt="another-split") for row in ROWS]
    assert resalted != first


def test_keys_fractions_and_bounds() -> None:
    # the same publication however it is written; the case id decides only without a PMID
    assert publication_split("PMID:22560515", "a") == publication_split("22560515", "b")
    by_case = {publication_split(None, f"case-{n}") for n in range(200)}
    assert by_case == {"index", "heldout"}
    assert {publication_split(f"PMID:{n}", "x", heldout_fraction=0.0) for n in range(100)} == {"index"}
    assert {publication_split(f"PMID:{n}", "x", heldout_fraction=1.0) for n in range(100)} == {"heldout"}
    with pytest.raises(ValueError, match="heldout_fraction"):
        publication_split("PMID:1", "x", heldout_fraction=1.5)
