"""The second reader: FastHPOCR's matching over a slim index of the local hp.obo, proposing longer mentions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dxsearch.intake import CaseInput, intake
from dxsearch.intake.account import read_text
from dxsearch.intake.second_reader import (
    FastHpoCrReader,
    build_slim_index,
    cached_slim_index,
    get_second_reader,
    note_pieces,
    read_ontology,
)
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

pytest.importorskip("FastHPOCR")

TINY_OBO = """format-version: 1.2

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000118
name: Phenotypic abnormality
is_a: HP:0000001 ! All

[Term]
id: HP:0001156
name: Brachydactyly
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0009373
name: Type C brachydactyly
synonym: "Brachydactyly type C" EXACT []
is_a: HP:0001156 ! Brachydactyly

[Term]
id: HP:0000099
name: obsolete Short fingers type C
is_obsolete: true
replaced_by: HP:0009373
"""


def test_the_ontology_as_fasthpocr_reads_it(tmp_path: Path) -> None:
    obo = tmp_path / "hp.obo"
    obo.write_text(TINY_OBO)
    onto = read_ontology(obo)
    assert onto.terms["HP:0009373"] == "Type C brachydactyly"
    assert sorted(onto.synonyms["HP:0009373"]) == ["Brachydactyly type C", "Short fingers type C"]
    assert onto.allSuperClasses["HP:0009373"] == {"HP:0001156", "HP:0000118", "HP:0000001"}


def test_slim_index_built_once_and_read_in_any_word_order(tmp_path: Path) -> None:
    obo = tmp_path / "hp.obo"
    obo.write_text(TINY_OBO)
    tables = build_slim_index(obo)
    assert set(tables) == {"format", "words", "signatures", "labels"}
    assert cached_slim_index(obo, tmp_path / "cache") == tables
    (written,) = (tmp_path / "cache").iterdir()
    assert json.loads(written.read_text()) == tables
    assert cached_slim_index(obo, tmp_path / "cache") == tables  # read back
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert cached_slim_index(obo, blocked / "cache") == tables  # unwritable: built, used, not cached


def test_real_index_proposes_reordered_and_clustered_phrasings_of_two_words_or_more() -> None:
    reader = get_second_reader()
    assert isinstance(reader, FastHpoCrReader)
    text = "Brachydactyly type C, anomalies of the facial nerve; slow."
    found = {text[start:end]: term for start, end, term in reader.candidates(text)}
    assert found["Brachydactyly type C"] == "HP:0009373"
    assert found["anomalies of the facial nerve"] == "HP:0010827"
    assert "slow" not in found  # one word: FastHPOCR's false positives on development text


def test_a_proposal_does_not_read_past_a_negation_or_an_age_period_its_term_does_not_spell() -> None:
    """FastHPOCR clusters word stems: "seizures absent" met Absence seizure, "seizures in infancy" Neonatal seizure."""
    reader = get_second_reader()
    assert isinstance(reader, FastHpoCrReader)
    for text in ("Seizures absent.", "Absent seizures.", "Seizures in infancy.", "manifestations affecting the face"):
        assert reader.candidates(text) == [], text
    lookup, knowledge = get_term_lookup(), get_hpo_knowledge()
    read = [
        (m.hpo_id, m.assertion)
        for m in read_text("Absent seizures. Absent reflexes.", lookup, knowledge, reader).mapped
    ]
    assert read == [("HP:0001250", "absent"), ("HP:0001284", "present")]  # Areflexia is a finding of its own


def test_a_proposal_does_not_read_a_qualifier_into_words_that_do_not_state_it() -> None:
    """FastHPOCR's clusters may skip a name's negation, distribution or recurrence: "social interactions" met No
    social interaction, "seizure onset" Generalized-onset seizure, "viral infection" Recurrent viral infections."""
    reader = get_second_reader()
    assert isinstance(reader, FastHpoCrReader)
    for text in ("Poor social interactions.", "Seizure onset at 3 months.", "A viral infection in May."):
        assert not any(
            term_id in ("HP:0008763", "HP:0002197", "HP:0004429") for _, _, term_id in reader.candidates(text)
        ), text
    # where the words state the qualifier the proposal stands: "absence of speech" is Absent speech
    assert [t for _, _, t in reader.candidates("Absence of speech.")] == ["HP:0001344"]


def test_a_proposal_that_would_cut_a_mention_in_two_is_not_taken() -> None:
    """FastHPOCR proposed "soft cutaneous" as Soft skin, cutting the dictionary's "cutaneous nodules" in two."""
    note = "Two soft cutaneous nodules on the trunk."
    read = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader()).mapped
    assert [(m.hpo_id, note[m.span[0] : m.span[1]]) for m in read if m.span] == [("HP:0200036", "cutaneous nodules")]
    # ... nor one that swallows a modifier the dictionary reads as a finding of its own: Low-set ears was lost
    note = "Low-set posteriorly rotated ears."
    read = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader()).mapped
    assert [m.hpo_id for m in read] == ["HP:0000369", "HP:0000358"]  # Low-set ears, Posteriorly rotated ears


