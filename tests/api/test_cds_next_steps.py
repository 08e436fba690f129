"""The next-steps CDS card: what it shows of a trace's next steps, inert markdown, and links a CDS client opens."""

from __future__ import annotations

from api.cds_next_steps import MAX_CARD_GENES, MAX_CARD_QUESTIONS, doi_url, next_steps_card, percent
from api.cds_text import SUMMARY_MAX_CHARS
from dxsearch.next_steps import (
    DiagnosisRef,
    FindingChance,
    GenePanel,
    GuidelinePassage,
    NextSteps,
    PanelGene,
    Question,
    Shift,
)

VIEWER = "https://dx.example.org/viewer/?trace=abc"
MARFAN = DiagnosisRef(rank=1, name="Marfan syndrome", code="OMIM:154700")
LOEYS = DiagnosisRef(rank=2, name="Loeys-Dietz syndrome 1", code="OMIM:609192")
NO_GENE = DiagnosisRef(rank=3, name="Marfanoid habitus", code="OMIM:000001")


def _question(label: str, bits: float) -> Question:
    return Question(
        hpo_id="HP:0000001",
        label=label,
        information_gain_bits=bits,
        chance_present=0.5,
        chances=(FindingChance(rank=1, code=MARFAN.code, chance=0.7, annotation="HP:0040282"),),
        if_present=(Shift(rank=1, name=MARFAN.name, code=MARFAN.code, before=0.6, after=0.9),),
        if_absent=(Shift(rank=2, name=LOEYS.name, code=LOEYS.code, before=0.3, after=0.55),),
    )


def _steps(**overrides: object) -> NextSteps:
    fields: dict[str, object] = {
        "basis": "differential",
        "candidates": (MARFAN, LOEYS, NO_GENE),
        "probabilities": (0.6, 0.3, 0.1),
        "questions": tuple(_question(f"Finding {i}", 1.0 - i / 10) for i in range(5)),
        "gene_panel": GenePanel(
            genes=(
                PanelGene(symbol="FBN1", diagnoses=(MARFAN,)),
                PanelGene(symbol="TGFBR1", diagnoses=(LOEYS,)),
                *(PanelGene(symbol=f"GENE{i}", diagnoses=(LOEYS,)) for i in range(MAX_CARD_GENES)),
            ),
            without_genes=(NO_GENE,),
        ),
        "guidelines": (
            GuidelinePassage(
                evidence_id="gl:1#2",
                doc_id="gl:1",
                title="2022 ACC/AHA aortic disease guideline",
                section="Marfan syndrome",
                diagnoses=(MARFAN,),
                names="marfan syndrome",
                score=3.2,
                rank=1,
                retriever="bm25",
                references=("doi:10.1161/CIR.0000000000001106",),
                note="a summary, not the guideline's text",
            ),
        ),
    }
    fields.update(overrides)
    return NextSteps.model_validate(fields)


def test_the_card_holds_questions_genes_and_guidelines_within_the_spec() -> None:
    card = next_steps_card(_steps(), VIEWER, "DxSearch")
    assert card is not None
    assert card["indicator"] == "info" and card["source"] == {"label": "DxSearch"} and card["uuid"]
    assert len(card["summary"]) <= SUMMARY_MAX_CHARS
    assert card["summary"] == (
        f"Next steps: ask about Finding 0, Finding 1; test {MAX_CARD_GENES + 2} genes (FBN1, TGFBR1, GENE0, …); "
        "1 guideline passage"
    )
    detail = card["detail"]
    assert [f"**Finding {i}**" in detail for i in range(5)] == [i < MAX_CARD_QUESTIONS for i in range(5)]
    assert "yes favours Marfan syndrome (60% to 90%); no favours Loeys\\-Dietz syndrome 1 (30% to 55%)" in detail
    assert "- **FBN1**: Marfan syndrome (\\#1)" in detail and "- **TGFBR1**: Loeys\\-Dietz syndrome 1 (\\#2)" in detail
    assert "- and 2 more in DxSearch" in detail and "- no gene known for Marfanoid habitus (\\#3)" in detail
    assert "2022 ACC/AHA aortic disease guideline, Marfan syndrome: for Marfan syndrome (\\#1)" in detail
    assert card["links"] == [
        {"label": "Open the next steps in DxSearch", "url": VIEWER, "type": "absolute"},
        {
            "label": "Guideline: 2022 ACC/AHA aortic disease guideline",
            "url": "https://doi.org/10.1161/CIR.0000000000001106",
            "type": "absolute",
        },
    ]


