"""Property: whatever a caller enters, every input item is accounted for exactly once (hypothesis).

Findings lists, notes and FHIR bundles are built from real HPO names, layperson words, modes of inheritance and
onsets, junk words, negations and list separators; the account must cover each item (or part of a list item) once,
as mapped or as not understood, never both and never neither, with spans inside the input, and keep no words of a
note.
"""

from __future__ import annotations

import json
import random
import string
from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dxsearch.intake import CaseInput, intake
from dxsearch.intake.account import (
    DENIED_OF_A_RELATIVE,
    NO_TERM,
    OF_A_RELATIVE,
    ItemIn,
    MappedItem,
    NotUnderstood,
    Reading,
    Span,
    read_items,
    read_text,
    segments,
)
from dxsearch.intake.second_reader import get_second_reader
from dxsearch.knowledge.hpo import get_hpo_knowledge
from dxsearch.knowledge.term_lookup import TermLookup, get_term_lookup
from dxsearch.pseudonym import Pseudonymiser

PROPERTY_SETTINGS = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
LAYPERSON = ["long slender fingers", "Spider fingers", "dislocated lenses", "dilated aortic root", "recurrent UTIs"]
#: Modes of inheritance and onsets: mapped with their own kind, accounted for like findings.
CONTEXT = ["autosomal dominant inheritance", "X-linked recessive", "de novo", "since infancy", "Childhood onset"]


@lru_cache(maxsize=1)
def hpo_names() -> list[str]:
    knowledge = get_hpo_knowledge()
    terms = sorted(knowledge.phenotypic_abnormality_terms)
    return [knowledge.term_name(t) for t in random.Random(5).sample(terms, 400)] + LAYPERSON + CONTEXT


junk = st.text(alphabet=string.ascii_letters, min_size=2, max_size=10).map(lambda w: w.lower())
phrase = st.one_of(
    st.deferred(lambda: st.sampled_from(hpo_names())),
    st.lists(junk, min_size=1, max_size=3).map(" ".join),
)
#: Cues around a phrase: negations, a relative, hedges, a past history ("PMH: " heads what follows on its line);
#: after it, "free" and a differential's "vs".
CUES = ["", "", "no ", "not ", "normal ", "family history of ", "likely ", "r/o ", "presumed ", "PMH: ", "Hx "]
negated = st.tuples(st.sampled_from(CUES), phrase, st.sampled_from(["", "", "", " free", "-free", " vs"])).map("".join)
separator = st.sampled_from([", ", "; ", "\n", "\n- ", " • ", " and "])


@st.composite
def item_labels(draw: st.DrawFn) -> str:
    parts = draw(st.lists(negated, min_size=1, max_size=4))
    return "".join(part + (draw(separator) if i < len(parts) - 1 else "") for i, part in enumerate(parts))


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _check_item(reading: Reading, path: str, label: str) -> None:
    mapped = [m.span for m in reading.mapped if m.path == path]
    missed = [n.span for n in reading.not_understood if n.path == path]
    demographic = reading.demographics_path == path
    assert mapped or missed or demographic, f"{path} {label!r} is not accounted for"
    for span in [*mapped, *missed]:
        assert span is not None and 0 <= span[0] < span[1] <= len(label)
    for i, a in enumerate(missed):
        assert a is not None
        assert not any(b is not None and _overlaps(a, b) for b in mapped), (label, a)  # never both
        assert not any(b is not None and _overlaps(a, b) for b in missed[i + 1 :]), (label, a)  # once


@PROPERTY_SETTINGS
@given(labels=st.lists(item_labels(), min_size=1, max_size=6), excluded=st.lists(st.booleans(), max_size=6))
def test_every_findings_item_is_mapped_or_not_understood_once(labels: list[str], excluded: list[bool]) -> None:
    lookup: TermLookup = get_term_lookup()
    items = [ItemIn(label=label, excluded=i < len(excluded) and excluded[i]) for i, label in enumerate(labels)]
    reading = read_items(items, lookup, get_hpo_knowledge())
    for index, label in enumerate(labels):
        _check_item(reading, f"findings[{index}]", label)
    # Every part not understood is a finding by its words (words_searched), unless it is said of a relative or
    # names a root of HPO, and says so; no other finding lacks an id.
    searched = [n for n in reading.not_understood if n.words_searched]
    assert sum(1 for f in reading.findings if f.hpo_id is None) == len(searched)
    assert all(
        n.reason.startswith("said of a relative") or "names a branch of HPO" in n.reason
        for n in reading.not_understood
        if not n.words_searched
    )
    for entry in reading.mapped:
        label = labels[int(entry.path[len("findings[") : -1])]
        # The item as given, unless it holds words no HPO name uses beside its terms (they may be a name typed
        # into the wrong box): then it is kept nowhere, and the findings hold only the terms' words.
        assert entry.given == label or (entry.given is None and lookup.unknown_words(label))


