"""Statement cutting: what dense retrieval embeds, and what no retriever may match on."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dxsearch.retrieval.segments import MAX_SEGMENT_CHARS, positive_text, query_segments, segments

CARD = """Marfan syndrome (OMIM:154700)
Genes: FBN1
Clinical features (annotated phenotypes, most frequent first):
- Arachnodactyly (very frequent, 80-99%)
- Ectopia lentis
Not a feature:
- Seizure
- Ataxia
Observed findings: High palate; Scoliosis
Excluded findings: Pes planus; Myopia
"""


def test_list_items_become_statements_without_qualifiers() -> None:
    found = segments(CARD)
    assert "Arachnodactyly" in found and "Ectopia lentis" in found
    assert "High palate" in found and "Scoliosis" in found
    assert "Marfan syndrome" in found and "Genes: FBN1" in found


def test_negated_findings_never_become_statements_or_positive_text() -> None:
    for negated in ("Seizure", "Ataxia", "Pes planus", "Myopia"):
        assert negated not in segments(CARD)
        assert negated not in positive_text(CARD)
    assert "Arachnodactyly" in positive_text(CARD)


def test_a_findings_query_is_cut_per_finding() -> None:
    assert query_segments("High palate; Weakness of facial musculature") == [
        "High palate",
        "Weakness of facial musculature",
    ]
    assert query_segments("chorea and dementia") == ["chorea and dementia"]


@given(st.text(max_size=3000))
def test_any_text_gives_bounded_non_empty_statements(text: str) -> None:
    for statement in segments(text):
        assert statement and statement == statement.strip()
        assert len(statement) <= MAX_SEGMENT_CHARS