def test_the_note_reading_uses_it_and_keeps_its_own_assertions() -> None:
    lookup, knowledge = get_term_lookup(), get_hpo_knowledge()
    text = "Brachydactyly type C. No anomalies of the facial nerve."
    alone = {m.hpo_id: m.assertion for m in read_text(text, lookup, knowledge).mapped}
    both = {m.hpo_id: m.assertion for m in read_text(text, lookup, knowledge, get_second_reader()).mapped}
    assert "HP:0009373" not in alone
    assert both["HP:0009373"] == "present"
    assert both["HP:0010827"] == "absent"
    prepared = intake(CaseInput(text=text), pseudonymiser=Pseudonymiser("k" * 20), fallback_id="req")
    assert [(f.hpo_id, f.excluded) for f in prepared.case.findings] == [("HP:0009373", False), ("HP:0010827", True)]


def _long_note(length: int) -> str:
    """A note of ``length`` characters or more: a mention at each end, single-word findings in between."""
    start, end = "Brachydactyly type C. ", "Anomalies of the facial nerve."
    filler = "He has seizures and hypotonia. "
    return start + filler * ((length - len(start) - len(end)) // len(filler) + 1) + end


def test_a_60000_character_note_is_read_to_its_end() -> None:
    # Over 10,000 tokens: FastHPOCR alone lost the start of every match past its 10,000th and then raised
    # "invalid literal for int() with base 10: ''"; read in pieces, the mentions at both ends are found.
    reader = get_second_reader()
    assert isinstance(reader, FastHpoCrReader)
    text = _long_note(60_000)
    assert len(text) >= 60_000
    found = {(text[start:end], term) for start, end, term in reader.candidates(text)}
    assert ("Brachydactyly type C", "HP:0009373") in found
    assert ("Anomalies of the facial nerve", "HP:0010827") in found
    prepared = intake(CaseInput(text=text), pseudonymiser=Pseudonymiser("k" * 20), fallback_id="req")
    assert {"HP:0009373", "HP:0010827", "HP:0001250", "HP:0001252"} <= {f.hpo_id for f in prepared.case.findings}


def test_a_note_yields_what_its_pieces_yield() -> None:
    reader = get_second_reader()
    assert isinstance(reader, FastHpoCrReader)
    text = (
        "Brachydactyly type C, anomalies of the facial nerve; global developmental delay.\n"
        "She has an ataxic gait and was born with a cleft palate! Does he have short stature? "
    ) * 8
    pieces = list(note_pieces(text, limit=150))
    assert len(pieces) > 1
    assert all(len(piece) <= 150 for _, piece in pieces)
    assert "".join(piece for _, piece in pieces) == text
    assert [offset for offset, _ in pieces] == [0, *(o + len(p) for o, p in pieces[:-1])]
    pieced = {(o + s, o + e, t) for o, piece in pieces for s, e, t in reader.candidates(piece)}
    assert pieced == set(reader.candidates(text))
    assert len(pieced) >= 8 * 4
