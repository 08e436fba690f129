"""The account of an input: what the intake understood of each thing the caller entered, and what it did not.

The ``Case`` is what a policy may see; the account is what a clinician and an auditor need to trust it.
Every input item (a finding of a findings list, a segment of a note, a finding or condition of a bundle)
ends up either *mapped* (an HPO term, where it came from, and what the words assert of it) or *not
understood* (where it is, and why), never dropped in silence. The account travels in the trace and the
audit record, so it is free of PHI: an item of a note is given by its character span in the note, never
by its words; findings-list and bundle items keep the label the caller gave (the trace already holds
finding labels).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.cases import Finding, Sex, duration_years
from dxsearch.intake.abbreviation_context import abbreviation_candidates, symptom_initial_candidates
from dxsearch.intake.abbreviation_definitions import ShortFormUse, definitions, short_form_uses
from dxsearch.intake.abilities import ability_candidates
from dxsearch.intake.checklists import checklist_candidates
from dxsearch.intake.demographics import Demographics, read_demographics
from dxsearch.intake.gestation import gestation_candidates
from dxsearch.intake.labs import lab_candidates
from dxsearch.intake.onsets import onset_candidates
from dxsearch.intake.quantities import count_candidates, quantity_candidates, stature_candidates
from dxsearch.intake.strength import strength_candidates
from dxsearch.knowledge.clinical_phrases import UNMAPPED_PHRASES
from dxsearch.knowledge.context_lookup import ItemKind, case_modes, case_onset, get_context_lookup, kind_of
from dxsearch.knowledge.hpo import HP_OBO, HpoKnowledge
from dxsearch.knowledge.term_lookup import (
    ASSERTION_ORDER,
    POST_HISTORICAL,
    Assertion,
    Candidate,
    ExtractedTerm,
    TermLookup,
    family_sections,
    normalise,
    obo_stanzas,
    reading_word,
    relative_age_asides,
    said_of_a_relative,
    speaks_of_a_relative,
)

__all__ = [
    "DENIED_OF_A_RELATIVE",
    "ENTRY_CATEGORIES",
    "NOT_A_FINDING",
    "NOT_A_FINDING_POSSIBLE",
    "NOT_A_FINDING_RULED_OUT",
    "NO_LOINC_DIRECTION_TERM",
    "NO_LOINC_MAPPING",
    "NO_TERM",
    "OBSOLETE_KEPT",
    "OBSOLETE_READ_BY_WORDS",
    "OBSOLETE_REPLACED",
    "UNDERSTOOD_NOT_A_FINDING",
    "UNKNOWN_ID",
    "Assertion",
    "EntryCategory",
    "InputAccount",
    "MappedItem",
    "NotUnderstood",
    "Reading",
    "given_term_id",
    "obsolete_note",
    "read_by_words",
    "read_items",
    "read_text",
    "understood_not_a_finding",
]

#: Why an item was not understood: its words name no HPO phenotype the dictionary knows.
NO_TERM = "no HPO term matches these words"
#: Why an item whose own HPO id is no term was not understood (its words named none either).
UNKNOWN_ID = "{term_id} is not a term of the HPO release DxSearch uses, and " + NO_TERM
#: Terms that name a branch of HPO, not anything of a patient: the root, "Phenotypic abnormality", the roots of
#: the inheritance, onset, course, modifier and frequency branches. Entered as findings they would swell
#: every "explains n/m" and match every disease.
NO_FINDING_TERMS = frozenset(
    {"HP:0000001", "HP:0000118", "HP:0000005", "HP:0003674", "HP:0031797", "HP:0012823", "HP:0040279"}
)
NAMES_NO_FINDING = "{term_id} ({name}) names a branch of HPO, not a finding: give the finding itself"
#: Why words naming no term, said of a relative, are no finding of the patient (and not searched for).
OF_A_RELATIVE = "said of a relative, and names no HPO term: not a finding of the patient"
#: Why a finding a note denies of a relative ("Mum has no muscle problems") is in no case: the patient's it is
#: not, and "a relative's" would say the relative has it.
DENIED_OF_A_RELATIVE = "said of a relative, who does not have it: not a finding of the patient, nor of the family"
#: What the account says of an obsolete HPO id given with an item, read as the term HPO replaced it by.
OBSOLETE_REPLACED = "{given} ({name}) is obsolete in HPO, replaced by {term_id} ({term}): read as {term_id}"
#: ... and of one HPO replaced whose label names the findings it bundled (:func:`read_by_words`), read by its words.
OBSOLETE_READ_BY_WORDS = (
    "{given} ({name}) is obsolete in HPO, replaced by {term_id} ({term}); the words given name the findings it "
    "bundled and are read as such"
)
#: ... and of one HPO retired without a replacement (``consider:`` only): kept, and what HPO suggests named.
OBSOLETE_KEPT = "{given} ({name}) is obsolete in HPO, which names no replacement ({consider}): kept as given"
#: Why a bundle condition is not a finding: it names a diagnosis (history), not a phenotype.
NOT_A_FINDING = "a Condition names a diagnosis, not a phenotype: kept out of the findings"
NOT_A_FINDING_POSSIBLE = (
    "a Condition names a possible diagnosis (unconfirmed), not a phenotype: kept out of the findings"
)
NOT_A_FINDING_RULED_OUT = "a Condition names a ruled-out diagnosis, not a phenotype: kept out of the findings"
#: What kind of entry of the account's ``not_understood`` an item is (:attr:`NotUnderstood.category`): consumers (the
#: command line, the viewer) sort and flag entries by it, never by their reason's words, which may be reworded.
EntryCategory = Literal[
    "not_understood",
    "of_a_relative",
    "denied_of_a_relative",
    "diagnosis",
    "possible_diagnosis",
    "ruled_out_diagnosis",
    "repeat",
    "contradicted",
    "age_source",
]
#: What each category means, as the API's schema says it (and a test checks every category is said).
ENTRY_CATEGORIES: dict[EntryCategory, str] = {
    "not_understood": "not understood, or not used for the reason given: words naming no HPO term (maybe searched "
    "by their words), an unknown HPO id, a bundle entry set aside (a resource type not read, a normal result, a "
    "qualifier, an entry about another patient), an age or sex the words state that is not used (an age no one can "
    "be, or one the input gives otherwise)",
    "of_a_relative": "words said of a relative that name no HPO term: not a finding of the patient",
    "denied_of_a_relative": "a finding said of a relative who does not have it: nobody's finding",
    "diagnosis": "a Condition naming a diagnosis on record (not a phenotype): kept out of the findings",
    "possible_diagnosis": "a Condition naming a possible (unconfirmed) diagnosis: kept out of the findings",
    "ruled_out_diagnosis": "a Condition naming a ruled-out diagnosis: kept out of the findings",
    "repeat": "a repeat of a finding already read: counted once",
    "contradicted": "the absent side of a present/absent contradiction: present kept, this statement not read",
    "age_source": "where the age came from, read and not a finding: the Patient entry (its sex and age, and the "
    "date its age was counted to), an age Observation, an age counted to a death, a partial birth date's age "
    "counted from its middle",
}
#: Categories of entries read, and understood, that are no finding of the patient: a diagnosis on record
#: (confirmed, possible, ruled out), a repeat of a finding, the side of a contradiction not kept, an age read from
#: an Observation or counted to a death. "Not understood" is the wrong heading for them.
UNDERSTOOD_NOT_A_FINDING: frozenset[EntryCategory] = frozenset(
    {"diagnosis", "possible_diagnosis", "ruled_out_diagnosis", "repeat", "contradicted", "age_source"}
)


def understood_not_a_finding(item: NotUnderstood) -> bool:
    """Whether an account entry listed beside what was not understood was in fact read, and is only no finding
    of the patient (a diagnosis on record, a duplicate, a contradicted statement, where an age came from): its
    :attr:`~NotUnderstood.category`, never its reason's words."""
    return item.category in UNDERSTOOD_NOT_A_FINDING


