"""Free-text finding labels and clinical notes to HPO term ids, offline, from the ontology's own words.

Cases arrive with findings that carry only words ("long slender fingers") or
with a free-text note, while every phenotype-driven scorer needs HPO ids. This
module bridges the two with nothing but a dictionary built from the release
files: ``hp.obo`` (2025-01) names, exact synonyms and layperson synonyms, and
the current names of the newer hpo3 ontology (2025-11). No model, no network,
so the result is reproducible and cheap enough to run on every case.

``hp.obo`` is read directly rather than through :meth:`HpoKnowledge.term_text`:
that parse takes pronto ~2.5 s and drops the synonym scope (EXACT / RELATED /
BROAD / NARROW) this dictionary needs to keep only synonyms that mean the term.
Every id is mapped to today's id with :meth:`HpoKnowledge.current_id`; only
terms under "Phenotypic abnormality" enter the dictionary, because modifiers
("Severe", "Bilateral"), onsets and inheritance modes are not findings and
their one-word names would match everywhere in running text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dxsearch.cases import Case, Finding
from dxsearch.knowledge.hpo import HP_OBO, HpoKnowledge, get_hpo_knowledge

#: Longest mention ``extract`` looks for, in normalised tokens; longer names are rare in notes.
MAX_MENTION_TOKENS = 8

# Where a term came from, best first: a key claimed by two sources goes to the better one.
_TIER_HPO3_NAME = 0
_TIER_OBO_NAME = 1
_TIER_EXACT_SYNONYM = 2
_TIER_LAYPERSON = 3
_TIER_ABBREVIATION = 4

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_HARD_BOUNDARY = re.compile(r"[.;:!?\n]")
_SOFT_BOUNDARY = re.compile(r",")
_ARTICLES = frozenset({"the", "a", "an"})
#: What a mention says about the patient (ConText-style): a finding present, absent (looked for, not found),
#: in the family, uncertain (possible, suspected) or historical (a history of it).
Assertion = Literal["present", "absent", "family_history", "uncertain", "historical"]
#: Which assertion wins when one term is mentioned several times: what the patient has wins over the rest.
ASSERTION_ORDER: dict[Assertion, int] = {
    "present": 0,
    "historical": 1,
    "uncertain": 2,
    "family_history": 3,
    "absent": 4,
}
# Cues that open a clause with an assertion other than "present", in normalised tokens; the longest cue
# starting at a token wins, so "family history of" is a family cue and not "history of".
_CUES: tuple[tuple[tuple[str, ...], Assertion], ...] = (
    (("negative", "for"), "absent"),
    (("absence", "of"), "absent"),
    (("no",), "absent"),
    (("deny",), "absent"),  # "denies" after singularising
    (("denied",), "absent"),
    (("without",), "absent"),
    (("family", "history", "of"), "family_history"),
    (("family", "history"), "family_history"),
    (("possible",), "uncertain"),
    (("possibly",), "uncertain"),
    (("suspected",), "uncertain"),
    (("suspicion", "of"), "uncertain"),
    (("probable",), "uncertain"),
    (("questionable",), "uncertain"),
    (("history", "of"), "historical"),
    (("previous",), "historical"),
    (("previously",), "historical"),
)
_CUES_LONGEST_FIRST = tuple(sorted(_CUES, key=lambda cue: -len(cue[0])))
# Words that close an asserted clause even without punctuation: "no fever but seizures".
_CLAUSE_BREAKERS = frozenset({"but", "however", "although", "though", "except"})
_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)" (EXACT|RELATED|BROAD|NARROW)(?: ([A-Za-z_:0-9]+))?')


@dataclass(frozen=True, slots=True)
class ExtractedTerm:
    """One HPO term found in free text; ``label`` is the text as written, offsets index the input.

    ``excluded`` is ``assertion == "absent"``, kept as a field for the many readers that only ask that.
    """

    term_id: str
    label: str
    excluded: bool
    start: int
    end: int
    assertion: Assertion = "present"


@dataclass(frozen=True, slots=True)
class _Token:
    norm: str
    raw: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Entry:
    term_id: str
    tier: int
    # Case-sensitive spellings an abbreviation must match in text ("ASD", not "asd"); empty otherwise.
    surfaces: frozenset[tuple[str, ...]]


def _singular(token: str) -> str:
    """A crude singular, applied alike to dictionary and text, so only consistency matters."""
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith(("ss", "us", "is", "as")):
        return token
    if token.endswith("s"):
        return token[:-1]
    return token


@lru_cache(maxsize=65536)
def _normalise_word(word: str) -> str:
    """Casefolded, accents and apostrophes removed, singular; memoised, the vocabulary is small."""
    folded = word.casefold()
    if not folded.isascii():
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return _singular(folded.replace("'", "").replace("’", ""))


def _tokens(text: str) -> list[_Token]:
    """Word tokens with their offsets; articles are dropped so "of the aorta" meets "of aorta"."""
    tokens: list[_Token] = []
    for match in _WORD.finditer(text):
        norm = _normalise_word(match.group())
        if norm and norm not in _ARTICLES:
            tokens.append(_Token(norm, match.group(), match.start(), match.end()))
    return tokens


def normalise(text: str) -> str:
    """The dictionary key of a phrase: casefolded, accents, punctuation and articles gone, singular words."""
    words = (_normalise_word(word) for word in _WORD.findall(text))
    return " ".join(word for word in words if word and word not in _ARTICLES)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _obo_stanzas(path: Path) -> Iterator[dict[str, list[str]]]:
    """``[Term]`` stanzas of an OBO file as tag -> values; a line parser, ~10x faster than pronto."""
    stanza: dict[str, list[str]] | None = None
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if line.startswith("["):
                if stanza is not None:
                    yield stanza
                stanza = {} if line == "[Term]" else None
                continue
            if stanza is None or not line:
                continue
            tag, sep, value = line.partition(": ")
            if sep:
                stanza.setdefault(tag, []).append(value)
    if stanza is not None:
        yield stanza


class TermLookup:
    """A normalised-phrase -> HPO id dictionary with whole-label lookup and free-text extraction.

    A phrase claimed by several terms goes to the best source: hpo3 name, then
    ``hp.obo`` name, then EXACT synonym (layperson ones included), then other
    layperson synonyms, then abbreviations. Abbreviations only match text that
    spells them the same way ("VSD", never "vsd"), since many are also words.
    """

    def __init__(self, knowledge: HpoKnowledge, max_mention_tokens: int = MAX_MENTION_TOKENS) -> None:
        self.max_mention_tokens = max_mention_tokens
        candidates: dict[str, dict[str, tuple[int, set[tuple[str, ...]]]]] = defaultdict(dict)

        def add(phrase: str, term_id: str | None, tier: int) -> None:
            if term_id is None or not knowledge.is_phenotypic_abnormality(term_id):
                return
            key = normalise(phrase)
            if not key:
                return
            best, surfaces = candidates[key].get(term_id, (tier, set()))
            if tier == _TIER_ABBREVIATION:
                surfaces.add(tuple(token.raw for token in _tokens(phrase)))
            candidates[key][term_id] = (min(best, tier), surfaces)

        for term in knowledge.ontology:
            if not term.is_obsolete:
                add(term.name, knowledge.current_id(term.id), _TIER_HPO3_NAME)
        for stanza in _obo_stanzas(knowledge.data_dir / HP_OBO):
            if stanza.get("is_obsolete") == ["true"] or "id" not in stanza:
                continue
            term_id = knowledge.current_id(stanza["id"][0])
            for name in stanza.get("name", []):
                add(name, term_id, _TIER_OBO_NAME)
            for value in stanza.get("synonym", []):
                synonym = _synonym(value)
                if synonym is not None:
                    add(synonym[0], term_id, synonym[1])

        self._entries: dict[str, _Entry] = {}
        ambiguous: set[str] = set()
        for key, by_term in candidates.items():
            best_tier = min(tier for tier, _ in by_term.values())
            winners = [term_id for term_id, (tier, _) in by_term.items() if tier == best_tier]
            if len(winners) > 1:
                # Two terms claim the phrase equally: guessing would plant a wrong id, so the key is dropped.
                ambiguous.add(key)
                continue
            (term_id,) = winners
            surfaces = by_term[term_id][1] if best_tier == _TIER_ABBREVIATION else set()
            self._entries[key] = _Entry(term_id, best_tier, frozenset(surfaces))
        #: Keys two terms claim equally (e.g. "asd"); left out rather than guessed.
        self.ambiguous: frozenset[str] = frozenset(ambiguous)

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, label: str) -> str | None:
        """The current HPO id whose name or synonym equals the whole label once normalised, else ``None``."""
        entry = self._entries.get(normalise(label))
        return entry.term_id if entry is not None else None

    def extract(self, text: str) -> list[ExtractedTerm]:
        """HPO terms mentioned in clinical text, each once, in order of first mention.

        Every mention of :meth:`mentions`, one per term: the mention whose assertion says most about
        the patient wins (present, then historical, uncertain, family history, absent), so a note that
        says "no seizures at first; seizures from age 3" reports seizures.
        """
        found: dict[str, ExtractedTerm] = {}
        for mention in self.mentions(text):
            previous = found.get(mention.term_id)
            if previous is None or ASSERTION_ORDER[mention.assertion] < ASSERTION_ORDER[previous.assertion]:
                found[mention.term_id] = mention
        return sorted(found.values(), key=lambda m: m.start)

    def mentions(self, text: str) -> list[ExtractedTerm]:
        """Every HPO term mention in clinical text, in order, with its span and assertion.

        Greedy longest match over normalised tokens within a sentence. A mention inside a clause opened
        by a cue ("no", "denies", "without", "negative for", "absence of"; "family history of";
        "possible", "suspected"; "history of", "previous") takes that cue's assertion; the clause ends at
        a comma, semicolon, sentence end or "but".
        """
        found: list[ExtractedTerm] = []
        for sentence in _sentences(text):
            found.extend(self._extract_sentence(text, sentence))
        return found

    def _extract_sentence(self, text: str, tokens: list[tuple[_Token, bool]]) -> Iterator[ExtractedTerm]:
        assertion: Assertion = "present"
        i = 0
        while i < len(tokens):
            if tokens[i][1]:
                assertion = "present"
            match = self._longest_match(tokens, i)
            if match is not None:
                end, entry = match
                first, last = tokens[i][0], tokens[end - 1][0]
                yield ExtractedTerm(
                    entry.term_id,
                    text[first.start : last.end],
                    assertion == "absent",
                    first.start,
                    last.end,
                    assertion,
                )
                # A clause break inside the mention ("long, slender fingers") ends the cue's scope after it.
                if any(soft for _, soft in tokens[i + 1 : end]):
                    assertion = "present"
                i = end
                continue
            cue = _cue(tokens, i)
            if cue is not None:
                assertion = cue[1]
                i += len(cue[0])
                continue
            if tokens[i][0].norm in _CLAUSE_BREAKERS:
                assertion = "present"
            i += 1

    def _longest_match(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, _Entry] | None:
        for end in range(min(len(tokens), i + self.max_mention_tokens), i, -1):
            span = [token for token, _ in tokens[i:end]]
            entry = self._entries.get(" ".join(t.norm for t in span))
            if entry is None:
                continue
            if entry.tier == _TIER_ABBREVIATION and tuple(t.raw for t in span) not in entry.surfaces:
                continue
            return end, entry
        return None


def _synonym(value: str) -> tuple[str, int] | None:
    """Text and tier of an ``hp.obo`` synonym value, ``None`` for one that does not mean the term."""
    match = _SYNONYM.match(value)
    if match is None:
        return None
    text, scope, kind = _unescape(match.group(1)), match.group(2), match.group(3)
    if kind == "obsolete_synonym":
        return None
    if kind == "layperson":
        return text, _TIER_EXACT_SYNONYM if scope == "EXACT" else _TIER_LAYPERSON
    if scope != "EXACT":
        return None
    return text, _TIER_ABBREVIATION if kind == "abbreviation" else _TIER_EXACT_SYNONYM


def _sentences(text: str) -> Iterator[list[tuple[_Token, bool]]]:
    """Tokens grouped by sentence; the flag marks a token after a comma or semicolon (a new clause)."""
    sentence: list[tuple[_Token, bool]] = []
    previous_end = 0
    for token in _tokens(text):
        gap = text[previous_end : token.start]
        if _HARD_BOUNDARY.search(gap) and sentence:
            yield sentence
            sentence = []
        sentence.append((token, bool(_SOFT_BOUNDARY.search(gap))))
        previous_end = token.end
    if sentence:
        yield sentence


def _cue(tokens: list[tuple[_Token, bool]], i: int) -> tuple[tuple[str, ...], Assertion] | None:
    """The (longest) assertion cue starting at token ``i``, ``None`` if none."""
    for words, assertion in _CUES_LONGEST_FIRST:
        if tuple(token.norm for token, _ in tokens[i : i + len(words)]) == words:
            return words, assertion
    return None


#: Mentions that do not describe the patient as they are: kept in the intake's account, not in the case.
_NOT_THE_PATIENTS: frozenset[Assertion] = frozenset({"family_history", "uncertain"})


@lru_cache(maxsize=1)
def get_term_lookup() -> TermLookup:
    """The process-wide ``TermLookup`` over ``get_hpo_knowledge()``, built on first call."""
    return TermLookup(get_hpo_knowledge())


def resolve_findings(case: Case, lookup: TermLookup | None = None) -> Case:
    """The case with HPO ids filled in where the words say which term they mean.

    Findings without an id get the id of their whole label when the dictionary
    knows it (label kept, so nothing the case said is lost). Terms found in
    ``case.text`` are appended unless a finding already carries that id (terms
    asserted of the family or as uncertain are not the patient's findings and are
    left out; historical ones are kept as observed); the case is otherwise
    unchanged (a new object, the input is not touched).
    """
    resolver = lookup if lookup is not None else get_term_lookup()
    findings: list[Finding] = []
    for finding in case.findings:
        if finding.hpo_id is None:
            term_id = resolver.lookup(finding.label)
            if term_id is not None:
                finding = finding.model_copy(update={"hpo_id": term_id})
        findings.append(finding)
    if case.text:
        known = {f.hpo_id for f in findings if f.hpo_id is not None}
        for mention in resolver.extract(case.text):
            if mention.assertion in _NOT_THE_PATIENTS:
                continue
            if mention.term_id not in known:
                findings.append(Finding(label=mention.label, hpo_id=mention.term_id, excluded=mention.excluded))
                known.add(mention.term_id)
    return case.model_copy(update={"findings": tuple(findings)})


__all__ = [
    "ASSERTION_ORDER",
    "MAX_MENTION_TOKENS",
    "Assertion",
    "ExtractedTerm",
    "TermLookup",
    "get_term_lookup",
    "normalise",
    "resolve_findings",
]