@PROPERTY_SETTINGS
@given(parts=st.lists(negated, min_size=1, max_size=8), separators=st.lists(separator, min_size=8, max_size=8))
def test_every_note_segment_is_mapped_or_not_understood_and_no_words_are_kept(
    parts: list[str], separators: list[str]
) -> None:
    note = "".join(part + (separators[i] if i < len(parts) - 1 else ".") for i, part in enumerate(parts))
    reading = read_text(note, get_term_lookup(), get_hpo_knowledge(), get_second_reader())
    # A finding a relative is said not to have ("family history of X, no X") is accounted for where it is said.
    denied = [n.span for n in reading.not_understood if n.span is not None and n.reason == DENIED_OF_A_RELATIVE]
    used = [m.span for m in reading.mapped if m.span is not None] + reading.demographics.spans + denied
    missed = [n.span for n in reading.not_understood if n.span is not None and n.reason != DENIED_OF_A_RELATIVE]
    # Each entry says what kind it is beside why: consumers sort by the kind, never by the words.
    kinds = {NO_TERM: "not_understood", OF_A_RELATIVE: "of_a_relative", DENIED_OF_A_RELATIVE: "denied_of_a_relative"}
    assert all(kinds[n.reason] == n.category for n in reading.not_understood), reading.not_understood
    for segment in segments(note):
        covering = [span for span in used if _overlaps(span, segment)]
        listed = [span for span in missed if span == segment]
        assert bool(covering) != bool(listed), (note, segment)  # exactly one of the two
    for span in used + missed:
        assert 0 <= span[0] < span[1] <= len(note)
    # Nor is a word no HPO name and no cue uses dropped: it is read, or inside a span listed as not understood,
    # whether or not something else of its segment was read ("4yo with N/V and HA" read only the age).
    covered = used + missed + reading.demographics.spans
    for start, end in get_term_lookup().unknown_words(note):
        if not any(c.isdigit() for c in note[start:end]):
            assert any(a <= start and end <= b for a, b in covered), (note, note[start:end])
    entries: list[MappedItem | NotUnderstood] = [*reading.mapped, *reading.not_understood]
    assert all(entry.given is None for entry in entries)


HPO_SYSTEM = "http://purl.obolibrary.org/obo/hp.owl"


@st.composite
def bundle_resources(draw: st.DrawFn) -> dict[str, object]:
    """One resource of a random EHR bundle, about the patient ``p1`` (or, for an Encounter, about nothing)."""
    kind = draw(st.sampled_from(["hpo", "snomed", "loinc", "text", "condition", "encounter", "age"]))
    subject = {"reference": "Patient/p1"}
    status = draw(st.sampled_from(["final", "final", "final", "entered-in-error", "cancelled"]))
    words = draw(phrase)
    if kind == "encounter":
        return {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"}}
    if kind == "condition":
        coding = {"system": "http://hl7.org/fhir/sid/icd-10", "code": draw(st.sampled_from(["Q87.4", "M41.9"]))}
        return {"resourceType": "Condition", "code": {"coding": [coding], "text": words}, "subject": subject}
    if kind == "age":
        code = {"coding": [{"system": "http://loinc.org", "code": "30525-0", "display": "Age"}]}
        return {
            "resourceType": "Observation",
            "status": "final",
            "code": code,
            "valueQuantity": {"value": draw(st.integers(0, 90)), "unit": "a", "system": "http://unitsofmeasure.org"},
            "subject": subject,
        }
    observation: dict[str, object] = {"resourceType": "Observation", "status": status, "subject": subject}
    if kind == "hpo":
        term = draw(st.sampled_from(["HP:0001166", "HP:0001083", "HP:0000098", "HP:0001250"]))
        observation["code"] = {"coding": [{"system": HPO_SYSTEM, "code": term}], "text": words}
        if draw(st.booleans()):
            observation["valueBoolean"] = False
    elif kind == "snomed":
        code = draw(st.sampled_from(["74969002", "62250003", "111266001", "12345678"]))
        observation["code"] = {"coding": [{"system": "http://snomed.info/sct", "code": code, "display": words}]}
    elif kind == "loinc":
        observation["code"] = {"coding": [{"system": "http://loinc.org", "code": "8302-2", "display": "Body height"}]}
        observation["valueQuantity"] = {"value": draw(st.integers(40, 210)), "unit": "cm"}
    else:
        observation["code"] = {"text": words}
    return observation


@PROPERTY_SETTINGS
@given(resources=st.lists(bundle_resources(), max_size=8))
def test_every_bundle_entry_is_mapped_or_listed_once(resources: list[dict[str, object]]) -> None:
    anchor = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": HPO_SYSTEM, "code": "HP:0001166"}]},
        "subject": {"reference": "Patient/p1"},
    }
    patient = {"resourceType": "Patient", "id": "p1", "gender": "female"}
    entries = [{"resource": r} for r in [patient, anchor, *resources]]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    prepared = intake(
        CaseInput(bundle=json.dumps(bundle).encode()), pseudonymiser=Pseudonymiser("k" * 20), fallback_id="x"
    )
    account = prepared.account
    mapped = [m.path for m in account.mapped]
    listed = [n.path for n in account.not_understood]
    # Every entry, the Patient's too (read for sex and age: a user test found it in no account, 299 of 300 entries).
    for index, entry in enumerate(entries):
        path = f"entry[{index}].resource"
        assert (path in mapped) != (path in listed), (path, entry, account)
        assert listed.count(path) <= 1
    assert set(mapped) | set(listed) <= {f"entry[{i}].resource" for i in range(len(entries))}