#: Why a LOINC-coded measurement maps to no HPO term: no LOINC-to-HPO table is available offline (loinc2hpo's
#: annotations ship in no package registry), and without an interpretation a value names no phenotype.
NO_LOINC_MAPPING = (
    "a LOINC-coded measurement with no interpretation (high / low / abnormal): no offline LOINC-to-HPO "
    "mapping, and a value alone names no phenotype; kept by its words only"
)
#: Why a LOINC-coded measurement read as high / low / abnormal maps to no HPO term (``{...}`` filled in).
NO_LOINC_DIRECTION_TERM = (
    "a LOINC-coded measurement of {measurement}, {direction}: no HPO term maps from it (neither the LOINC table "
    "nor HPO's names of such findings has one); kept by its words only"
)
#: Assertions that describe the patient's own findings (observed or excluded); others stay in the account only.
PATIENT_ASSERTIONS: frozenset[Assertion] = frozenset({"present", "historical", "absent"})
#: Assertions under which a mode of inheritance or an onset is the patient's: said of them, not denied, not
#: guessed. A mode under a family-history cue stays in the account only: "family history of autosomal
#: dominant polycystic kidney disease" names a relative's disease, not the patient's, and a wrong mode
#: weighs hard against every disease with another one.
CONTEXT_ASSERTIONS: frozenset[Assertion] = frozenset({"present", "historical"})

Span = tuple[int, int]
#: Where age or sex came from: ``given`` (a field of the request), ``bundle``, ``today`` (a bundle's birth date counted
#: to today: nothing in the bundle dated it), ``text`` or a findings item path.
DemographicSource = str


class MappedItem(BaseModel):
    """An input item (or part of one) understood as an HPO term.

    ``path`` says which input it came from (``text``, ``findings[3]``, a bundle's ``entry[4].resource`` or
    ``bundle.conditions[0]``); ``span`` is ``[start, end]`` in the note (``text``) or in the label given.
    ``given`` is the label the caller gave, for list and bundle items only (never words of a note).
    ``kind`` says what the term is: a phenotypic ``finding`` the diseases are matched against, or a mode of
    ``inheritance`` or an ``onset``, which the case carries beside its findings (``Case.inheritance``,
    ``Case.onset``) for the likelihood-ratio scorer's inheritance and onset factors.
    """

    model_config = ConfigDict(frozen=True)

    path: str
    span: Span | None = None
    given: str | None = None
    hpo_id: str = Field(pattern=r"^HP:\d{7}$")
    label: str = Field(description="The HPO term's name.")
    assertion: Assertion
    kind: ItemKind = "finding"
    id_note: str | None = Field(
        default=None,
        description=(
            "What became of the HPO id the caller gave, when it is obsolete: the term it was read as "
            "(:data:`OBSOLETE_REPLACED`, :data:`OBSOLETE_READ_BY_WORDS`), or kept for want of a replacement "
            "(:data:`OBSOLETE_KEPT`)."
        ),
    )
    from_value: bool = Field(
        default=False,
        description=(
            "Read from a stated value, not named in the words: a measurement against the population ('OFC 42 cm "
            "(-3 SD)' is Microcephaly), a milestone's age ('walked at 3 years'), an IQ, an onset's age ('seizures "
            "began at 6 months' is Infantile onset)."
        ),
    )


class NotUnderstood(BaseModel):
    """An input item (or part of one) the intake could not use, and why; ``category`` says what kind of entry it
    is, for consumers to sort by (the reason is words for people, and may be reworded)."""

    model_config = ConfigDict(frozen=True)

    path: str = Field(
        description="Which input it came from: `text`, `findings[3]`, a bundle element (`entry[4].resource`, "
        "`entry[4].resource.component[1]`, `entry[4].resource.contained[0]`) or `bundle.conditions[0]`."
    )
    span: Span | None = Field(default=None, description="[start, end] in the note (`text`) or in the label given.")
    given: str | None = Field(
        default=None, description="The label the caller gave, for list and bundle items only (never words of a note)."
    )
    reason: str = Field(description="Why it was not used, in words for people (not to be parsed: see `category`).")
    category: EntryCategory = Field(
        default="not_understood",
        description="What kind of entry this is: "
        + "; ".join(f"`{name}`: {meaning}" for name, meaning in ENTRY_CATEGORIES.items())
        + ". Read, and no finding of the patient: "
        + ", ".join(f"`{name}`" for name in ENTRY_CATEGORIES if name in UNDERSTOOD_NOT_A_FINDING)
        + ".",
    )
    words_searched: bool = Field(
        default=False,
        description="Kept in the case by its words alone: retrieval searches them, no HPO-based scoring reads them.",
    )


class InputAccount(BaseModel):
    """Every input item, mapped or not understood, and where age and sex came from."""

    model_config = ConfigDict(frozen=True)

    source: Literal["text", "findings", "bundle"]
    mapped: tuple[MappedItem, ...] = ()
    not_understood: tuple[NotUnderstood, ...] = ()
    age: str | None = None
    age_from: DemographicSource | None = None
    age_span: Span | None = Field(default=None, description="Where in the note the age was read, if from text.")
    sex: Sex = "unknown"
    sex_from: DemographicSource | None = None
    sex_span: Span | None = Field(default=None, description="Where in the note the sex was read, if from text.")

    @property
    def items(self) -> int:
        """How many input items (or parts of items) the account covers: one per path and span."""
        return len({(m.path, m.span) for m in self.mapped} | {(n.path, n.span) for n in self.not_understood})


class SecondReader(Protocol):
    """A second recogniser of HPO terms in text: it proposes spans, the dictionary's reading decides."""

    def candidates(self, text: str) -> list[Candidate]: ...


@dataclass(frozen=True, slots=True)
class ItemIn:
    """One item as entered: a label, maybe an HPO id, maybe excluded (duck-typed from the intake's inputs)."""

    label: str
    hpo_id: str | None = None
    excluded: bool = False
    #: What the source says of it beyond present / excluded (a FHIR Condition "provisional" is ``uncertain``,
    #: "resolved" ``historical``); excluded wins. Only ``present``, ``historical`` and ``absent`` make findings.
    assertion: Assertion | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """Findings for the case, with the account entries they came from, and age and sex the words gave.

    ``demographics`` spans index the text of ``demographics_path`` (``text`` or a findings item), given with the
    label ``demographics_given`` when it is an item (what account entries of the item carry).
    ``inheritance`` and ``onset`` are what the words say of the patient's disease (:func:`case_context`).
    """

    findings: tuple[Finding, ...]
    mapped: tuple[MappedItem, ...]
    not_understood: tuple[NotUnderstood, ...]
    demographics: Demographics = field(default_factory=Demographics)
    demographics_path: str | None = None
    demographics_given: str | None = None
    inheritance: tuple[str, ...] = ()
    onset: str | None = None