def test_the_card_says_what_its_numbers_are_and_never_rounds_to_certainty() -> None:
    # A user test: the card said "Multiple lentigines: yes favours Leopard syndrome 1 (47% to 89%)" for a candidate
    # the abstention weighed at 0.10, and a near-certain "yes" read 100%. The numbers are the differential's now,
    # and the card says so.
    leopard = DiagnosisRef(rank=1, name="Leopard syndrome 1", code="OMIM:151100")
    lentigines = Question(
        hpo_id="HP:0001003",
        label="Multiple lentigines",
        information_gain_bits=0.5,
        chance_present=0.2,
        chances=(FindingChance(rank=1, code=leopard.code, chance=0.9, annotation="very frequent"),),
        if_present=(Shift(rank=1, name=leopard.name, code=leopard.code, before=0.1, after=0.9996),),
        if_absent=(),
        none_of_these_chance=0.05,
        none_of_these_if_present=0.0003,
        none_of_these_if_absent=0.93,
    )
    steps = _steps(
        basis="considered",
        candidates=(leopard, LOEYS),
        probabilities=(0.1, 0.05),
        none_of_these=0.85,
        questions=(lentigines,),
        gene_panel=None,
        guidelines=(),
    )
    card = next_steps_card(steps, VIEWER, "DxSearch")
    assert card is not None
    detail = card["detail"]
    assert "Percentages are probabilities the candidates were weighed at, before to after the answer; 85% is" in detail
    assert "yes favours Leopard syndrome 1 (10% to >99%); no favours none of these (85% to 93%)" in detail
    assert "100%" not in detail
    on_the_differential = next_steps_card(_steps(none_of_these=0.1), VIEWER, "DxSearch")
    assert on_the_differential is not None
    assert "Percentages are probabilities in the differential" in on_the_differential["detail"]
    assert percent(0.9949) == "99%" and percent(0.995) == ">99%" and percent(1.0) == "100%"
    assert percent(0.004) == "<1%" and percent(0.0) == "0%"
    renormalised = next_steps_card(_steps(scale="among_candidates"), VIEWER, "DxSearch")
    assert renormalised is not None and "summed above 100%" in renormalised["detail"]


def test_an_insufficient_evidence_answer_asks_for_more_findings() -> None:
    card = next_steps_card(_steps(basis="retrieved_diseases", gene_panel=None, guidelines=()), VIEWER, "DxSearch")
    assert card is not None and card["summary"] == "More findings would help: ask about Finding 0, Finding 1"
    assert "Genes to test" not in card["detail"] and "Guidelines" not in card["detail"]


def test_nothing_to_suggest_is_no_card() -> None:
    assert next_steps_card(None, VIEWER, "DxSearch") is None
    empty = _steps(questions=(), gene_panel=GenePanel(genes=(), without_genes=(NO_GENE,)), guidelines=())
    assert next_steps_card(empty, VIEWER, "DxSearch") is None


def test_knowledge_text_is_inert_and_only_dois_become_links() -> None:
    hostile = "[x](javascript:alert(1)) <script>"
    poisoned = _steps(
        questions=(_question(hostile, 1.0),),
        guidelines=(
            _steps().guidelines[0].model_copy(update={"title": hostile, "references": ("javascript:alert(1)",)}),
        ),
    )
    card = next_steps_card(poisoned, VIEWER, "DxSearch")
    assert card is not None
    assert "<script>" not in card["detail"] and "](" not in card["detail"]
    assert [link["url"] for link in card["links"]] == [VIEWER]
    assert doi_url("10.1000/a b") is None and doi_url("https://evil.example/10.1/x") is None
    assert doi_url("DOI:10.1000/x<y>") == "https://doi.org/10.1000/x%3Cy%3E"
