"""The HPO frequency table and the n/m and x% forms, checked against the HPO definitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dxsearch.knowledge.frequency import FREQUENCY_TERMS, band, parse_frequency, pool_frequencies


@pytest.mark.parametrize(
    ("term", "estimate", "label"),
    [
        ("HP:0040280", 1.0, "obligate, 100%"),
        ("HP:0040281", 0.895, "very frequent, 80-99%"),
        ("HP:0040282", 0.545, "frequent, 30-79%"),
        ("HP:0040283", 0.17, "occasional, 5-29%"),
        ("HP:0040284", 0.025, "very rare, 1-4%"),
        ("HP:0040285", 0.0, "excluded, 0%"),
    ],
)
def test_frequency_terms_follow_the_hpo_table(term: str, estimate: float, label: str) -> None:
    frequency = parse_frequency(term)
    assert frequency is not None
    assert frequency.estimate == pytest.approx(estimate)
    assert frequency.label == label
    assert frequency.raw == term


def test_table_has_exactly_the_six_hpo_frequency_terms() -> None:
    assert sorted(FREQUENCY_TERMS) == [f"HP:004028{i}" for i in range(6)]


@pytest.mark.parametrize(
    ("raw", "estimate", "label"),
    [
        ("3/4", 0.75, "frequent, 3/4 patients"),
        ("112/140", 0.8, "very frequent, 112/140 patients"),
        ("5/5", 1.0, "very frequent, 5/5 patients"),
        ("0/7", 0.0, "excluded, 0/7 patients"),
        ("1/50", 0.02, "very rare, 1/50 patients"),
        (" 2 / 10 ", 0.2, "occasional, 2/10 patients"),
        ("25%", 0.25, "occasional, 25%"),
        ("7.5%", 0.075, "occasional, 7.5%"),
        ("100%", 1.0, "very frequent, 100%"),
    ],
)
def test_counts_and_percentages(raw: str, estimate: float, label: str) -> None:
    frequency = parse_frequency(raw)
    assert frequency is not None
    assert frequency.estimate == pytest.approx(estimate)
    assert frequency.label == label


@pytest.mark.parametrize("raw", [None, "", "  ", "often", "HP:0000001", "3/0", "5/3", "150%", "-1/2", "1/2/3"])
def test_unknown_values_give_none(raw: str | None) -> None:
    assert parse_frequency(raw) is None


@given(m=st.integers(min_value=1, max_value=100_000), data=st.data())
def test_any_count_parses_to_its_fraction(m: int, data: st.DataObject) -> None:
    n = data.draw(st.integers(min_value=0, max_value=m))
    frequency = parse_frequency(f"{n}/{m}")
    assert frequency is not None
    assert frequency.estimate == pytest.approx(n / m)
    assert 0.0 <= frequency.estimate <= 1.0
    assert frequency.label.startswith(band(n / m))


def test_bands_match_the_hpo_ranges() -> None:
    assert [band(x) for x in (0.0, 0.01, 0.049, 0.05, 0.29, 0.3, 0.79, 0.8, 0.99, 1.0)] == [
        "excluded",
        "very rare",
        "very rare",
        "occasional",
        "occasional",
        "frequent",
        "frequent",
        "very frequent",
        "very frequent",
        "very frequent",
    ]


def test_pooling_sums_counts_and_averages_otherwise() -> None:
    one, two = parse_frequency("1/2"), parse_frequency("3/4")
    assert one is not None and two is not None
    pooled = pool_frequencies([one, two])
    assert pooled is not None
    assert pooled.estimate == pytest.approx(4 / 6)
    assert pooled.raw == "4/6"
    term = parse_frequency("HP:0040281")
    assert term is not None
    mixed = pool_frequencies([one, term])
    assert mixed is not None
    assert mixed.estimate == pytest.approx((0.5 + 0.895) / 2)
    assert pool_frequencies([]) is None
    assert pool_frequencies([term]) is term