def case_context(mapped: Sequence[MappedItem], knowledge: HpoKnowledge) -> tuple[tuple[str, ...], str | None]:
    """The modes of inheritance and the onset a case carries, from the account's mapped items.

    Modes: the Mendelian ones asserted of the patient (:func:`case_modes`); onset: the earliest asserted
    (:func:`case_onset`), when the disease began.
    """
    said = [m for m in mapped if m.assertion in CONTEXT_ASSERTIONS]
    modes = case_modes(knowledge, [m.hpo_id for m in said if m.kind == "inheritance"])
    return modes, case_onset([m.hpo_id for m in said if m.kind == "onset"])


def read_items(
    items: Sequence[ItemIn],
    lookup: TermLookup,
    knowledge: HpoKnowledge,
    *,
    prefix: str = "findings",
    paths: Sequence[str] | None = None,
    split_lists: bool = True,
    age: str | None = None,
) -> Reading:
    """Findings of a findings list: each item mapped (by its id, its whole label, or terms in its words) or not.

    An item whose whole label is no term but which holds a list ("tall stature, arachnodactyly; lens
    dislocation") is read part by part, parts joined back where the joined words are a term (some HPO
    names hold a comma). A part that is an age and sex ("14-year-old boy") gives the case's demographics.
    A part whose words name no term is kept as a finding with its label only (retrieval can still use
    the words) and listed as not understood. Every item yields at least one account entry or demographic.
    ``paths`` name the items (default ``prefix[i]``); ``split_lists=False`` reads each label whole
    (a bundle's "Blood pressure: 150/95 mmHg (high, abnormal)" is one item, not a list).
    An item (or part) that is a mode of inheritance or an onset ("Autosomal dominant inheritance",
    HP:0000006) is mapped with that kind and carried by the case beside the findings, not as a finding.
    ``age`` (ISO 8601), the patient's, dates the milestones items state ("not yet walking", "cannot walk").
    """
    findings: list[Finding] = []
    mapped: list[MappedItem] = []
    missed: list[NotUnderstood] = []
    demographics, demographics_path, demographics_given = Demographics(), None, None
    context = get_context_lookup()
    notes: dict[str, tuple[str | None, str]] = {}  # path -> (its term id, or None: all its terms; the note)
    for index, item in enumerate(items):
        path = paths[index] if paths is not None else f"{prefix}[{index}]"
        forced: Assertion | None = "absent" if item.excluded else item.assertion
        given_id, unknown_id = given_term_id(item.hpo_id, knowledge)
        note = obsolete_note(item.hpo_id, given_id, knowledge)
        if note is not None:
            notes[path] = (given_id, note)
        root = _root_named(item.label, knowledge)
        # A label that is only the id ("HP:0000118", a bundle's coding with no display) says no finding either.
        own_words = item.label.strip() and normalise(item.label) != normalise(item.hpo_id or "")
        if given_id in NO_FINDING_TERMS and root is None and own_words:
            given_id = None  # "Seizure" with HP:0000118: the label says what the finding is
        elif given_id in NO_FINDING_TERMS or (given_id is None and root is not None):
            named = given_id or root or ""
            reason = NAMES_NO_FINDING.format(term_id=named, name=knowledge.term_name(named))
            missed.append(NotUnderstood(path=path, span=(0, len(item.label)), given=item.label, reason=reason))
            continue
        if (
            given_id is not None
            and item.hpo_id is not None
            and read_by_words(item.label, item.hpo_id, lookup, knowledge)
        ):
            # A retired bundle ("Low-set, posteriorly rotated ears", HP:0000368, now Posteriorly rotated ears
            # alone): its words name each feature, as HPO advises for such terms, so they are read.
            name, term = knowledge.term_name(item.hpo_id), knowledge.term_name(given_id)
            said = OBSOLETE_READ_BY_WORDS.format(given=item.hpo_id, name=name, term_id=given_id, term=term)
            notes[path] = (None, said)
            given_id = None
        # "?hypotonia", "Seizures (?)": a question, read as a note's words are (uncertain), never as the whole term.
        asked = "?" in item.label
        term_id = given_id or (None if asked else lookup.lookup(item.label) or context.lookup(item.label))
        if term_id is not None and kind_of(knowledge, term_id) != "finding":
            mapped.append(_mapped(path, (0, len(item.label)), item.label, term_id, forced or "present", knowledge))
            continue
        if term_id is not None:
            if forced is None and term_id == given_id:
                forced = label_says(item.label, term_id, lookup, knowledge)  # "no seizures", HP:0001250: absent
            if (forced or "present") in PATIENT_ASSERTIONS:
                findings.append(Finding(label=item.label, hpo_id=term_id, excluded=item.excluded or forced == "absent"))
            whole = (0, len(item.label))
            mapped.append(_mapped(path, whole, item.label, term_id, forced or "present", knowledge))
            continue
        whole_label = [((0, len(item.label)), False)]
        for (start, end), shared in _list_parts(item.label, lookup) if split_lists else whole_label:
            words = item.label[start:end]
            if start > 0 or end < len(item.label):
                term_id = None if "?" in words else lookup.lookup(words)
                context_id = context.lookup(words) if term_id is None else None
                if context_id is not None:
                    mapped.append(_mapped(path, (start, end), item.label, context_id, forced or "present", knowledge))
                    continue
                if term_id is not None:
                    findings.append(Finding(label=words, hpo_id=term_id, excluded=item.excluded))
                    mapped.append(_mapped(path, (start, end), item.label, term_id, forced or "present", knowledge))
                    continue
            read = read_demographics(words)
            if read.age is not None and demographics.age is None:
                demographics, demographics_path, demographics_given = _shifted(read, start), path, item.label
            missed += _age_not_read(_shifted(read, start), path, item.label)  # "200-year-old man"
            age_months = _months(age or demographics.age or read.age)
            # "CK 15,000 U/L", "Na 118 mmol/L", "ALT raised": a list item is a laboratory result as a note's is; not a
            # bundle's Observation, whose interpretation the FHIR reader has read already (its words repeat it)
            labs = lab_candidates(words, lookup, age_months) if split_lists else []
            read_values = [*quantity_candidates(words, age_months), *labs]
            abilities = ability_candidates(words, age_months)
            mentions = _best_per_term(lookup.mentions(words, stated=[*read_values, *abilities]))
            values = {(start + a, start + b, term) for a, b, term in read_values}
            stated = _best_per_term(context.mentions(words))  # "mother affected, autosomal dominant pattern"
            covered = [(m.start, m.end) for m in (*mentions, *stated)] + [(a, b) for a, b, _ in read_values]
            covered += [span for span in read.spans if span is not None]
            # "Arachnodactyly John Smith": words beside the terms that no HPO name uses may be anything typed into the
            # wrong box (a name, an NHS number). The terms are read; the item's words are kept nowhere (``given``
            # and the finding's label hold only what was read), as a note's are.
            leftover = bool(mentions or stated) and _has_leftover(words, covered, lookup)
            given = None if leftover else item.label
            for mention in mentions:
                assertion = forced or mention.assertion
                span = (start + mention.start, start + mention.end)
                if assertion == "family_history" and mention.excluded:
                    # "no family history of sudden death", "Mum has no muscle problems": nobody's finding
                    missed.append(
                        NotUnderstood(
                            path=path,
                            span=span,
                            given=item.label,
                            reason=DENIED_OF_A_RELATIVE,
                            category="denied_of_a_relative",
                        )
                    )
                    continue
                if assertion in PATIENT_ASSERTIONS:
                    # One term in the words: the finding keeps the caller's words; several, or words beside it no
                    # term uses: each its own words.
                    label = words if len(mentions) == 1 and not leftover else mention.label
                    findings.append(Finding(label=label, hpo_id=mention.term_id, excluded=assertion == "absent"))
                # Modifiers sharing one head ("Low-set, posteriorly rotated ears") are one item read as several terms.
                span = (start, end) if shared else span
                mapped.append(_mapped(path, span, given, mention.term_id, assertion, knowledge, values))
            for mention in stated:
                span = (start + mention.start, start + mention.end)
                assertion = forced or mention.assertion
                mapped.append(_mapped(path, span, given, mention.term_id, assertion, knowledge))
            if mentions or stated:
                continue
            if (read.age is not None or read.age_not_read is not None) and not _has_content(words, read.spans):
                continue  # an age (and sex) and nothing else: accounted for as demographics, or as an age not read
            if speaks_of_a_relative(words):  # "father has Marfan syndrome": not the patient's, not searched for
                missed.append(
                    NotUnderstood(
                        path=path, span=(start, end), given=item.label, reason=OF_A_RELATIVE, category="of_a_relative"
                    )
                )
                continue
            findings.append(Finding(label=words, excluded=item.excluded))
            reason = no_term_reason(words) if unknown_id is None else UNKNOWN_ID.format(term_id=unknown_id)
            missed.append(
                NotUnderstood(path=path, span=(start, end), given=item.label, reason=reason, words_searched=True)
            )
    for at, entry in enumerate(mapped):
        term_id, note = notes.get(entry.path, (None, None))
        if note is not None and term_id in (None, entry.hpo_id):
            mapped[at] = entry.model_copy(update={"id_note": note})
    modes, onset = case_context(mapped, knowledge)
    return Reading(
        tuple(findings), tuple(mapped), tuple(missed), demographics, demographics_path, demographics_given, modes, onset
    )


def label_says(label: str, term_id: str, lookup: TermLookup, knowledge: HpoKnowledge) -> Assertion | None:
    """What the words of a label given with an HPO id say of the finding, when they say more than its name.

    A user test gave ``{"label": "no seizures", "hpo_id": "HP:0001250"}``, "FHx: deafness", "?hypotonia", "Ptosis?
    No." and "h/o seizures", each with its id: all were read present, while the same labels without an id were
    read absent, a relative's, uncertain and historical. The id says which finding; the words still say whether
    the patient has it, by the note's rules. ``None`` when no mention in the words is other than present, or
    when the label is a name of ``term_id`` (its HPO name, or one the dictionary reads whole, with no "?"), or one
    mention is the whole label: a name whose own words hold a cue ("Family history of cancer", "Partial absence
    of specific antibody response to hepatitis B vaccine": 5 of HPO's 19,487 names) says nothing more.
    """
    if label.strip().casefold() == knowledge.term_name(term_id).casefold():
        return None
    if "?" not in label and lookup.lookup(label) == term_id:
        return None
    mentions = lookup.mentions(label)
    whole = (len(label) - len(label.lstrip()), len(label.rstrip()))
    if any((mention.start, mention.end) == whole for mention in mentions):
        return None
    # The mentions of the given term say it; another term's ("Seizures, no ataxia" given as Ataxia: the seizures
    # are no word on the ataxia) only when it is the one mention (a synonym the id names otherwise).
    own = [mention for mention in mentions if mention.term_id == term_id]
    said = [mention.assertion for mention in (own or (mentions if len(mentions) == 1 else []))]
    return None if not said or "present" in said else said[0]


def read_by_words(label: str, given: str, lookup: TermLookup, knowledge: HpoKnowledge) -> bool:
    """Whether an item given with an obsolete id HPO replaced is read by its words: they name terms the obsolete
    term's own name names, not its replacement alone. HP:0000368 "Low-set, posteriorly rotated ears" bundled two
    findings, and HPO, retiring it for Posteriorly rotated ears, advises coding each: the label "Low-set,
    posteriorly rotated ears" reads both, "Low-set ears" Low-set ears; other words keep the replacement."""
    replacement = knowledge.current_id(given) if knowledge.has_term(given) else None
    if replacement is None or replacement == given:
        return False
    named = {m.term_id for m in lookup.mentions(label) if m.assertion == "present"}
    bundled = {m.term_id for m in lookup.mentions(knowledge.term_name(given).removeprefix("obsolete "))}
    return bool(named) and named != {replacement} and named <= bundled


#: A comma between thousands separates nothing: "Creatine kinase 15,000 U/L" is one item.
_THOUSANDS_COMMA = r"(?<=\d),(?=\d{3}(?!\d))"
_LIST_SEPARATOR = re.compile(rf"(?!{_THOUSANDS_COMMA})[,;\n•·]|(?:^|(?<=\s))[-*](?=\s)")


def list_parts(label: str, lookup: TermLookup) -> list[Span]:
    """Spans of the items of a list in ``label`` (commas, semicolons, bullets, new lines); one span if no list.

    Neighbouring parts are joined back when their joined words are a term of the dictionary, longest
    join first, so a term that holds a comma stays one part; and when they list modifiers of one head
    ("Low-set, posteriorly rotated ears", :func:`_shared_head`).
    """
    return [span for span, _ in _list_parts(label, lookup)]


def _list_parts(label: str, lookup: TermLookup) -> list[tuple[Span, bool]]:
    """:func:`list_parts`, each span with whether it joins modifiers sharing one head (one item, several terms)."""
    pieces: list[Span] = []
    start = 0
    for match in [*_LIST_SEPARATOR.finditer(label), None]:
        end = match.start() if match is not None else len(label)
        piece = label[start:end]
        if piece.strip(" \t\n.-*"):
            left = start + len(piece) - len(piece.lstrip(" \t\n-*"))
            pieces.append((left, start + len(piece.rstrip(" \t\n."))))
        if match is not None:
            start = match.end()
    if len(pieces) <= 1:
        stripped = label.strip()
        return [((label.index(stripped), label.index(stripped) + len(stripped)), False)] if stripped else []
    parts: list[tuple[Span, bool]] = []
    i = 0
    while i < len(pieces):
        j = next(
            (j for j in range(len(pieces) - 1, i, -1) if lookup.lookup(label[pieces[i][0] : pieces[j][1]])),
            i,
        )
        shared = False
        if j == i:
            j = _shared_head(label, pieces, i, lookup)
            shared = j > i
        parts.append(((pieces[i][0], pieces[j][1]), shared))
        i = j + 1
    return parts


#: Most modifiers a list of them may put before one head ("large, low-set, posteriorly rotated ears": two).
_MAX_LISTED_MODIFIERS = 3


def _shared_head(label: str, pieces: Sequence[Span], i: int, lookup: TermLookup) -> int:
    """The last piece of a list of modifiers sharing the head of the piece that ends it, from piece ``i``, else ``i``.

    "Low-set, posteriorly rotated ears": "Low-set" names nothing alone, but the words joined read Low-set ears
    beside Posteriorly rotated ears (:meth:`TermLookup.mentions` shares the head), so the pieces are one item.
    Only where each piece before the last names nothing alone and is read, joined, as part of a term.
    """
    if lookup.lookup(label[pieces[i][0] : pieces[i][1]]) or lookup.mentions(label[pieces[i][0] : pieces[i][1]]):
        return i
    for j in range(i + 1, min(len(pieces), i + _MAX_LISTED_MODIFIERS + 1)):
        start = pieces[i][0]
        read = [(m.start + start, m.end + start) for m in lookup.mentions(label[start : pieces[j][1]])]
        if all(any(a < piece[1] and piece[0] < b for a, b in read) for piece in pieces[i : j + 1]):
            return j
        middle = label[pieces[j][0] : pieces[j][1]]
        if lookup.lookup(middle) or lookup.mentions(middle):
            break  # a piece that names something alone ends the run of modifiers
    return i


def _has_leftover(words: str, covered: Sequence[Span], lookup: TermLookup) -> bool:
    """Whether ``words`` hold, outside what was read (``covered``), a word no HPO name uses or a number of 3+
    digits ("Arachnodactyly John Smith"): words neither read nor needed to read the item, which may be anything
    typed into the wrong box (a name, an NHS number). Modifiers ("severe", "bilateral") and values read are not."""
    return any(not any(a <= start < b for a, b in covered) for start, _ in lookup.unknown_words(words))


def _has_content(words: str, covered: Sequence[Span]) -> bool:
    """Whether ``words`` hold a word outside the ``covered`` spans."""
    return any(not any(a <= match.start() < b for a, b in covered) for match in _CONTENT_WORD.finditer(words))


def _shifted(read: Demographics, offset: int) -> Demographics:
    def shift(span: Span | None) -> Span | None:
        return None if span is None else (span[0] + offset, span[1] + offset)

    return replace(
        read,
        age_span=shift(read.age_span),
        sex_span=shift(read.sex_span),
        age_not_read_span=shift(read.age_not_read_span),
    )


def read_text(
    text: str,
    lookup: TermLookup,
    knowledge: HpoKnowledge,
    second: SecondReader | None = None,
    context: TermLookup | None = None,
    age: str | None = None,
) -> Reading:
    """Findings of a note, every mention in the account, age and sex, and every segment with none as not understood.

    A segment (a line, a sentence, a list item between commas, semicolons or bullets) that holds words but
    no mention and no age or sex is listed as not understood, by its span only. ``second`` proposes
    more mentions (``dxsearch.intake.second_reader``); the dictionary decides their assertion.
    ``context`` (default :func:`get_context_lookup`) reads modes of inheritance and onsets ("autosomal
    dominant", "since infancy"): mapped with their kind, carried by the reading, never findings.
    ``age`` (ISO 8601), the age the caller gave, wins over the note's for milestones ("is not yet walking").
    """
    demographics = read_demographics(text)
    proposed = second.candidates(text) if second is not None else ()
    age_months = _months(age or demographics.age)
    # Values, missing abilities and template items are mentions the dictionary cannot spell: "OFC 42 cm (-3 SD)",
    # "cannot walk", "Hearing: impaired".
    values = [
        *quantity_candidates(text, age_months),
        *lab_candidates(text, lookup, age_months),
        *gestation_candidates(text),
    ]
    values += strength_candidates(text)
    values += count_candidates(text, lookup)  # ">6 cafe-au-lait macules": Multiple cafe-au-lait spots
    unspelled = [*values, *ability_candidates(text, age_months), *checklist_candidates(text, lookup)]
    unspelled += symptom_initial_candidates(text)  # "N/V": nausea and vomiting, one letter each
    unspelled += stature_candidates(text)  # "He is tall (196 cm, >99th centile)": named, not a value
    mentions = lookup.mentions(text, proposed, stated=unspelled)
    # "ASD" beside "VSD" or beside "autism": read again with the meaning the findings around it give.
    resolved = abbreviation_candidates(text, mentions, knowledge)
    if resolved:
        mentions = lookup.mentions(text, proposed, stated=[*unspelled, *resolved])
    # "hepatitis A (HA)": the note says what its "HA" means, and it is no headache.
    uses = short_form_uses(text, definitions(text))
    defined_spans: list[Span] = []
    if uses:
        mentions, defined_spans = _read_as_defined(text, lookup, proposed, [*unspelled, *resolved], mentions, uses)
    # The onset stated by an age ("seizures began at 6 months"), beside the onset's names the context reads.
    onsets = onset_candidates(text)
    stated = (context if context is not None else get_context_lookup()).mentions(text, stated=onsets)
    findings: list[Finding] = []
    known: set[str] = set()
    for mention in _best_per_term(mentions):
        if mention.assertion in PATIENT_ASSERTIONS and mention.term_id not in known:
            label = _closed(mention.label, text, mention.end)
            findings.append(Finding(label=label, hpo_id=mention.term_id, excluded=mention.excluded))
            known.add(mention.term_id)
    # "Mum has no muscle problems": a relative's denied finding is neither the patient's nor the family's.
    denied_by_relative = [m for m in mentions if m.assertion == "family_history" and m.excluded]
    mapped = tuple(
        _mapped("text", (m.start, m.end), None, m.term_id, m.assertion, knowledge, [*values, *onsets])
        for m in sorted([*mentions, *stated], key=lambda m: m.start)
        if m not in denied_by_relative
    )
    used = [(m.start, m.end) for m in [*mentions, *stated]] + demographics.spans + defined_spans
    used += relative_age_asides(text)  # "His mother, now 34, has ...": the relative and her age say whose
    sections = family_sections(text)
    members = unread_members(text, used)
    missed = tuple(
        sorted(
            [
                *_age_not_read(demographics),
                *(
                    # "Father has NF1": a relative's diagnosis names no finding of the patient, and "no HPO term
                    # matches" would send the clinician looking for a spelling fault that is not there.
                    _unread(text, span, of_a_relative=said_of_a_relative(text, span, sections))
                    for span in segments(text)
                    if not any(start < span[1] and span[0] < end for start, end in used)
                    and not _said_of_the_last(text, span, used)
                ),
                # "no family history of Marfan syndrome or sudden cardiac death": a list member that names nothing,
                # in a segment another member's mention covers, is listed too (it vanished before).
                *(_unread(text, span, of_a_relative=_beside_a_relatives(text, span, mentions)) for span in members),
                # "4yo with N/V and HA x3 days": words no HPO name and no cue uses, beside what was read in their
                # segment, are listed too: only whole segments were, and these vanished from the account.
                *(
                    _unread(
                        text,
                        span,
                        of_a_relative=said_of_a_relative(text, span, sections)
                        or _beside_a_relatives(text, span, mentions),
                    )
                    for span in unread_words(text, [*used, *members])
                ),
                *(
                    NotUnderstood(
                        path="text",
                        span=(m.start, m.end),
                        reason=DENIED_OF_A_RELATIVE,
                        category="denied_of_a_relative",
                    )
                    for m in denied_by_relative
                ),
            ],
            key=lambda n: n.span or (0, 0),
        )
    )
    modes, onset = case_context(mapped, knowledge)
    # The sex alone ("He has seizures. His gait is ataxic.") came from the note too: the account said from nowhere.
    read_any = demographics.age is not None or demographics.sex is not None
    return Reading(
        tuple(findings), mapped, missed, demographics, "text" if read_any else None, inheritance=modes, onset=onset
    )


def _age_not_read(demographics: Demographics, path: str = "text", given: str | None = None) -> list[NotUnderstood]:
    """The account entry of an age the words at ``path`` state and that is not read ("200-year-old man": not
    plausible); ``given``: the item's label, for a findings item."""
    if demographics.age_not_read is None or demographics.age_not_read_span is None:
        return []
    span = demographics.age_not_read_span
    return [NotUnderstood(path=path, span=span, given=given, reason=demographics.age_not_read)]


#: What ends the statement an unread word shares with a relative's finding.
_STATEMENT_END = re.compile(r"[.;!?\n]")


def _unread(text: str, span: Span, *, of_a_relative: bool) -> NotUnderstood:
    """The account entry of a note's words read into nothing: said of a relative (:data:`OF_A_RELATIVE`), else
    naming no HPO term (:data:`NO_TERM`), or a phrase left out on purpose (:func:`no_term_reason`)."""
    if of_a_relative:
        return NotUnderstood(path="text", span=span, reason=OF_A_RELATIVE, category="of_a_relative")
    return NotUnderstood(path="text", span=span, reason=no_term_reason(text[span[0] : span[1]]))


@lru_cache(maxsize=1)
def _unmapped_phrases() -> dict[str, str]:
    return {normalise(phrase): why for phrase, why in UNMAPPED_PHRASES.items()}


def no_term_reason(words: str) -> str:
    """Why words read into no term: a phrase the dictionary leaves out on purpose (:data:`UNMAPPED_PHRASES`:
    "learning difficulties", which British and American letters mean differently) says so and why, with the
    fixed phrase only, never the note's words; anything else names no HPO term (:data:`NO_TERM`)."""
    said = f" {normalise(words)} "
    for phrase, why in _unmapped_phrases().items():
        if f" {phrase} " in said:
            return f'"{phrase}" is {why}'
    return NO_TERM


def _beside_a_relatives(text: str, span: Span, mentions: Sequence[ExtractedTerm]) -> bool:
    """Whether unread words share their statement with a relative's finding (one the relative has), and no finding
    of the patient's:
    "Mother has several lipomas and NF1" listed "NF1" as words no term matches (stop 30), when they are the
    mother's diagnosis."""
    start, end = span
    mine = [m for m in mentions if not _STATEMENT_END.search(text, min(m.end, start), max(m.start, end))]
    return bool(mine) and all(m.assertion == "family_history" and not m.excluded for m in mine)


#: Least share of a long form's characters its term's mention must cover to speak for it ("hepatitis A": 9 of 11).
_LONG_FORM_COVER = 0.6


def _read_as_defined(
    text: str,
    lookup: TermLookup,
    proposed: Sequence[Candidate],
    stated: Sequence[Candidate],
    mentions: list[ExtractedTerm],
    uses: Sequence[ShortFormUse],
) -> tuple[list[ExtractedTerm], list[Span]]:
    """Mentions again, each defined short form read as its long form; and the short forms' spans so read.

    A use is read as the term of the long form's mention (one covering :data:`_LONG_FORM_COVER` of it), in its
    own context ("no HA" denies it), and nothing else is read in its words: not the dictionary's meaning, not
    a chart-shorthand guess. A long form naming no term leaves its short form naming none. The defining
    parentheses are no mention: they repeat the long form.
    """
    meaning: dict[Span, str | None] = {}
    for use in uses:
        long_start, long_end = use.definition.long_span
        covering = [
            (min(m.end, long_end) - max(m.start, long_start), m.term_id)
            for m in mentions
            if m.start < long_end and long_start < m.end
        ]
        best = max(covering, default=(0, ""))
        meaning[use.definition.long_span] = best[1] if best[0] >= _LONG_FORM_COVER * (long_end - long_start) else None
    # What each short form's words may be read as: the defining parentheses as nothing, a use as its long form.
    allowed = {use.span: None if use.defining else meaning[use.definition.long_span] for use in uses}
    readings = [(start, end, term) for (start, end), term in allowed.items() if term is not None]

    def fits(start: int, end: int, term: str | None) -> bool:
        """A reading of a short form's words is its meaning, or a phrase built on a use (">6 CALS")."""
        return all(
            meant == term or (meant is not None and start <= a and b <= end and (start, end) != (a, b))
            for (a, b), meant in allowed.items()
            if a < end and start < b
        )

    others = [c for c in stated if fits(*c)]
    kept = [m for m in lookup.mentions(text, proposed, stated=[*others, *readings]) if fits(m.start, m.end, m.term_id)]
    return kept, [use.span for use in uses if meaning[use.definition.long_span] is not None]


#: Where a segment ends; not at a query mark its answer follows ("Hypertelorism? Possibly.", "Ptosis? - no"), which
#: is one item with the finding it answers for.
#: Nor at a comma between thousands ("Creatine kinase was 15,000 U/L" was two segments, "...was 15" and "000 U/L").
_SEGMENT_BREAK = re.compile(
    rf"(?!{_THOUSANDS_COMMA})[\n;,•·]|[.!](?=\s|$)"
    r"|\?(?=\s|$)(?![ \t]*(?:[-:][ \t]*)?(?:yes|no|none|y|n|possibly|probably|maybe|likely|unlikely|unsure)\b)",
    re.IGNORECASE,
)
#: A conjunction joining the members of a list within a segment: "X or Y", "X and Y", "X and/or Y", "neither X nor Y".
_MEMBER_BREAK = re.compile(r"\s+(?:and\s*/\s*or|and|or|nor)\s+", re.IGNORECASE)
#: Words that open a clause, not a list member: "seizures and was admitted", "hypotonia and he has ...".
_CLAUSE_OPENERS = frozenset(
    {"he", "she", "they", "it", "we", "i", "his", "her", "their", "this", "that", "then", "also", "so", "which"}
    | {"was", "were", "is", "are", "has", "had", "have", "will", "would", "can", "could", "did", "does", "do"}
    | {"not", "now", "later", "subsequently", "since", "after", "before", "when", "who", "whose"}
)
_AUXILIARIES = frozenset({"was", "were", "is", "are", "has", "had", "have", "been", "be", "will", "would"})
#: Words before a list's first member that say what the list is, not a member: "no family history of", "with".
_LIST_LEAD = re.compile(r".*\b(?:of|with|for|without|including|denies|denied|no|nor|neither|either)\s+", re.I)
#: Most content words a list member naming nothing may have (more is a clause of its own).
_MEMBER_WORDS = 4


def unread_members(text: str, used: Sequence[Span]) -> list[Span]:
    """Spans of list members that name nothing beside a member that does, inside a segment with a mention.

    A segment is listed as not understood only when nothing in it is read; a member of a list joined by "and" /
    "or" that names no term ("no family history of Marfan syndrome or sudden cardiac death") would vanish. Such
    a member is one right across the conjunction from a mention, of at most a few content words, opening no
    clause of its own ("seizures and was admitted" is no list); a first member leaves out the words that lead
    the list ("no family history of").
    """
    found: list[Span] = []
    for start, end in segments(text):
        inside = [(a, b) for a, b in used if a < end and start < b]
        if not inside:
            continue
        breaks = list(_MEMBER_BREAK.finditer(text, start, end))
        bounds = [start, *(x for match in breaks for x in (match.start(), match.end())), end]
        pieces = [(bounds[k], bounds[k + 1]) for k in range(0, len(bounds), 2)]
        for k, (a, b) in enumerate(pieces):
            if any(u < b and a < v for u, v in inside):
                continue
            # A mention must touch the conjunction from the other side: "X or <mention>", "<mention> and X".
            before = k > 0 and any(v == pieces[k - 1][1] for _, v in inside)
            after = k + 1 < len(pieces) and any(u == pieces[k + 1][0] for u, _ in inside)
            if not (before or after):
                continue
            if k == 0:
                lead = _LIST_LEAD.match(text, a, b)
                a = lead.end() if lead is not None else a
            words = _CONTENT_WORD.findall(text, a, b)
            if not words or len(words) > _MEMBER_WORDS or words[0].casefold() in _CLAUSE_OPENERS:
                continue
            if any(word.casefold() in _AUXILIARIES for word in words):
                continue  # "seizures began at 6 months and valproate was given": a clause, not a member
            found.append((a, b))
    return found


#: A word of a note: two letters or more, or single letters joined by slashes or "&" ("N/V", "n/v/d", "D&V"), as
#: notes abbreviate symptoms; a letter alone ("(R > L)", "e.g.") is a side, an initial or a list mark, no word.
_CONTENT_WORD = re.compile(r"[^\W\d_]{2,}|(?<![^\W\d_])[^\W\d_](?:[/&][^\W\d_])+(?![^\W\d_])")


def unread_words(text: str, used: Sequence[Span]) -> list[Span]:
    """Spans of words nothing read, inside segments where something else was read: "N/V and HA" in "4yo with N/V
    and HA x3 days", whose age alone was read; "?Parkinson disease vs drug-induced" before a mention.

    A segment is listed whole when nothing in it is read (:func:`segments`); beside a mention, the words around it
    may only say how it is meant ("no", "with", "mild", "since", "x3 days"; :data:`_SAYING_HOW`, the reading's own
    cues). Any other word between two things read is listed, the run from its first such word to its last, so that
    nothing with words is dropped from the account unseen, as a segment of its own is not. Words holding a digit
    ("x3", "FBN1", "46,XY") are values and codes, not words.
    """
    spans = sorted(used)
    found: list[Span] = []
    at = 0  # the first used span that may still reach a segment: segments and spans in order, one pass
    for start, end in segments(text):
        while at < len(spans) and spans[at][1] <= start:
            at += 1
        inside = []
        for k in range(at, len(spans)):  # by index: a slice copied the rest of the list for every segment
            a, b = spans[k]
            if a >= end:
                break
            if b > start:
                inside.append((a, b))
        if not inside:
            continue
        gaps, cursor = [], start
        for a, b in inside:
            if a > cursor:
                gaps.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < end:
            gaps.append((cursor, end))
        for a, b in gaps:
            words = [match.span() for match in _CONTENT_WORD.finditer(text, a, b) if not _says_how(match.group())]
            if words:
                found.append((words[0][0], words[-1][1]))
    return found


#: Words that say how, when, where or of whom a finding is said, not what it is: English's closed classes
#: (articles, pronouns, prepositions, conjunctions, auxiliaries), time, degree and course, and verbs that report a
#: finding; with the reading's own cues (:func:`reading_word`: "no", "likely", "mother", "left", "severe").
_SAYING_HOW = frozenset(
    {"a", "an", "the", "this", "that", "these", "those", "some", "any", "all", "both", "each", "every", "other"}
    | {"he", "she", "it", "they", "we", "i", "you", "him", "her", "his", "hers", "its", "their", "them", "our"}
    | {"patient", "pt", "child", "boy", "girl", "baby", "infant", "man", "woman", "who", "whom", "which", "what"}
    | {"of", "in", "on", "at", "to", "for", "from", "by", "with", "within", "into", "onto", "over", "under"}
    | {"about", "around", "after", "before", "during", "since", "until", "till", "through", "throughout", "via"}
    | {"between", "among", "above", "below", "across", "along", "up", "down", "out", "off", "per", "than", "as"}
    | {"and", "or", "nor", "but", "so", "also", "then", "too", "either", "neither", "whether", "when", "where"}
    | {"is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "having", "do", "does", "did"}
    | {"will", "would", "can", "could", "may", "might", "shall", "should", "must", "not", "no", "yes", "only"}
    | {"very", "more", "most", "less", "least", "much", "many", "few", "several", "well", "still", "yet", "just"}
    | {"now", "currently", "today", "recently", "again", "already", "ago", "once", "twice", "always", "sometimes"}
    | {"often", "occasionally", "frequently", "rarely", "usually", "new", "old", "early", "late", "later", "first"}
    | {"year", "years", "yr", "yrs", "month", "months", "mo", "mos", "week", "weeks", "wk", "wks", "day", "days"}
    | {"hour", "hours", "hr", "hrs", "minute", "minutes", "min", "mins", "night", "nights", "morning", "evening"}
    | {"noted", "seen", "observed", "found", "reported", "described", "documented", "present", "presents"}
    | {"presented", "presenting", "shows", "showed", "shown", "showing", "revealed", "reveals", "demonstrated"}
    | {"developed", "develops", "complains", "complained", "experienced", "experiences", "suffers"}
    | {"marked", "markedly", "mild", "mildly", "moderate", "severe", "significant", "prominent", "slight"}
    | {"progressive", "intermittent", "episodic", "recurrent", "persistent", "transient", "chronic", "acute"}
    | {"worsening", "improving", "ongoing", "increasing", "decreasing", "occasional", "frequent", "daily"}
    | {"generalised", "generalized", "focal", "diffuse", "proximal", "distal", "symmetric", "symmetrical"}
    | {"asymmetric", "asymmetrical", "bilaterally", "sides", "side", "associated", "together", "possibly"}
    | {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "times", "episodes"}
    | {"second", "third", "fourth", "fifth", "cent", "percent", "half"}
    | {"patients", "children", "examination", "exam", "noticed", "there"}
    | {"newborn", "neonate", "term", "preterm", "aged", "age", "sex", "gender"}
    | {"cm", "mm", "kg", "g", "ml", "mmol", "mg", "sd", "centile", "percentile", "cms"}
    | {"affected", "unaffected", "similarly", "similar", "likewise"}
    # where and when the patient was seen: "14-year-old boy seen in clinic", "reviewed on the ward"
    | {"clinic", "ward", "review", "reviewed", "referred", "referral", "visit", "appointment", "follow", "admitted"}
    | {"admission", "attended", "consultation", "yesterday", "tonight", "overnight", "birth"}
    # chart shorthand for how a finding is said ("h/o seizures", "r/o Marfan", "O/E: ..."), and what a cue leaves
    # ("no longer", "none since", "maternal"): a second user test found them listed as not understood
    | {"h/o", "r/o", "c/o", "o/e", "s/p", "f/u", "hx", "fhx", "pmh", "none", "longer", "maternal", "paternal"}
    | {"repaired", "resolved", "ve"}  # "ascites -ve", "Coombs +ve"
)


def _says_how(word: str) -> bool:
    """Whether ``word`` only says how a finding is meant (:data:`_SAYING_HOW`, the reading's cues)."""
    return word.casefold() in _SAYING_HOW or reading_word(word)


def _said_of_the_last(text: str, span: Span, used: Sequence[Span]) -> bool:
    """Whether the segment only says a mention before it in its sentence is over ("seizures, resolved"): the
    words the reading takes after a mention as its historical cue (``POST_HISTORICAL``), so no input item is
    left not understood."""
    if tuple(normalise(text[span[0] : span[1]]).split()) not in POST_HISTORICAL:
        return False
    return any(end <= span[0] and not re.search(r"[.!?\n]", text[end : span[0]]) for _, end in used)


def segments(text: str) -> list[Span]:
    """Spans of a note's segments (lines, sentences, items between commas or semicolons) that hold a word."""
    spans: list[Span] = []
    start = 0
    for match in [*_SEGMENT_BREAK.finditer(text), None]:
        end = match.start() if match is not None else len(text)
        piece = text[start:end]
        if _CONTENT_WORD.search(piece):
            left = start + len(piece) - len(piece.lstrip())
            right = start + len(piece.rstrip())
            spans.append((left, right))
        if match is not None:
            start = match.end()
    return spans


def _best_per_term(mentions: Sequence[ExtractedTerm]) -> list[ExtractedTerm]:
    """One mention per term (the one that says most about the patient), in order of first mention."""
    best: dict[str, ExtractedTerm] = {}
    for mention in mentions:
        previous = best.get(mention.term_id)
        if previous is None or ASSERTION_ORDER[mention.assertion] < ASSERTION_ORDER[previous.assertion]:
            best[mention.term_id] = mention
    return sorted(best.values(), key=lambda m: m.start)


def _closed(label: str, text: str, end: int) -> str:
    """A mention's words with the bracket the note closes right after them: "OFC 46 cm (-2.5 SD)", whose
    span ends at its last word ("SD"), reads as written in a finding's label."""
    if label.count("(") > label.count(")") and text[end : end + 1] == ")":
        return label + ")"
    return label


def given_term_id(hpo_id: str | None, knowledge: HpoKnowledge) -> tuple[str | None, str | None]:
    """(the id to use, the id given if it is no term at all) for an item's own HPO id.

    An alternative id (merged into another term) and an obsolete id HPO replaced (``replaced_by``) read as
    that term; an obsolete id with no replacement is kept (:func:`obsolete_note` says so); an id the release
    does not know is set aside so the item is read by its words and, if they name nothing, said to be unknown.
    """
    if hpo_id is None:
        return None, None
    if knowledge.has_term(hpo_id):
        return knowledge.current_id(hpo_id) or hpo_id, None
    merged_into = knowledge.current_id(hpo_id)
    return (merged_into, None) if merged_into is not None else (None, hpo_id)


def obsolete_note(given: str | None, used: str | None, knowledge: HpoKnowledge) -> str | None:
    """What the account says of an obsolete HPO id given (:data:`OBSOLETE_REPLACED`, :data:`OBSOLETE_KEPT`), read as
    ``used``; ``None`` for a current id, an alternative id (another spelling of a live term) or an unknown one."""
    if given is None or used is None or not knowledge.has_term(given):
        return None
    name = knowledge.term_name(given)
    if used != given:
        return OBSOLETE_REPLACED.format(given=given, name=name, term_id=used, term=knowledge.term_name(used))
    if knowledge.current_id(given) is not None:
        return None  # a live term
    consider = [c for c in _obsolete_considered(knowledge.data_dir).get(given, ()) if knowledge.has_term(c)]
    named = ", ".join(f"{c} ({knowledge.term_name(c)})" for c in consider)
    return OBSOLETE_KEPT.format(
        given=given, name=name, consider=f"consider {named}" if named else "nor any to consider"
    )


@lru_cache(maxsize=2)
def _obsolete_considered(data_dir: Path) -> dict[str, tuple[str, ...]]:
    """``consider:`` ids of ``hp.obo``'s obsolete terms, read only when an obsolete id with no replacement is given."""
    return {
        stanza["id"][0]: tuple(value.split()[0] for value in stanza.get("consider", ()))
        for stanza in obo_stanzas(data_dir / HP_OBO)
        if stanza.get("is_obsolete") == ["true"] and "id" in stanza
    }


def _months(age: str | None) -> float | None:
    """An ISO 8601 age in months, what the milestone and ability readers compare with; ``None`` when unknown."""
    years = duration_years(age)
    return None if years is None else 12 * years


def _root_named(label: str, knowledge: HpoKnowledge) -> str | None:
    """The root of :data:`NO_FINDING_TERMS` whose name ``label`` is ("Phenotypic abnormality"), else ``None``."""
    said = normalise(label)
    return next((root for root in sorted(NO_FINDING_TERMS) if normalise(knowledge.term_name(root)) == said), None)


def label_conflict(label: str, hpo_id: str, lookup: TermLookup, knowledge: HpoKnowledge) -> str | None:
    """Why a label and the HPO id entered with it cannot both be meant, or ``None`` when they agree.

    They disagree when the label is, whole, the name or synonym of another term, neither above nor below the
    id's ("Seizure" with HP:0001166, Arachnodactyly): keeping the id would show and search the label's words
    while scoring the id's term. A label that is no term, or a broader or narrower one, is the caller's
    wording of the id, and the id wins.
    """
    named = lookup.lookup(label)
    if named is None or named == hpo_id or not knowledge.has_term(hpo_id):
        return None
    text = knowledge.term_text(hpo_id)  # a synonym of the id that the dictionary gave another term ("Lipomas")
    if normalise(label) in {
        normalise(name) for name in (knowledge.term_name(hpo_id), *(text.synonyms if text else ()))
    }:
        return None
    if named in knowledge.ancestors(hpo_id) or hpo_id in knowledge.ancestors(named):
        return None
    return (
        f"the label {label!r} names {named} ({knowledge.term_name(named)}), not {hpo_id} "
        f"({knowledge.term_name(hpo_id)}): give the label of the id, or the id alone"
    )


def _mapped(
    path: str,
    span: Span,
    given: str | None,
    term_id: str,
    assertion: Assertion,
    knowledge: HpoKnowledge,
    values: Collection[Candidate] = (),
) -> MappedItem:
    """The account entry of one mention; ``values`` are the stated-value readings of its words (their spans)."""
    name = knowledge.term_name(term_id) if knowledge.has_term(term_id) else term_id
    kind = kind_of(knowledge, term_id)
    return MappedItem(
        path=path,
        span=span,
        given=given,
        hpo_id=term_id,
        label=name,
        assertion=assertion,
        kind=kind,
        from_value=(span[0], span[1], term_id) in values,
    )
