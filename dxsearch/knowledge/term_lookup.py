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

Beyond exact spellings: BROAD / NARROW / RELATED synonyms of two words or more
fill phrases no better source claims ("Aortic root dilatation"); acronyms in
abbreviations keep their case but not the words around them ("recurrent UTIs");
"-omas" plurals fold; and where no exact match starts, a bag of content-word
stems matches a term whatever the word order and form ("dilated aortic root",
"dislocated lenses") if exactly one term has that bag. Mentions carry a
ConText-style assertion (present, absent, family history, uncertain,
historical) with clause scope, "apart from" / "other than" ending it, "normal
X" and "X was not seen" asserting absence (not when parents go on to describe
episodes of it); hedges ("likely", "presumed", "consistent with") scoped to the
mention after them, "X vs Y" uncertain on both sides, "X-free" absent (or, said
since when, for how long or on what, historical), a past-history heading
("PMH:") historical to the end of its sentence or section, and a bracket dating
a finding in the past ("(present last year)") historical.
``bench/bench_term_variants.py`` measures how this generalises and what it costs
in precision.
"""

from __future__ import annotations

import difflib
import re
import sys
import unicodedata
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dxsearch.cases import Case, Finding
from dxsearch.knowledge import clinical_abbreviations, clinical_phrases
from dxsearch.knowledge.clinical_abbreviations import AMBIGUOUS_ABBREVIATIONS, CLINICAL_ABBREVIATIONS, NOT_FINDINGS
from dxsearch.knowledge.clinical_phrases import FINDING_PHRASES, NORMAL_FUNCTIONS
from dxsearch.knowledge.derived import cache_key, code_digest, file_digest, gc_paused
from dxsearch.knowledge.hpo import HP_OBO, PHENOTYPIC_ABNORMALITY, HpoKnowledge, get_hpo_knowledge

#: Longest mention ``extract`` looks for, in normalised tokens; longer names are rare in notes.
MAX_MENTION_TOKENS = 8

# Where a term came from, best first: a key claimed by two sources goes to the better one.
_TIER_HPO3_NAME = 0
_TIER_OBO_NAME = 1
_TIER_EXACT_SYNONYM = 2
_TIER_LAYPERSON = 3
_TIER_ABBREVIATION = 4
# BROAD / NARROW / RELATED synonyms of two words or more ("Aortic root dilatation" of Aortic root aneurysm):
# used only where no better source claims the phrase and one term alone does.
_TIER_LOOSE_SYNONYM = 5
#: The adjective of a one-word "-ia" finding ("hypotonic" for Hypotonia): below every spelling HPO gives.
_TIER_ADJECTIVE = 6
# ``xref:`` prefixes of hp.obo -> the CURIE prefixes the FHIR reader gives codes.
_XREF_PREFIXES = {"SNOMEDCT_US": "SNOMED", "UMLS": "UMLS", "ICD-10": "ICD10"}

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_HARD_BOUNDARY = re.compile(r"[.;:!?\n]")
_SOFT_BOUNDARY = re.compile(r",")
_ARTICLES = frozenset({"the", "a", "an"})
#: Words that join the members of a coordination whose last member a shared head word follows.
_CONJUNCTIONS = frozenset({"and", "or"})
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
#: Relatives (singular, as tokens are normalised): one list for every reader of relatives (also ``demographics``).
RELATIVES = (
    "father",
    "mother",
    "parent",
    "sister",
    "brother",
    "sibling",
    "sib",
    "twin",
    "aunt",
    "uncle",
    "cousin",
    "grandmother",
    "grandfather",
    "grandparent",
    "niece",
    "nephew",
    "son",
    "daughter",
    # as notes and letters say them: "Mum has migraine", "Dad had tics as a child", "Nan is diabetic"
    "mum",
    "mom",
    "mam",
    "mummy",
    "mommy",
    "dad",
    "daddy",
    "nan",
    "nana",
    "nanna",
    "gran",
    "granny",
    "grandma",
    "grandpa",
    "grandad",
    "granddad",
    "stepmother",
    "stepfather",
)
#: Words that hand a sentence back to the patient after a relative: "his mother is tall and he has ...".
_RELATIVE_WORDS = frozenset(RELATIVES)
_PATIENT_SUBJECTS = frozenset({"he", "she", "patient", "proband", "child", "boy", "girl"})
#: After a patient subject, verbs that state something the patient has: "no seizures and she has scoliosis"
#: reports scoliosis (the negation's scope ends at the new statement).
_ASSERTING_VERBS = frozenset(
    {
        "has",
        "had",
        "have",
        "shows",
        "showed",
        "shown",
        "presents",
        "presented",
        "developed",
        "develops",
        "exhibits",
        "exhibited",
        "displays",
        "displayed",
    }
)
_RELATIVE_VERBS: tuple[str, ...] = (
    "had",
    "has",
    "have",
    "with",
    "was",
    "wa",
    "is",
    "were",
    "are",
    "died",
    "suffered",
    "also",
)
# ... and verbs the readers of abilities and milestones meet after a relative: "his brother cannot walk",
# "2 siblings walked at 3 years" (normalised: "does" is "doe").
_RELATIVE_VERBS += ("cannot", "cant", "can", "could", "did", "doe", "walked", "spoke", "sat", "never", "developed")
#: What an investigation is named by, last word first, in normalised tokens: "CT thorax for", "MRI brain for".
_INVESTIGATIONS = (
    *("ct", "mri", "mra", "scan", "echo", "echocardiogram", "ultrasound", "uss", "xray", "ray", "ecg", "eeg", "emg"),
    *("biopsy", "bloods", "panel", "sequencing", "thorax", "chest", "brain", "abdomen", "spine", "head"),
)
#: Hedges whose scope is the mention right after them, not their clause (ConText's probable-existence cues, scoped
#: narrowly): "likely hepatomegaly", "presumed hypothyroidism", "equivocal splenomegaly", "consistent with
#: periventricular leukomalacia". The scope runs through the words a mention may open with (a qualifier, a degree,
#: "to have") and, after the mention, through a list of mentions ("likely hepatomegaly and splenomegaly"); any other
#: word ends it, so "Likely Marfan syndrome with tall stature" leaves the tall stature the patient's, and the
#: findings a sentence lists before "consistent with" are never touched (a cue looks forward only).
_NARROW_CUES: tuple[tuple[str, ...], ...] = (
    ("likely",),
    ("presumed",),
    ("presumably",),
    ("equivocal",),
    ("consistent", "with"),
    ("compatible", "with"),
    ("suggestive", "of"),
    # A hedge said of this patient, on the mention right after it (a user test of 2026-11-28: "She may have ptosis"
    # was present): "There may be mild ptosis", "He might have a small VSD". Narrow, so "She could have surgery for
    # her scoliosis" and "He may have inherited the ataxia" keep their findings; an abstract's "patients may have
    # seizures" says what a disease shows, and has no such subject.
    *(
        (subject, modal, *also, verb)
        for subject in ("he", "she", "there", "it")
        for modal in ("may", "might", "could")
        for also in ((), ("also",))
        for verb in ("have", "be", "had")
    ),
    # "It is unclear whether there is ptosis", "not clear if she has seizures" (not "unclear whether his seizures are
    # related to ...", which doubts a cause)
    *(
        (*unclear, word, subject)
        for unclear in (("unclear",), ("uncertain",), ("not", "clear"), ("not", "sure"))
        for word in ("whether", "if")
        for subject in ("there", "he", "she")
    ),
)
#: ... of which these hedge only where they open their sentence or clause, an impression given as a fit ("Consistent
#: with scoliosis.", "Impression: compatible with VSD"): after the evidence they qualify ("MRI findings consistent
#: with periventricular leukomalacia", "features consistent with X"), ConText's rules (medspaCy's) end a scope at them
#: and affirm what follows, as annotators of clinical descriptions and abstracts do.
_OPENING_HEDGES = frozenset({("consistent", "with"), ("compatible", "with")})
# Cues that open a clause with an assertion other than "present", in normalised tokens; the longest cue
# starting at a token wins, so "family history of" is a family cue and not "history of".
_CUES: tuple[tuple[tuple[str, ...], Assertion], ...] = (
    (("negative", "for"), "absent"),
    (("absence", "of"), "absent"),
    (("no",), "absent"),
    (("deny",), "absent"),  # "denies" after singularising
    (("denied",), "absent"),
    (("without",), "absent"),
    (("neither",), "absent"),  # "neither hepatomegaly nor splenomegaly"
    (("not",), "absent"),
    (("never",), "absent"),
    (("free", "of"), "absent"),
    (("excluded",), "absent"),  # "we excluded scoliosis"
    (("ruled", "out"), "absent"),
    (("family", "history", "of"), "family_history"),
    (("family", "history"), "family_history"),
    (("family", "hx", "of"), "family_history"),
    (
        ("fh", "of"),
        "family_history",
    ),  # "No FH of sudden cardiac death" (never bare "FH": familial hypercholesterolaemia)
    (("fhx", "of"), "family_history"),
    # A relative as the subject of what follows: "his father had aortic dissection", "a sister with
    # seizures". Only before a verb or "with": "mother reports seizures" is the patient's history told.
    *(((relative, verb), "family_history") for relative in RELATIVES for verb in _RELATIVE_VERBS),
    (("possible",), "uncertain"),
    (("possibility", "of"), "uncertain"),  # "raised the possibility of ADHD"
    # a test for it: "assessment for ADHD under way", "tested for coeliac disease"
    (("assessment", "for"), "uncertain"),
    (("evaluation", "for"), "uncertain"),
    (("tested", "for"), "uncertain"),
    (("testing", "for"), "uncertain"),
    # a diagnosis once given, since doubted: "previously labelled as CP but MRI is normal"
    (("labelled", "as"), "uncertain"),
    (("labeled", "as"), "uncertain"),
    (("misdiagnosed", "as"), "uncertain"),
    (("misdiagnosed", "with"), "uncertain"),
    (("possibly",), "uncertain"),
    # a hedge on the mention that follows (:data:`_NARROW_CUES`): "likely hepatomegaly", "consistent with X"
    *((cue, "uncertain") for cue in _NARROW_CUES),
    (("suspected",), "uncertain"),
    (("suspicion", "of"), "uncertain"),
    (("probable",), "uncertain"),
    (("questionable",), "uncertain"),
    # Hypothetical or not (yet) the patient's: "if not walking by 18 months, refer"; "rule out microcephaly";
    # "to exclude ectopia lentis"; "screening for Wilms tumour"; "at risk of scoliosis"; ConText's cues.
    (("if",), "uncertain"),
    (("rule", "out"), "uncertain"),
    (("r", "o"), "uncertain"),  # "r/o optic glioma", "R/O hepatomegaly": rule out
    (("exclude",), "uncertain"),
    (("query",), "uncertain"),
    (("unlikely",), "uncertain"),
    (("screening", "for"), "uncertain"),
    (("screen", "for"), "uncertain"),
    (("monitor", "for"), "uncertain"),
    (("monitoring", "for"), "uncertain"),
    (("at", "risk", "of"), "uncertain"),
    (("at", "risk", "for"), "uncertain"),
    (("risk", "of"), "uncertain"),
    (("tested", "for"), "uncertain"),
    (("look", "for"), "uncertain"),  # "echo to look for aortic root dilatation"
    # an investigation for it: "CT thorax for thymoma", "MRI brain for tubers", "echo for root dilatation"
    *(((test, "for"), "uncertain") for test in _INVESTIGATIONS),
    # a hypothesis, since or then: "brief jerking, initially thought to be epilepsy - EEG normal"
    (("thought", "to", "be"), "uncertain"),
    (("thought", "to", "have"), "uncertain"),
    (("looking", "for"), "uncertain"),
    (("check", "for"), "uncertain"),
    (("assess", "for"), "uncertain"),
    (("evaluated", "for"), "uncertain"),
    (("evaluation", "for"), "uncertain"),
    (("assessed", "for"), "uncertain"),
    (("concern", "for"), "uncertain"),
    (("differential", "diagnosis"), "uncertain"),
    (("complication", "of"), "uncertain"),
    (("history", "of"), "historical"),
    (("previous",), "historical"),
    (("previously",), "historical"),
    (("prior",), "historical"),  # "Prior VSD closure" ("prior to" is a pseudo-cue)
    # a past history written short, before its items without a colon: "Hx asthma", "PMH eczema" (with a colon, a
    # heading: :func:`history_sections`); "past" alone is no cue ("over the past 2 months, seizures")
    (("hx",), "historical"),
    (("pmh",), "historical"),
    (("pmhx",), "historical"),
    (("phx",), "historical"),
    (("past", "history"), "historical"),
    (("past", "hx"), "historical"),
    (("past", "medical", "history"), "historical"),
    (("past", "medical", "hx"), "historical"),
    (("s", "p"), "historical"),  # "s/p VSD repair": status post
    (("status", "post"), "historical"),
    (("h", "o"), "historical"),  # "h/o febrile seizures": history of
    # Scope ends: "no dysmorphic features apart from bilateral clinodactyly" reports clinodactyly.
    (("apart", "from"), "present"),
    (("aside", "from"), "present"),
    (("other", "than"), "present"),
    (("except", "for"), "present"),
    (("with", "exception", "of"), "present"),
    (("besides",), "present"),
    # The reason for a test or referral is the patient's: "referred to rule out Fragile X given his long face".
    (("given",), "present"),
    (("because", "of"), "present"),
    (("in", "view", "of"), "present"),
)
#: Cues that assert only the mention that starts right after them: "normal sweating" (hyperhidrosis absent),
#: not "normal development until seizures began".
_ADJACENT_CUES: dict[str, Assertion] = {"normal": "absent", "unremarkable": "absent", "absent": "absent"}
#: Cues after a mention that say it is absent: "aortic root dilatation was not seen", "hearing normal".
_POST_CUES: tuple[tuple[str, ...], ...] = tuple(
    (*copula, *tail)
    for copula in ((), ("wa",), ("was",), ("were",), ("is",), ("are",))
    for tail in (
        ("normal",),
        ("absent",),
        ("negative",),
        ("unremarkable",),
        ("not", "seen"),
        ("not", "present"),
        ("not", "detected"),
        ("not", "found"),
        ("not", "observed"),
        ("ruled", "out"),
        ("excluded",),
    )
)
_POST_CUES_LONGEST_FIRST = tuple(sorted(set(_POST_CUES), key=lambda cue: -len(cue)))
_CUES_LONGEST_FIRST = tuple(sorted(_CUES, key=lambda cue: -len(cue[0])))
# Words that close an asserted clause even without punctuation: "no fever but seizures".
# "until", "whereas", "which": NegEx / ConText terminators ("may not have symptoms until much later and
# vestibular schwannomas" does not deny the schwannomas).
_CLAUSE_BREAKERS = frozenset(
    {"but", "however", "although", "though", "except", "until", "whereas", "while", "which", "who", "whose", "yet"}
)
#: Words that hold a cue word without being a cue (NegEx's pseudo-negations): "no difference in survival
#: between ... naevus" denies no finding, nor does "not only X but Y".
_PSEUDO_CUES: tuple[tuple[str, ...], ...] = (
    ("no", "difference"),
    ("no", "significant"),
    ("no", "change"),
    ("no", "increase"),
    ("no", "correlation"),
    ("no", "association"),
    ("not", "only"),
    ("not", "necessarily"),
    ("not", "cause"),
    ("not", "certain", "whether"),
    # a claim about a population, not a hedge on a patient's finding: "there may be an increased incidence of X"
    *(
        ("there", modal, "be", word)
        for modal in ("may", "might", "could")
        for word in ("increased", "higher", "greater", "association", "link", "risk", "incidence")
    ),
    ("prior", "to"),  # a time, not a history: "prior to surgery she had seizures"
    # a letter's courtesy, not a hypothesis: "I would be grateful if you could see this girl with nosebleeds"
    ("if", "you", "could"),
    ("if", "you", "would"),
    ("if", "you", "can"),
    # A duration, not the past: "a 3-year history of progressive ataxia" is a current problem.
    *((unit, "history", "of") for unit in ("year", "month", "week", "day", "yr")),
)
_SYNONYM = re.compile(r'^"((?:[^"\\]|\\.)*)" (EXACT|RELATED|BROAD|NARROW)(?: ([A-Za-z_:0-9]+))?')


@dataclass(frozen=True, slots=True)
class ExtractedTerm:
    """One HPO term found in free text; ``label`` is the text as written, offsets index the input.

    ``excluded`` is ``assertion == "absent"``, kept as a field for the many readers that only ask that; with
    ``family_history`` it says the relative does *not* have it ("Mum has no muscle problems").
    """

    term_id: str
    label: str
    excluded: bool
    start: int
    end: int
    assertion: Assertion = "present"


#: A span another recogniser proposes: (start, end) character offsets into the text, and an HPO id.
Candidate = tuple[int, int, str]


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
    # Spellings an abbreviation must match in text (see ``_surface``: "ASD", not "asd"); empty otherwise.
    surfaces: frozenset[tuple[str, ...]]


def _surface(raw: str) -> str:
    """How a token of an abbreviation must be spelled: acronyms as written (a plural -s folded), words any case.

    "Recurrent UTIs" thus matches "recurrent UTIs" and "recurrent UTI", never "recurrent utis".
    """
    if sum(c.isupper() for c in raw) >= 2:
        return raw[:-1] if raw.endswith("s") and raw[:-1].isupper() else raw
    return _normalise_word(raw)


def _singular(token: str) -> str:
    """A crude singular, applied alike to dictionary and text, so only consistency matters."""
    if len(token) <= 3 or not token.isalpha():
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("omas"):  # neurofibromas, hamartomas: the -as rule below would keep them plural
        return token[:-1]
    if token.endswith("omata"):
        return token[:-2]
    if token.endswith(("oses", "yses")) and len(token) > 6:  # arthrogryposes, exostoses, paralyses
        return token[:-2] + "is"
    if token.endswith(("pneas", "pnoeas", "rrheas", "rrhoeas")):  # apneas, apnoeas, diarrhoeas; not whereas
        return token[:-1]
    if token.endswith("ias") and len(token) > 6:  # myoclonias, dystonias, arrhythmias; not bias, alias
        return token[:-1]
    if token.endswith(("ss", "us", "is", "as")):
        return token
    if token.endswith("s"):
        return token[:-1]
    return token


@lru_cache(maxsize=65536)
def _normalise_word(word: str) -> str:
    """Casefolded, accents and apostrophes removed, singular; memoised, the vocabulary is small."""
    if len(word) >= 3 and word.endswith("s") and word[:-1].isupper():
        word = word[:-1]  # an acronym's plural: "UTIs" is "UTI"
    folded = word.casefold()
    if not folded.isascii():
        folded = "".join(c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c))
    return _american(_singular(folded.replace("'", "").replace("’", "")))


#: British spellings and their American forms, applied alike to text and dictionary (HPO spells American):
#: hypercholesterolaemia, oedema, haemorrhage, paediatric, behaviour, tumour, generalised, apnoea.
_BRITISH = (
    (re.compile(r"aemia$"), "emia"),
    (re.compile(r"^oe(?=[dsn])"), "e"),
    (re.compile(r"(?<=[a-z])oea$"), "ea"),  # apnoea, dyspnoea, tachypnoea, diarrhoea, amenorrhoea
    (re.compile(r"(?<=[a-z])oedem"), "edem"),  # papilloedema, lymphoedema
    (re.compile(r"^foet"), "fet"),  # foetal
    (re.compile(r"^coeli"), "celi"),  # coeliac
    (re.compile(r"^(hyper|hypo|an|)haem"), r"\1hem"),
    (re.compile(r"^paed"), "ped"),
    (re.compile(r"(?<=[a-z])paed"), "ped"),  # orthopaedic
    (re.compile(r"^phaeo"), "pheo"),  # phaeochromocytoma
    (re.compile(r"^anaes"), "anes"),  # anaesthesia
    (re.compile(r"(?<=[a-z])aesthe"), "esthe"),  # paraesthesia, dysaesthesia, hyperaesthesia
    (re.compile(r"(?<=[a-z]{4})iae$"), "ia"),  # the Latin plural: acroparaesthesiae, telangiectasiae
    (re.compile(r"(?<=[ilmvbd])our(?=$|al|ed|ing)"), "or"),  # behaviour, tumour, odour
    (re.compile(r"(?<=[a-z]{3})is(?=e$|ed$|es$|ing$|ation$)"), "iz"),
)


def _american(word: str) -> str:
    if not word.isalpha() or len(word) < 5:
        return word
    for pattern, replacement in _BRITISH:
        word = pattern.sub(replacement, word)
    return word


#: Prefixes written both joined and hyphenated ("preauricular" / "pre-auricular", "hypopigmented" /
#: "hypo-pigmented"): a word after one of them and a hyphen is read joined to it, in text and dictionary alike.
_JOINED_PREFIXES = frozenset(
    {"pre", "post", "peri", "para", "hyper", "hypo", "intra", "inter", "sub", "supra", "micro", "macro", "retro"}
    | {"multi", "poly", "non", "extra", "infra", "trans", "pseudo", "semi", "hemi", "uni", "bi"}
    # combining forms: "neuro-developmental", "hepato-splenomegaly", "musculo-skeletal", "cranio-facial"
    | {"neuro", "cardio", "gastro", "hepato", "musculo", "osteo", "oculo", "cranio", "facio", "myo", "psycho"}
)


def _words(text: str) -> Iterator[tuple[str, int, int]]:
    """Words of ``text`` with their offsets, a hyphenated prefix joined to the word it precedes."""
    pending: tuple[str, int, int] | None = None
    for match in _WORD.finditer(text):
        word, start, end = match.group(), match.start(), match.end()
        if pending is not None:
            if text[pending[2] : start] == "-":
                yield pending[0] + word, pending[1], end
                pending = None
                continue
            yield pending
            pending = None
        if word.casefold() in _JOINED_PREFIXES and text[end : end + 1] == "-":
            pending = (word, start, end)
            continue
        yield word, start, end
    if pending is not None:
        yield pending


def _tokens(text: str) -> list[_Token]:
    """Word tokens with their offsets; articles are dropped so "of the aorta" meets "of aorta"."""
    tokens: list[_Token] = []
    for word, start, end in _words(text):
        norm = _normalise_word(word)
        if norm and norm not in _ARTICLES:
            tokens.append(_Token(norm, word, start, end))
    return tokens


def normalise(text: str) -> str:
    """The dictionary key of a phrase: casefolded, accents, punctuation and articles gone, singular words."""
    words = (_normalise_word(word) for word, _, _ in _words(text))
    return " ".join([word for word in words if word and word not in _ARTICLES])


def unescape_obo(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value) if "\\" in value else value


def obo_stanzas(path: Path) -> Iterator[dict[str, list[str]]]:
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

    def __init__(
        self,
        knowledge: HpoKnowledge,
        max_mention_tokens: int = MAX_MENTION_TOKENS,
        *,
        roots: tuple[str, ...] = (PHENOTYPIC_ABNORMALITY,),
        leave_out: tuple[str, ...] = (),
        extra: Mapping[str, str] | None = None,
        abbreviations: Mapping[str, str] | None = None,
        dropped_abbreviations: Collection[str] = (),
        min_words: int = 1,
    ) -> None:
        """A dictionary of the live terms strictly below ``roots`` (default: the phenotype findings).

        ``leave_out`` names subtrees (each term and all below it) kept out of the dictionary.
        ``extra`` adds phrases (phrase -> term id) the ontology does not spell, at the rank of an exact
        synonym; ``min_words`` leaves out names and synonyms shorter than that many words (not ``extra``
        phrases); ``abbreviations`` adds abbreviations (as written -> term id) matched like HPO's own, only as
        spelled; ``dropped_abbreviations`` are abbreviations (HPO's own too) the dictionary never reads, since
        they mean other things in notes. ``min_words``: the inheritance and onset dictionary
        (:mod:`dxsearch.knowledge.context_lookup`) needs it, since one-word synonyms there ("Inheritance",
        "Mitochondrial") match everywhere in text.
        """
        self.max_mention_tokens = max_mention_tokens
        self.roots = roots
        # ~200k small objects and no reference cycles: a cyclic GC pass over a large process heap (a server,
        # a test session) would cost more than the build itself, so collection waits until it is done.
        with gc_paused():
            dropped = frozenset(normalise(a) for a in dropped_abbreviations)
            self._build(knowledge, roots, leave_out, extra or {}, abbreviations or {}, dropped, min_words)
        # "normal hearing": only where this dictionary reads the impairment (not the inheritance and onset one's)
        terms = {entry.term_id for entry in self._entries.values()}
        self._normal_functions = {word: term for word, term in NORMAL_FUNCTIONS.items() if term in terms}

    def _build(
        self,
        knowledge: HpoKnowledge,
        roots: tuple[str, ...],
        leave_out: tuple[str, ...],
        extra: Mapping[str, str],
        abbreviations: Mapping[str, str],
        dropped: frozenset[str],
        min_words: int,
    ) -> None:
        candidates: dict[str, dict[str, tuple[int, set[tuple[str, ...]]]]] = defaultdict(dict)
        keys: dict[str, str] = {}
        xrefs: dict[str, set[str]] = defaultdict(set)
        if roots == (PHENOTYPIC_ABNORMALITY,) and not leave_out:
            within = knowledge.is_phenotypic_abnormality
        else:

            def within(term_id: str) -> bool:
                ancestors = knowledge.ancestors(term_id)
                return (
                    knowledge.current_id(term_id) == term_id
                    and any(root in ancestors for root in roots)
                    and not any(out == term_id or out in ancestors for out in leave_out)
                )

        def add(phrase: str, term_id: str | None, tier: int, *, shortest: int = min_words) -> None:
            if term_id is None or not within(term_id):
                return
            key = keys.get(phrase)
            if key is None:
                key = keys[phrase] = normalise(phrase)  # most names come twice (hpo3 and hp.obo)
            if not key or len(key.split()) < shortest or key in _EVERYDAY_WORDS:
                return
            if tier == _TIER_ABBREVIATION and key in dropped:
                return
            best, surfaces = candidates[key].get(term_id, (tier, set()))
            if tier == _TIER_ABBREVIATION:
                surfaces.add(tuple(_surface(token.raw) for token in _tokens(phrase)))
            candidates[key][term_id] = (min(best, tier), surfaces)

        for term in knowledge.ontology:
            if not term.is_obsolete:
                add(term.name, knowledge.current_id(term.id), _TIER_HPO3_NAME)
        for stanza in obo_stanzas(knowledge.data_dir / HP_OBO):
            if stanza.get("is_obsolete") == ["true"] or "id" not in stanza:
                continue
            term_id = knowledge.current_id(stanza["id"][0])
            for name in stanza.get("name", []):
                add(name, term_id, _TIER_OBO_NAME)
            for value in stanza.get("synonym", []):
                synonym = _synonym(value)
                if synonym is not None:
                    add(synonym[0], term_id, synonym[1])
            if term_id is not None and within(term_id):
                for value in stanza.get("xref", []):
                    prefix, _, local = value.split(" ", 1)[0].partition(":")
                    if prefix in _XREF_PREFIXES and local:
                        xrefs[f"{_XREF_PREFIXES[prefix]}:{local}"].add(term_id)
        for phrase, term_id in extra.items():
            add(phrase, knowledge.current_id(term_id), _TIER_EXACT_SYNONYM, shortest=1)
        for phrase, term_id in abbreviations.items():
            add(phrase, knowledge.current_id(term_id), _TIER_ABBREVIATION, shortest=1)
        # A one-word finding in "-ia" is said as its adjective too: "a hypotonic infant", "dystonic posturing",
        # "ataxic"; below every spelling HPO gives, so a word that names another term keeps it.
        for key, by_term in list(candidates.items()):
            adjective = _adjective(key)
            if adjective is not None:
                for term_id in by_term:
                    add(adjective, term_id, _TIER_ADJECTIVE)

        self._entries: dict[str, _Entry] = {}
        self._vocabulary: frozenset[str] | None = None  # every word of the entries, built on first use
        ambiguous: set[str] = set()
        for key, by_term in candidates.items():
            if len(by_term) == 1:  # most phrases: one term, nothing to arbitrate
                ((term_id, (best_tier, surfaces)),) = by_term.items()
                kept = frozenset(surfaces) if best_tier == _TIER_ABBREVIATION else frozenset()
                self._entries[key] = _Entry(term_id, best_tier, kept)
                continue
            best_tier = min(tier for tier, _ in by_term.values())
            winners = [term_id for term_id, (tier, _) in by_term.items() if tier == best_tier]
            if len(winners) > 1:
                # Two terms claim the phrase equally: guessing would plant a wrong id, so the key is dropped.
                ambiguous.add(key)
                continue
            (term_id,) = winners
            surfaces = by_term[term_id][1] if best_tier == _TIER_ABBREVIATION else set()
            self._entries[key] = _Entry(term_id, best_tier, frozenset(surfaces))
        #: (qualifier, term) -> the more specific term a qualifier and a spelled-out name of the term make, and
        #: that lies below it: ("bilateral", Cryptorchidism) is Bilateral cryptorchidism, so "bilateral
        #: undescended testes" and "bilateral SNHL" read as written. Below it only: "left diaphragmatic hernia"
        #: is an hp.obo synonym of Aplasia of the left hemidiaphragm, no kind of Congenital diaphragmatic hernia.
        #: "Multiple" is exempt: "multiple X" is more than one X wherever HPO files it (Multiple lipomas is no child
        #: of Lipoma), so "several lipomas" reads it.
        self._qualified: dict[tuple[str, str], str] = {}
        for key, entry in self._entries.items():
            qualifier, _, rest = key.partition(" ")
            inner = self._entries.get(rest) if qualifier in _QUALIFIERS else None
            if (
                inner is not None
                and entry.tier != _TIER_ABBREVIATION
                and inner.tier != _TIER_ABBREVIATION
                and inner.term_id != entry.term_id
                and (qualifier == "multiple" or inner.term_id in knowledge.ancestors(entry.term_id))
            ):
                self._qualified.setdefault((qualifier, inner.term_id), entry.term_id)
        #: The fewest a count must say for a "Multiple X" term: what its definition states ("The presence of six or
        #: more cafe-au-lait spots": 6; "two or more", "more than one"), else two. "2 cafe-au-lait macules" is not
        #: Multiple cafe-au-lait spots, whose definition asks for six.
        #: Only terms HPO names "Multiple X" are counted (:meth:`counted_term`): "3 respiratory infections" says how
        #: many, not that they recur (Recurrent respiratory infections), nor are 2 fractures Recurrent fractures.
        self._fewest: dict[str, tuple[int, bool]] = {}  # term -> (fewest, whether its definition states it)
        for (qualifier, _), term_id in self._qualified.items():
            text = knowledge.term_text(term_id) if qualifier == "multiple" else None
            if text is not None and knowledge.term_name(term_id).casefold().startswith("multiple "):
                stated = _fewest_said(text.definition or "")
                self._fewest[term_id] = (stated, True) if stated is not None else (2, False)
        #: Keys two terms claim equally (e.g. "asd"); left out rather than guessed.
        self.ambiguous: frozenset[str] = frozenset(ambiguous)
        # Code of another terminology (SNOMED:…, UMLS:…, ICD10:…) -> the one phenotype term hp.obo cross-references.
        self._xrefs: dict[str, str] = {code: ids.pop() for code, ids in xrefs.items() if len(ids) == 1}
        bags: dict[tuple[str, ...], set[str]] = defaultdict(set)
        for key, entry in self._entries.items():
            if entry.tier != _TIER_ABBREVIATION:
                for bag in _entry_bags(key.split()):
                    bags[bag].add(entry.term_id)
        # Bag of content-word stems -> the one term whose names and synonyms have it (word order and form free);
        # a bag a term shares only with terms below it is that term's ("eye abnormalities": Abnormality of the
        # eye, not its child Abnormal eye morphology), since the broader claim is the one the words make.
        self._bags: dict[tuple[str, ...], str] = {}
        for bag, ids in bags.items():
            broadest = _broadest(ids, knowledge)
            if broadest is not None:
                self._bags[bag] = broadest

    def __len__(self) -> int:
        return len(self._entries)

    def by_code(self, code: str) -> str | None:
        """The phenotype term ``hp.obo`` cross-references from a code (``SNOMED:74969002``, ``UMLS:C0037932``).

        Codes are CURIEs with the prefixes the FHIR reader writes: ``SNOMED``, ``UMLS``, ``ICD10``. A code
        two terms claim is not mapped.
        """
        return self._xrefs.get(code)

    def lookup(self, label: str) -> str | None:
        """The current HPO id whose name or synonym equals the whole label once normalised, else ``None``."""
        entry = self._entries.get(normalise(label))
        return entry.term_id if entry is not None else None

    def close_terms(self, label: str, limit: int = 3) -> list[str]:
        """HPO ids whose name or synonym is spelt close to ``label`` (a misspelling's "did you mean"), closest
        first, at most ``limit``; empty when none is close. Cheap (milliseconds): only names within three
        characters of the label's length are compared, by :func:`difflib.get_close_matches` (ratio >= 0.85).
        """
        wanted = normalise(label)
        near = [key for key in self._entries if abs(len(key) - len(wanted)) <= 3]
        terms: list[str] = []
        for key in difflib.get_close_matches(wanted, near, n=2 * limit, cutoff=0.85):
            term = self._entries[key].term_id
            if term not in terms:
                terms.append(term)
        return terms[:limit]

    def words_term(self, words: str) -> str | None:
        """The term these words name whole, in any order and form ("hearing impaired": Hearing impairment), as a
        bag match reads them in text; ``None`` when they name none or more than one."""
        exact = self.lookup(words)
        if exact is not None:
            return exact
        tokens = [(token, False) for token in _tokens(words)]
        match = self._bag_match(tokens, 0) if tokens else None
        return match[1] if match is not None and match[0] == len(tokens) else None

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

    def mentions(
        self, text: str, candidates: Iterable[Candidate] = (), stated: Iterable[Candidate] = ()
    ) -> list[ExtractedTerm]:
        """Every HPO term mention in clinical text, in order, with its span and assertion.

        Greedy longest match over normalised tokens within a sentence. A mention inside a clause opened
        by a cue ("no", "denies", "without", "negative for", "absence of"; "family history of", a relative
        as subject or in the possessive; "possible", "suspected", "if", "to exclude", "at risk of";
        "history of", "previous", "prior", "Hx"; a leading "resolved", "past", "former" over its noun phrase only:
        :func:`_past_adjective`) takes that cue's assertion; the clause ends at a semicolon,
        sentence end or "but", and at a comma unless a list of terms goes on ("no scoliosis, pectus excavatum
        or arachnodactyly"). A hedge (:data:`_NARROW_CUES`: "likely", "consistent with") covers only the
        mention after it and a list joined to it by "and" / "or". Cues after a mention ("was normal", "cannot
        be excluded", "Scoliosis likely.", "in his mother", "Scoliosis: no", "vs syncope", "seizure-free",
        :func:`_free_of`), a "Family history:" section (:func:`family_sections`) and a past-history section
        (:func:`history_sections`, "Resolved:" too) and a heading of what is absent ("Absent:", "Negatives:";
        :func:`denial_sections`) assert it too; a mention naming a place ("Epilepsy Clinic") is no mention.
        Coordinations share words (:meth:`_distributed`).

        ``candidates`` are ``(start, end, term_id)`` character spans another recogniser proposes (see
        ``dxsearch.intake.second_reader``): one of two words or more that starts and ends on a word of
        the text and covers more words than this dictionary's own match there is taken instead, and
        gets its assertion the same way. ``stated`` are candidates of a value or phrase stated whole ("IQ: 55",
        "OFC: -3 SD"; ``dxsearch.intake.quantities``): taken the same way, one word too ("ASD" read by its
        context), and no sentence ends inside them.
        """
        stated = list(stated)
        by_start: dict[int, tuple[int, str, int]] = {}  # start -> (end, term id, fewest words taken)
        for (start, end, term_id), shortest in [*((c, 2) for c in candidates), *((c, 1) for c in stated)]:
            if start not in by_start or end > by_start[start][0]:
                by_start[start] = (end, term_id, shortest)
        found: list[ExtractedTerm] = []
        subject: tuple[str, str | None] | None = None  # the relative the previous clause was about
        previous_end = 0
        sentences = list(_sentences(text, [(start, end) for start, end, _ in stated]))
        for k, sentence in enumerate(sentences):
            # "Father died of a stroke; he also had kidney cysts": the clause after a semicolon may go on with him
            gap = text[previous_end : sentence[0][0].start]
            carried = subject if ";" in gap and not _SENTENCE_END.search(gap) else None
            # "Her mother denies headaches but has migraine", "Mother denies headaches; she has migraine": the denier
            # goes on to say what she has, so she speaks of herself: both are hers, not the patient's
            denier = _denier(sentence, text)
            owns = denier is not None and (
                any(self._but_has_finding(sentence, i) for i in range(len(sentence)))
                or (k + 1 < len(sentences) and _goes_on_after(text, sentence, sentences[k + 1], denier))
            )
            matched = list(self._extract_sentence(text, sentence, by_start, carried, denier_owns=owns))
            # "...; the boy has ataxia; he has seizures": a clause about the patient, or a relative said only to be
            # well ("Father is healthy; he had seizures"), hands no relative on to the next "he" (code review)
            named = _relative_subject(sentence, text) or (denier if owns else None)
            resets = _opens_with_the_patient(sentence, text) or (named is not None and _said_well(sentence))
            subject, previous_end = None if resets else named or carried, sentence[-1][0].end
            shared = [*self._distributed(text, sentence, matched), *self._attached(text, sentence, matched)]
            found.extend(sorted([*matched, *shared], key=lambda m: m.start))
        # Sections that say whose or when what they hold is, in this order: (spans, what a mention in one is said to
        # be, whether only what is said present changes). A family section keeps "excluded" ("no hearing loss" in the
        # family); "PMH: no asthma" stays denied; "Absent: seizures" is what he has not.
        sectioned: tuple[tuple[list[tuple[int, int]], Assertion, bool], ...] = (
            (family_sections(text), "family_history", False),
            (denial_sections(text), "absent", True),
            (history_sections(text), "historical", True),
        )
        for spans, assertion, present_only in sectioned:
            if not spans:
                continue
            at = _merged(spans)
            found = [
                replace(m, assertion=assertion, excluded=m.excluded or assertion == "absent")
                if (m.assertion == "present" or not present_only) and _inside(m.start, at)
                else m
                for m in found
            ]
        return _with_regression(found, text)

    def _distributed(
        self, text: str, tokens: list[tuple[_Token, bool]], matched: list[ExtractedTerm]
    ) -> list[ExtractedTerm]:
        """Terms a coordination shares out: "renal and hepatic cysts" also says renal cysts, "low-set and
        posteriorly rotated ears" (or "low-set posteriorly rotated ears") low-set ears, "cleft lip and palate"
        cleft palate.

        A mention next to "and" / "or" lends its words to the member on the other side: a member before it
        (one or two words; single words further back through a comma-separated list) takes the place of
        the mention's first words, a member after it (one or two words) the place of its last words. A
        member that then names a term is a mention of it, spanning the member's words, labelled with the
        words it stands for, with the mention's assertion. Words already part of a mention are left alone.
        """
        index = {token.start: i for i, (token, _) in enumerate(tokens)}
        taken = _taken(tokens, matched, index)

        def free(i: int, j: int) -> bool:
            """Tokens i..j-1 exist, are in no mention, are no stop word, and no comma falls between them."""
            return (
                0 <= i < j <= len(tokens)
                and all(k not in taken and tokens[k][0].norm not in _BAG_STOPWORDS for k in range(i, j))
                and not any(tokens[k][1] for k in range(i + 1, j))
            )

        def said(part: list[_Token]) -> str:
            return text[part[0].start : part[-1].end]

        def shared_term(
            member: list[_Token], words: list[_Token], mention: ExtractedTerm, *, named: bool = False
        ) -> ExtractedTerm | None:
            entry = self._entries.get(" ".join(t.norm for t in words))
            term_id: str | None
            if entry is not None and entry.tier != _TIER_ABBREVIATION:
                term_id = entry.term_id
            elif named:  # only a term's own name or synonym: "long, thin fingers", not a bag of words
                return None
            else:  # in any order and form, as a mention may be: "ear and kidney anomalies"
                bag = _bag([t.norm for t in words])
                term_id = self._bags.get(bag) if bag is not None else None
            if term_id is None:
                return None
            # The words it stands for ("renal cysts", "low-set ears"); its span is the member's own words.
            parts = [words[: words.index(member[0])], member, words[words.index(member[-1]) + 1 :]]
            label = " ".join(said(part) for part in parts if part)
            return ExtractedTerm(term_id, label, mention.excluded, member[0].start, member[-1].end, mention.assertion)

        shared: list[ExtractedTerm] = []
        for mention in matched:
            covered = _mention_tokens(tokens, index, mention)
            if covered is None:
                continue
            first, last = covered
            words = [token for token, _ in tokens[first : last + 1]]
            if len(words) < 2:
                continue
            lent: list[list[_Token]] = []  # modifiers before the mention that, with its head, named a term
            if first >= 2 and tokens[first - 1][0].norm in _CONJUNCTIONS:
                end, size = first - 1, 3
                if end >= 2 and tokens[end - 1][0].norm == "and" and tokens[first - 1][0].norm == "or":
                    end -= 1  # "and/or"
                while True:
                    found, found_member = None, []
                    for width in range(size, 0, -1):
                        if not free(end - width, end):
                            continue
                        if end - width > 0 and tokens[end - width - 1][0].norm in _NORMAL_WORDS:
                            continue  # "Normal hearing and visual impairment": no hearing impairment (code review)
                        member = found_member = [token for token, _ in tokens[end - width : end]]
                        # The head alone first: "myoclonic and atypical absence seizures" is myoclonic seizures.
                        for keep in range(len(words) - 1, 0, -1):
                            found = found or shared_term(member, member + words[keep:], mention)
                        if found is not None:
                            break
                    if found is not None:
                        shared.append(found)
                    width = len(found_member) if found is not None else 1
                    if not free(end - width, end) or not tokens[end - width][1]:  # no comma before it: list ends
                        break
                    end, size = end - width, 3
            # Stacked modifiers without a conjunction: "low-set posteriorly rotated ears" also says low-set ears,
            # "long narrow face" long face. The modifier must not be a word of a mention or a stop word.
            if first >= 1 and not tokens[first][1] and tokens[first - 1][0].norm not in _CONJUNCTIONS:
                for width in (2, 1):
                    if not free(first - width, first):
                        continue
                    member = [token for token, _ in tokens[first - width : first]]
                    if member[0].norm in _SIDES:  # "left congenital diaphragmatic hernia": a side, no modifier
                        continue
                    stacked = None
                    for keep in range(len(words) - 1, 0, -1):
                        stacked = stacked or shared_term(member, member + words[keep:], mention)
                    if stacked is not None:
                        shared.append(stacked)
                        lent.append(member)
                        break
            # Modifiers listed with commas before one head: "low-set, posteriorly rotated ears" also says low-set
            # ears, "long, thin fingers" long fingers, "small, widely spaced teeth" small teeth; each modifier (a word
            # or two, not a side, not a predicate's "is small,") only where it and the head are a term's name.
            end = first
            while end >= 1 and tokens[end][1]:
                listed: ExtractedTerm | None = None
                width = 0
                for width in (2, 1):
                    if not free(end - width, end) or tokens[end - width][0].norm in _SIDES:
                        continue
                    if end - width >= 1 and tokens[end - width - 1][0].norm in COPULAS and not tokens[end - width][1]:
                        continue  # "he is small, low-set ears": the modifier is a predicate of its own
                    if end - width >= 1 and tokens[end - width - 1][0].norm in _NORMAL_WORDS:
                        continue  # "Normal vision, hearing loss": a function said normal, no modifier of the loss
                    member = [token for token, _ in tokens[end - width : end]]
                    for keep in range(len(words) - 1, 0, -1):
                        listed = listed or shared_term(member, member + words[keep:], mention, named=True)
                    if listed is not None:
                        break
                if listed is None:
                    break
                shared.append(listed)
                lent.append(member)
                end -= width
            after = last + 1
            if after + 2 < len(tokens) and tokens[after][0].norm == "and" and tokens[after + 1][0].norm == "or":
                after += 1  # "and/or"
            if after + 1 < len(tokens) and tokens[after][0].norm in _CONJUNCTIONS and not tokens[after][1]:
                # a possessive opens a member of three words: "lost purposeful hand use and her few words"
                possessive = tokens[after + 1][0].norm in ("her", "his", "their")
                for width in (3, 2, 1) if possessive else (2, 1):
                    if not free(after + 1, after + 1 + width):
                        continue
                    member = [token for token, _ in tokens[after + 1 : after + 1 + width]]
                    found = None
                    for keep in range(len(words) - 1, 0, -1):
                        found = found or shared_term(member, words[:keep] + member, mention)
                    # "long thin fingers and toes": a modifier before the mention that named a term with its head
                    # ("long fingers") is shared by the member too (Long toe), beside the mention's own words
                    terms = [found] if found is not None else []
                    for modifier in lent:
                        term = shared_term(member, modifier + member, mention, named=True)
                        if term is not None and all(term.term_id != t.term_id for t in terms):
                            terms.append(term)
                    if terms:
                        shared.extend(terms)
                        break
        return shared

    def _attached(
        self, text: str, tokens: list[tuple[_Token, bool]], matched: list[ExtractedTerm]
    ) -> list[ExtractedTerm]:
        """Findings "with" attaches to the organ a mention names: "enlarged kidneys with multiple cysts" also says
        Multiple renal cysts, "an enlarged liver with cysts" Hepatic cysts.

        Why: a note names the organ once and what is wrong with it after "with"; read alone, "multiple cysts" names
        no term (whose cysts?), so the second finding was lost. The words right after "with" (:func:`_attached_words`)
        are read with one word of the mention, last word first, as a bag (:func:`_bag`); a term other than the
        mention's is a mention of it, spanning those words, with the mention's assertion. A mention of one word
        ("seizures with fever") lends no organ, and words that go on to name a place of their own ("cysts in the
        liver") are not the mention's organ's.
        """
        index = {token.start: i for i, (token, _) in enumerate(tokens)}
        taken = _taken(tokens, matched, index)
        attached: list[ExtractedTerm] = []
        for mention in matched:
            covered = _mention_tokens(tokens, index, mention)
            if covered is None:
                continue
            first, last = covered
            after = last + 1
            if last == first or after >= len(tokens) or tokens[after][0].norm not in _ATTACHING or tokens[after][1]:
                continue
            organ = [token for token, _ in tokens[first : last + 1] if token.norm not in _BAG_STOPWORDS]
            tried = _attached_words(tokens, after + 1, taken)
            # "with no cysts", "with possible cysts": the words say how the attached finding is meant (code review)
            said = _attached_assertion(tried[0]) if tried else None
            if said is not None and mention.assertion != "present":
                continue  # a relative's or a doubted mention with a denied or doubted finding: read no more
            assertion = said or mention.assertion
            width = len(tried[0]) if tried else 0
            if said is not None:
                tried = [[word for word in tried[0] if word not in _ATTACHED_CUES]][:1]
                tried = [words[-1:] for words in tried if words]  # the head alone: "not many cysts" is no cyst
            for member in tried:
                term_id = next(
                    (
                        found
                        for word in reversed(organ)
                        if (found := self._bag_term([word.norm, *member])) not in (None, mention.term_id)
                    ),
                    None,
                )
                if term_id is not None:
                    start, end = tokens[after + 1][0].start, tokens[after + width][0].end
                    label = text[mention.start : end]
                    excluded = mention.excluded or assertion == "absent"
                    attached.append(ExtractedTerm(term_id, label, excluded, start, end, assertion))
                    break
        return attached

    def _bag_term(self, norms: list[str]) -> str | None:
        """The one term whose bag these normalised words make, if any."""
        bag = _bag(norms)
        return self._bags.get(bag) if bag is not None else None

    def _extract_sentence(
        self,
        text: str,
        tokens: list[tuple[_Token, bool]],
        candidates: dict[int, tuple[int, str, int]],
        carried: tuple[str, str | None] | None = None,
        *,
        denier_owns: bool = False,
    ) -> Iterator[ExtractedTerm]:
        # ``carried``: the relative the clause before this one (after a semicolon) was about, whom "he" may mean;
        # ``denier_owns``: the relative opening the sentence with a denial speaks of herself (:func:`_denier`)
        subject = carried  # the relative the sentence is about so far, and the "his" / "her" before it
        assertion: Assertion = "present"
        relative_denies = False  # a negation within a relative's clause: what follows, the relative does not have
        listing = False  # since the last cue, only list items and conjunctions: a list the cue may run through
        unknown = 0  # words since the last comma, conjunction or mention that name nothing: a list item ends soon
        adjacent: tuple[int, Assertion] | None = None  # (token index, assertion) of an adjacent-only cue
        narrow: Assertion | None = None  # under a narrow cue ("likely"): the assertion its scope hands back to
        past_scope = False  # the narrow cue is an adjective saying it is over ("resolved"): its scope is a noun phrase
        ends = {token.end: index + 1 for index, (token, _) in enumerate(tokens)} if candidates else {}
        i = 0
        while i < len(tokens):
            if tokens[i][1] and narrow is not None:
                assertion, narrow = narrow, None  # "likely hepatomegaly, scoliosis": a hedge ends at a comma
            if tokens[i][1] and assertion == "family_history" and _patients_clause_ahead(tokens, i):
                # "Mother has Marfan syndrome, tall stature and ectopia lentis are present in the patient": a clause
                # with a verb of its own, said of the patient, ends the relative's list (code review)
                assertion, listing, relative_denies, narrow = "present", False, False, None
            if tokens[i][1] and not (listing and self._list_item_at(tokens, i)):
                # A comma ends a cue's clause, unless a list goes on ("no X, Y or Z"; "her mother had balding,
                # cataracts"); "Parents are well, hypotonia since birth" is the patient's hypotonia, but "Mum has no
                # hearing loss, and has migraine" goes on with Mum.
                goes_on = (
                    assertion == "family_history"
                    and tokens[i][0].norm == "and"
                    and i + 1 < len(tokens)
                    and tokens[i + 1][0].norm in _ASSERTING_VERBS
                ) or (assertion == "family_history" and subject is not None and self._but_has_finding(tokens, i))
                assertion = assertion if goes_on else "present"
                relative_denies = False
                narrow = None if not goes_on else narrow
            if tokens[i][1]:
                unknown = 0
            match = self._longest_match(tokens, i)
            if match is None:
                match = self._bag_match(tokens, i)
                if match is not None and self._cuts_a_mention(tokens, i, match[0]):
                    match = None  # "slowing with speech delay" is not Slow speech: it would cut Speech delay in two
            denied_predicate = normal_function = False
            if match is None:
                match = self._negated_predicate(tokens, i) or self._denied_by_prefix(tokens, i)
                if match is None:
                    # "normal hearing", "hearing is normal": the impairment, absent
                    match = _normal_function(text, tokens, i, self._normal_functions)
                    normal_function = match is not None
                denied_predicate = match is not None
            proposed = candidates.get(tokens[i][0].start)
            if proposed is not None:
                stop = ends.get(proposed[0])
                if (
                    stop is not None
                    and stop - i >= proposed[2]
                    and stop > (match[0] if match else i)
                    # a stated value is whole; a proposal neither cuts a mention nor swallows a modifier of its own
                    and (proposed[2] == 1 or not self._cuts_a_mention(tokens, i, stop, proposed[1]))
                ):
                    match = stop, proposed[1]
            if match is not None:
                end, term_id = match
                first, last = tokens[i][0], tokens[end - 1][0]
                if end < len(tokens) and tokens[end][0].norm in _INSTITUTION_WORDS and not tokens[end][1]:
                    i = end  # "Neurofibromatosis Clinic": a name, not a finding
                    continue
                if end == i + 1 and (_names_a_record(text, tokens, i) or _names_a_person(text, tokens[i][0])):
                    i = end  # "Patient ID: 4411", "Name: Amelia W": a record's or a person's name, not a finding
                    continue
                said = adjacent[1] if adjacent is not None and adjacent[0] == i else assertion
                if normal_function and (
                    assertion == "family_history" or _relative_before(tokens, i) or _relative_after(tokens, i)
                ):
                    said = "family_history"  # "Father has normal hearing": his, not the patient's (code review)
                if denied_predicate and said in ("present", "historical"):
                    said = "absent"  # "his gait is not ataxic"
                if said == "present" and _QUERIED.search(text, max(0, first.start - 40), first.start):
                    said = "uncertain"  # "?ectopia lentis", "(?CVI)", "?intestinal ganglioneuromatosis": a query
                if said == "present" and self._after_versus(text, tokens, i):
                    said = "uncertain"  # "?Parkinson disease vs drug-induced parkinsonism": the other side of one
                # "Ptosis (R > L) - absent now": a bracket of sides is part of the mention, not an item of its own
                side = _side_bracket(text, tokens, end)
                post = _cue_after(tokens, end + side, _POST_CUES_LONGEST_FIRST)
                if post and not side and "(" in text[last.end : tokens[end][0].start]:
                    post = 0  # "Marked hypotonia (absent reflexes)": a bracket opens an item of its own
                post += side if post else 0
                past = _past_bracket(text, tokens, end + side)
                if said == "present" and past:
                    said, post = "historical", max(post, side + past)  # "seizures (present last year)": gone now
                elif said == "present" and post and _was_there(tokens, end + post):
                    said = "historical"  # "absent now, was present at birth": it was there and is gone
                elif (
                    (said == "present" and (post or _CHECKLIST_NO.match(text, last.end)))
                    # "Past seizures: none", "Previous seizures - denied": a checklist's "no" wins over its history
                    or (said == "historical" and _CHECKLIST_NO.match(text, last.end))
                ) and (
                    # "Cataplexy was not observed during the visit, but parents describe episodes": theirs to tell
                    not _told_though_unseen(text, tokens, end + post)
                ):
                    said = "absent"
                answer = _QUERY_ANSWERED.match(text, last.end) if said in ("present", "historical") else None
                if answer is not None and said == "historical":
                    said = "absent" if answer.group("no") else said  # "Any past seizures? No."
                elif answer is not None:
                    # "Hypertelorism? Possibly.", "Seizures?": a query after it, unless answered ("Ptosis? No.")
                    said = "absent" if answer.group("no") else "present" if answer.group("yes") else "uncertain"
                unsure = (
                    _cue_after(tokens, end, _POST_UNCERTAIN, across_commas=True)
                    or _cue_after(tokens, end, _POST_TESTED)
                    or _post_likely(tokens, end)
                )
                if unsure and said == "present":
                    said, post = "uncertain", max(post, unsure)
                other = self._versus(tokens, end)  # "seizures vs syncope": a differential, both uncertain
                if other is not None:
                    said = "uncertain" if said == "present" else said
                    adjacent = (other, "uncertain")
                free = _free_of(tokens, end) if not post else None  # "seizure-free for 2 years on valproate"
                if free is not None and said in ("present", "historical"):
                    said, post = free, 1
                over = _cue_after(tokens, end, POST_HISTORICAL, across_commas=True)
                if over and _names_a_measure(tokens, end, over):
                    over = 0  # "hypercalcaemia (corrected calcium 2.92)": a measure of it, not its repair
                if over and tokens[end][1] and self._opens_a_past_item(tokens, end):
                    over = 0  # "hypotonia, resolved jaundice": the next item's adjective, not the hypotonia's end
                if over and said == "present":
                    said, post = "historical", max(post, over)
                family = _post_family(tokens, end)  # "seizures in his mother"
                if not family and self._shared_head_in_family(tokens, end):
                    family = 2 + _post_family(tokens, end + 2)  # "Long thin fingers and toes in his father"
                if family and said in ("present", "historical"):
                    said, post = "family_history", max(post, family)
                # "Mother denies any history of seizures herself": what she says of herself, not of the child
                own = said in ("present", "historical", "absent") and _relative_themselves(tokens, i, end)
                own_denied = own and said == "absent"
                said = "family_history" if own else said
                denied = (
                    said == "absent"
                    or own_denied
                    or (said == "family_history" and normal_function)
                    or (
                        said == "family_history"
                        # "Family history of deafness was negative", "his father's hearing loss was not seen"
                        and (
                            (assertion == "family_history" and relative_denies)
                            or _cue_after(tokens, end, _POST_CUES) > 0
                        )
                    )
                )
                yield ExtractedTerm(term_id, text[first.start : last.end], denied, first.start, last.end, said)
                # A clause break inside the mention ("long, slender fingers") ends the cue's scope after it.
                if any(soft for _, soft in tokens[i + 1 : end]):
                    assertion = "present"
                i, unknown = end + post, 0
                # A relative's list runs on: "her mother (deceased, 58) had balding, cataracts"
                listing = listing or (said == "family_history" and assertion == "family_history")
                continue
            if subject is not None and _pronoun_means(tokens, i, subject):
                # "Father died of a stroke; he also had kidney cysts": "he" is the father, named just before
                assertion, relative_denies, listing, narrow, unknown = "family_history", False, True, None, -1
                i += 1
                continue
            cue = _cue(tokens, i, text)
            if (
                cue is None
                and denier_owns
                and tokens[i][0].norm in _RELATIVE_WORDS
                and i + 1 < len(tokens)
                and tokens[i + 1][0].norm in _DENY_VERBS
            ):
                cue = (tokens[i][0].norm,), "family_history"  # "Her mother denies headaches but has migraine"
            if cue is not None and cue[0] == ("free", "of") and _said_since(tokens, i + 2):
                cue = cue[0], "historical"  # "free of seizures since starting levetiracetam": as "seizure-free"
            elif cue is not None and cue[0] in _OPENING_HEDGES and i > 0 and not tokens[i][1]:
                cue = cue[0], None  # "MRI findings consistent with PVL": the evidence before it affirms what follows
            if cue is not None:
                # "no history of seizures", "denies previous surgery": a negated history is still denied;
                # "his father has never had seizures": a relative's negation is still said of the relative.
                if cue[1] == "absent" and assertion == "family_history":
                    relative_denies = True  # "Mum has no muscle problems": the relative does not have it
                elif cue[1] == "family_history":
                    # "No family history of sudden death", "There is no known family history of seizures": the family
                    # is said not to have it, as when a relative is ("Mum has no muscle problems").
                    relative_denies = _denied_just_before(tokens, i)
                past_adjective = cue[1] == "historical" and len(cue[0]) == 1 and cue[0][0] in _PAST_ADJECTIVES
                hedge = cue[1] is not None and (cue[0] in _NARROW_CUE_SET or past_adjective)
                if hedge and assertion == "family_history":
                    pass  # "her mother likely had seizures": still the mother's
                elif (
                    not (cue[1] == "historical" and assertion == "absent")
                    and not (cue[1] == "absent" and assertion == "family_history")
                    # "Mother has a history of seizures" (the patient's history, before), "Mother denies any history of
                    # seizures but has migraine": a relative's history is the relative's, never the patient's
                    and not (cue[1] == "historical" and assertion == "family_history")
                ):
                    if hedge:
                        narrow = narrow or assertion  # the scope's end hands back what held before it
                        past_scope = past_adjective
                    elif cue[1] is not None:
                        narrow = None
                    assertion = cue[1] or assertion
                listing = cue[1] is not None and cue[1] != "present"
                # A relative's cue ("brother walked", "sister cannot") ends at the relative: the verb may start a
                # mention of its own ("walked at 3 years", "cannot walk"), which is then the relative's.
                relative = cue[1] == "family_history" and tokens[i][0].norm in _RELATIVE_WORDS
                if relative and not _possessive(tokens[i][0], text):
                    subject = tokens[i][0].norm, tokens[i - 1][0].norm if i > 0 else None
                    unknown = -1  # the relative's verb names nothing, but is no list item: "Mother has X, Y and Z"
                i += 1 if relative else len(cue[0])
                continue
            if tokens[i][0].norm == "but" or (
                tokens[i][0].norm == "and" and i + 1 < len(tokens) and tokens[i + 1][0].norm in _ASSERTING_VERBS
            ):
                relative_denies = False  # "Mum has no hearing loss, and has migraine": the migraine is hers
            if tokens[i][0].norm in _CONJUNCTIONS or tokens[i][0].norm == "nor":
                unknown = 0
            elif tokens[i][0].norm in _DIAGNOSIS_ENDS and listing:
                unknown = 0  # a list item naming a diagnosis: "Mother has Loeys-Dietz syndrome, ectopia lentis and ..."
            else:
                # A list runs through an item that names nothing ("denies headaches, visual disturbance or
                # weakness"), not through a clause ("no fever reported today, hypotonia").
                unknown += 1
                listing = listing and unknown <= _LIST_ITEM_WORDS
                if narrow is not None and (
                    tokens[i][0].norm in _PAST_SCOPE_ENDS
                    if past_scope
                    else tokens[i][0].norm not in _NARROW_SCOPE_WORDS
                ):
                    assertion, narrow = narrow, None  # "Likely Marfan syndrome with tall stature": the hedge ends
            adjacent_cue = _ADJACENT_CUES.get(tokens[i][0].norm)
            if adjacent_cue is not None:
                adjacent = (i + 1, adjacent_cue)
            elif (
                (
                    tokens[i][0].norm in _CLAUSE_BREAKERS
                    and not _age_aside_who(tokens, i)
                    # "Mum has no hearing loss but has migraine": the relative goes on, and the migraine is hers
                    and not (assertion == "family_history" and subject is not None and self._but_has_finding(tokens, i))
                )
                or (
                    assertion == "family_history"
                    and tokens[i][0].norm in _PATIENT_SUBJECTS
                    # "Father had a murmur as a child and has ...": a time of his life, not the patient
                    and not (
                        i > 0 and tokens[i - 1][0].norm in ("as", "when") and tokens[i][0].norm not in ("he", "she")
                    )
                )
                # "and had" goes on with the relative ("his father has a large head and had a nodule removed")
                or (
                    assertion not in ("present", "family_history")
                    and _patient_asserts(tokens, i)
                    # "Mother denies that he has seizures": what is denied, not a new statement
                    and not (i > 0 and tokens[i - 1][0].norm in _DENIED_THAT and not tokens[i][1])
                )
            ):
                assertion, narrow = "present", None
            i += 1

    def _shared_head_in_family(self, tokens: list[tuple[_Token, bool]], end: int) -> bool:
        """Whether a mention ending at ``end`` goes on with "and" / "or", one word naming nothing by itself that the
        mention lends its words to, and a relative: "Long thin fingers and toes in his father" is the father's long
        fingers and toes (code review)."""
        if end + 2 >= len(tokens) or tokens[end][0].norm not in _FUNCTION_JOINS:
            return False
        if tokens[end][1] or tokens[end + 1][1] or tokens[end + 2][1] or self._longest_match(tokens, end + 1):
            return False
        return _post_family(tokens, end + 2) > 0

    def _but_has_finding(self, tokens: list[tuple[_Token, bool]], i: int) -> bool:
        """Whether "but" at ``i`` goes on with the subject before it having a finding named right after its verb
        (:func:`_but_has`): "Mum has no hearing loss but has migraine". Not "but has been worried about his gait",
        "but has concerns about speech delay", "but has given him ondansetron", "but has a brother with autism"
        (what she tells or who she has), nor a finding of a pregnancy, which is the patient's ("Mother was well in
        pregnancy but had polyhydramnios")."""
        j = _but_has(tokens, i)
        if j is None or any(token.norm in _PRENATAL_WORDS for token, _ in tokens):
            return False
        return self._longest_match(tokens, j) is not None or self._bag_match(tokens, j) is not None

    def _opens_a_past_item(self, tokens: list[tuple[_Token, bool]], i: int) -> bool:
        """Whether token ``i``, after a comma, is an adjective saying a finding is over that opens the next list
        item, a mention starting within its next three words ("hypotonia, resolved neonatal jaundice"), not words
        said of the mention before it ("hypoglycaemia, resolved with feeds", "seizures, resolved at 5")."""
        if not _past_adjective(tokens, i):
            return False
        for j in range(i + 1, min(i + 4, len(tokens))):
            # "Hypotonia, resolved after seizure control": what it resolved after is no item of its own
            if tokens[j][1] or tokens[j][0].norm in _PAST_ITEM_ENDS:
                return False
            if self._longest_match(tokens, j) is not None:
                return True
        return False

    def _versus(self, tokens: list[tuple[_Token, bool]], end: int) -> int | None:
        """Where the other side of a differential starts, when "vs" / "versus" joins a mention ending at ``end`` to
        another ("seizures vs syncope", "hepatomegaly versus mild splenomegaly"): both are uncertain. ``None`` when
        no mention follows it ("in patients with seizures versus controls" leaves the seizures alone)."""
        if end + 1 >= len(tokens) or tokens[end][0].norm not in _VERSUS or tokens[end][1] or tokens[end + 1][1]:
            return None
        for j in (end + 1, end + 2):
            if j < len(tokens) and (self._longest_match(tokens, j) or self._bag_match(tokens, j)):
                return j
            if j >= len(tokens) or tokens[j][0].norm not in _MODIFIERS:
                return None
        return None

    def _after_versus(self, text: str, tokens: list[tuple[_Token, bool]], i: int) -> bool:
        """Whether a mention starting at token ``i`` is the second side of a differential whose first side names no
        term ("?Parkinson disease vs drug-induced parkinsonism", "benign macrocephaly versus hydrocephalus"): "vs"
        right before it, or before a modifier or a hyphenated word joined to it ("drug-induced"), within its
        clause and after words of the first side, which are no modifier ("mild versus severe ID" doubts the
        degree, not the finding). A first side that is a mention makes the second uncertain itself
        (:meth:`_versus`)."""
        j = i - 1
        while j > 0 and i - j <= _VERSUS_REACH and not tokens[j + 1][1]:
            token = tokens[j][0]
            if token.norm in _VERSUS:
                # "mild versus severe intellectual disability", "unilateral vs bilateral": a degree or a side in
                # doubt, not the finding
                return tokens[j - 1][0].norm not in _MODIFIERS
            hyphenated = "-" in (text[token.end : tokens[j + 1][0].start], text[tokens[j - 1][0].end : token.start])
            if token.norm not in _MODIFIERS and not hyphenated:
                return False
            j -= 1
        return False

    def _list_item_at(self, tokens: list[tuple[_Token, bool]], i: int) -> bool:
        """Whether a list item starts at ``i`` (after a comma): a term, alone up to the next comma, "and",
        "or" or the sentence end ("no scoliosis, pectus excavatum or arachnodactyly"), not a new clause
        ("no fever, hypotonia noted")."""
        while i < len(tokens) and tokens[i][0].norm in (*_CONJUNCTIONS, "nor"):
            i += 1
        match = self._longest_match(tokens, i) if i < len(tokens) else None
        if match is None:
            # An item of a word or two that names nothing ("visual disturbance"), if a list item follows it.
            j = i + 1
            while j < len(tokens) and j - i < _LIST_ITEM_WORDS and not tokens[j][1]:
                if tokens[j][0].norm in (*_CONJUNCTIONS, "nor"):
                    break
                j += 1
            ends_item = j < len(tokens) and (tokens[j][1] or tokens[j][0].norm in (*_CONJUNCTIONS, "nor"))
            return i < len(tokens) and ends_item and self._list_item_at(tokens, j)
        end = match[0]
        return end >= len(tokens) or tokens[end][1] or tokens[end][0].norm in (*_CONJUNCTIONS, "nor")

    def _cuts_a_mention(
        self, tokens: list[tuple[_Token, bool]], start: int, stop: int, term_id: str | None = None
    ) -> bool:
        """Whether a match over tokens [start, stop) ends inside a mention the dictionary reads from one of its later
        words: "slowing with speech delay" read as Slow speech would cut Speech delay in two, "soft cutaneous
        nodules" as Soft skin Skin nodule."""
        for j in range(start + 1, stop):
            own = self._longest_match(tokens, j) or self._bag_match(tokens, j)
            if own is not None and (own[0] > stop or (own[0] == stop and own[1] == term_id)):
                # ... or names the same term from a later word: "Low-set posteriorly rotated ears" proposed whole
                # as Posteriorly rotated ears would swallow "low-set", a finding of its own (Low-set ears)
                return True
        return False

    def _bag_match(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        """The longest window from ``i`` whose content words, in any order and form, are one term's only.

        Used only where exact matching found nothing: "dilated aortic root" is Aortic root dilatation,
        "dislocated lenses" Lens dislocation. A window starts and ends on a content word and never
        crosses a comma; a bag two terms share is not in the index.
        """
        if tokens[i][0].norm in _BAG_STOPWORDS:
            return None
        for end in range(min(len(tokens), i + MAX_BAG_TOKENS), i + 1, -1):
            if tokens[end - 1][0].norm in _BAG_STOPWORDS or any(soft for _, soft in tokens[i + 1 : end]):
                continue
            norms = [token.norm for token, _ in tokens[i:end]]
            if _CONJUNCTIONS.intersection(norms):  # "hands and a small penis" is not Small hand
                continue
            bag = _bag(norms)
            term_id = self._bags.get(bag) if bag is not None else None
            if term_id is None and _READ_PAST.intersection(norms[1:]):
                # "speech is severely delayed", "bifid right thumb": the degree or the side, where no term names
                # it, is no word of the finding.
                bag = _bag([norm for norm in norms if norm not in _READ_PAST])
                term_id = self._bags.get(bag) if bag is not None else None
            if term_id is not None:
                return end, term_id
        return None

    def _denied_by_prefix(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        """A finding denied by "non-" joined to its first word ("non-ataxic gait", "nondysmorphic facies"), where
        the joined word names nothing itself ("nonverbal" is Absent speech, matched before this is tried)."""
        token, soft = tokens[i]
        if not token.norm.startswith("non") or len(token.norm) < 7:
            return None
        rest = _normalise_word(token.raw[3:].lstrip("-"))
        shadow = [*tokens[:i], (replace(token, norm=rest), soft), *tokens[i + 1 :]]
        match = self._longest_match(shadow, i) or self._bag_match(shadow, i)
        if match is not None and match[0] > i + 1:
            after = self._longest_match(tokens, i + 1) or self._bag_match(tokens, i + 1)
            if after is not None and after[0] == match[0]:
                # "non-midline cleft lip", "non-progressive hearing loss": the prefix denies a qualifier of a
                # finding the words after it name, which is then read on its own (present).
                return None
        return match

    def _negated_predicate(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        """A finding stated as a denied predicate, "the heart was not enlarged", "his gait is not ataxic": the
        bag of the window without its "not" right after a copula, when that names one term (said absent)."""
        last = min(len(tokens), i + MAX_BAG_TOKENS + 1)
        if tokens[i][0].norm in _BAG_STOPWORDS or not any(token.norm == "not" for token, _ in tokens[i + 1 : last]):
            return None  # tried at every token no match starts at: most have no "not" ahead
        for end in range(last, i + 2, -1):
            window = [token.norm for token, _ in tokens[i:end]]
            if window[-1] in _BAG_STOPWORDS or any(soft for _, soft in tokens[i + 1 : end]):
                continue
            nots = [k for k in range(1, len(window) - 1) if window[k] == "not" and window[k - 1] in COPULAS]
            if len(nots) != 1:
                continue
            bag = _bag(window[: nots[0]] + window[nots[0] + 1 :])
            term_id = self._bags.get(bag) if bag is not None else None
            if term_id is not None:
                return end, term_id
        return None

    def _longest_match(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        """The longest dictionary phrase at token ``i``, read with a side written after it ("lenses dislocated
        bilaterally"), or else a qualifier and the phrase after it (:meth:`_qualified_match`)."""
        match = self._literal_match(tokens, i)
        if match is None:
            return self._qualified_match(tokens, i)
        end, term_id = match
        if end < len(tokens) and tokens[end][0].norm == "bilaterally" and not tokens[end][1]:
            sided = self._qualified_term("bilateral", term_id)
            if sided is not None:
                return end + 1, sided
        return match

    def _literal_match(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        for end in range(min(len(tokens), i + self.max_mention_tokens), i, -1):
            span = [token for token, _ in tokens[i:end]]
            entry = self._entries.get(" ".join(t.norm for t in span))
            if entry is None:
                continue
            if entry.tier == _TIER_ABBREVIATION and tuple(_surface(t.raw) for t in span) not in entry.surfaces:
                continue
            if i > 0 and tokens[i - 1][0].norm in COPULAS and any(soft for _, soft in tokens[i + 1 : end]):
                continue  # "knee jerks are reduced, ankle jerks present": the predicate ends its clause at the comma
            return end, entry.term_id
        return None

    def _qualified_match(self, tokens: list[tuple[_Token, bool]], i: int) -> tuple[int, str] | None:
        """A qualifier before a phrase, read as the term the qualifier and another name of the phrase's term make:
        "bilateral undescended testes" is Bilateral cryptorchidism, "bilateral SNHL" Bilateral sensorineural
        hearing impairment, "severe GDD" Severe global developmental delay. Only where that term exists; else
        the phrase alone is read at the next word. A word for many before a plural is "multiple" (:data:`_MANY`:
        "numerous cafe-au-lait spots" is Multiple cafe-au-lait spots; a count in numbers is read by
        ``dxsearch.intake.quantities`` through :meth:`counted_term`)."""
        many = tokens[i][0].norm in _MANY - {"multiple"}  # "numerous", "several": many of what follows
        qualifier = "multiple" if many else tokens[i][0].norm
        if qualifier not in _QUALIFIERS or i + 1 >= len(tokens) or tokens[i + 1][1]:
            return None
        inner = self._literal_match(tokens, i + 1)
        if inner is None or (many and not _plural(tokens[inner[0] - 1][0])):
            return None
        qualified = self._qualified_term(qualifier, inner[1])
        return (inner[0], qualified) if qualified is not None else None

    def counted_term(self, text: str, start: int) -> tuple[int, str, int, bool] | None:
        """The "Multiple X" term a count before the phrase at ``start`` in ``text`` would read, as ``(end of the
        phrase, term, the fewest the term asks for, whether its definition states that number)``; ``None`` unless
        the phrase names, plural, a term HPO has a "Multiple X" of ("cafe-au-lait macules": Multiple cafe-au-lait
        spots, six at least, as its definition says; "lipomas": Multiple lipomas, two, the definition saying none).
        """
        tokens = [(token, False) for token in _tokens(text[start : start + _COUNTED_WINDOW])]
        match = self._literal_match(tokens, 0) if tokens and tokens[0][0].start == 0 else None
        if match is None or not _plural(tokens[match[0] - 1][0]):
            return None
        counted = self._qualified_term("multiple", match[1])
        fewest = self._fewest.get(counted) if counted is not None else None
        if counted is None or fewest is None:
            return None
        return start + tokens[match[0] - 1][0].end, counted, fewest[0], fewest[1]

    def vocabulary(self) -> frozenset[str]:
        """Every normalised word of the dictionary's names and synonyms, and the words the reading itself uses."""
        if getattr(self, "_vocabulary", None) is None:  # a lookup read back from an older cache has none yet
            self._vocabulary = frozenset(word for key in self._entries for word in key.split()) | _READING_WORDS
        assert self._vocabulary is not None
        return self._vocabulary

    def unknown_words(self, text: str) -> list[tuple[int, int]]:
        """Spans of the words of ``text`` no name or synonym of the dictionary uses, and of numbers of 3+ digits.

        What is left of a findings-list item beside the terms read in it ("Arachnodactyly John Smith"): words
        a clinician's finding would not need, so the account lists them instead of dropping them unseen.
        """
        vocabulary = self.vocabulary()
        return [
            (token.start, token.end)
            for token in _tokens(text)
            if (token.raw.isdigit() and len(token.raw) >= 3)
            or (len(token.raw) >= 2 and not token.raw.isdigit() and token.norm not in vocabulary)
        ]

    def _qualified_term(self, qualifier: str, term_id: str) -> str | None:
        """The term below ``term_id`` that "<qualifier> <a name of term_id>" names, if the dictionary spells one."""
        return self._qualified.get((qualifier, term_id))


#: Words before an acronym that make it a record's name ("Patient ID", "study ID"), and what after it does ("ID: 4411",
#: "ID #12", "ID number").
_RECORD_WORDS = frozenset(
    {"patient", "study", "sample", "hospital", "record", "subject", "mrn", "nhs", "specimen", "photo", "staff"}
)
_RECORD_ACRONYMS = frozenset({"ID", "MRN", "NHS", "DOB", "CHI", "URN"})
#: ... and what it names when a thing that carries it follows: "ID badge checked", "ID band on", "ID bracelet".
_RECORD_AFTER = re.compile(
    r"\s*(?:[:#]\s*\d|(?:number|no\.|badges?|cards?|bracelets?|bands?|wristbands?|tags?|checked|verified)(?!\w))",
    re.IGNORECASE,
)


#: Around a capitalised word that is a person's name ("Amelia" is also an HPO term, absent limbs): a header's
#: "Name:", "Re:", "Dear", "referring", "saw", or an age right after it ("Amelia, a 4-year-old girl", "Amelia (5)").
_NAME_BEFORE = re.compile(
    r"\b(?:name|re|dear|referring|refer|saw|see|seen|patient)\s*[:,]?\s*(?:(?:mr|mrs|ms|miss)\.?\s+)?$", re.I
)
_NAME_AFTER = re.compile(
    r"(?:\s+[A-Z]\.?)?\s*(?:,\s*(?:a|an|aged|now)\s+\d|\(\s*aged?\s*\d)"
    # "Amelia is a 6 year old girl", "Amelia was a 3-month-old": a person's age said of her
    r"|\s+(?:is|was)\s+(?:a|an|now)\s+\d"
)
#: "Amelia Hartley is a ...", "Amelia Hartley presented with ...", "Amelia Hartley's mother": a first name and a
#: surname, then what a person does or has. The surname must be no qualifier ("Ptosis Left is mild" is no
#: name): :func:`_names_a_person` checks it against :data:`_QUALIFIERS_AFTER`.
_SURNAME_AFTER = re.compile(
    r"\s+(?P<surname>[A-Z][a-z]+(?:-[A-Z][a-z]+)?|[A-Z]{2,}(?:-[A-Z]{2,})?)(?:'s\b|\s+(?:is|was|has|had|presented|"
    r"presents|attended|came|comes|returns|returned|reports|reported|complains|denies|lives|aged?)\b)"
)


#: Words that may follow a finding, capitalised, before a verb ("Ptosis Left is mild", "Seizures Focal are
#: frequent"): a qualifier, never a surname. Surnames are an open class, qualifiers a closed one.
_QUALIFIERS_AFTER = frozenset(
    {"left", "right", "bilateral", "unilateral", "mild", "moderate", "severe", "profound", "marked", "focal"}
    | {"generalized", "generalised", "partial", "complete", "recurrent", "chronic", "acute", "congenital"}
    | {"progressive", "intermittent", "episodic", "transient", "noted", "present", "absent", "resolved", "only"}
    | {"again", "also", "too", "still", "now", "today", "here", "there", "type", "grade", "stage"}
)


def _names_a_person(text: str, token: _Token) -> bool:
    """Whether a capitalised word is a person's name where a header says so ("Name: Amelia W"), an age follows
    as a person's ("Amelia, a 4-year-old", "Amelia is a 6 year old"; not "Seizures, 3 per day" nor "Scoliosis (35
    degrees)"), or a surname and a person's verb follow ("Amelia Hartley is ...": the first name was read as the
    finding Amelia, and its words reached the audit log as a finding's label)."""
    capitalised = token.raw[:1].isupper() and token.raw[1:].islower()
    if not capitalised and not (token.raw.isupper() and len(token.raw) > 3):  # "AMELIA HARTLEY has"
        return False
    if capitalised and (
        _NAME_BEFORE.search(text, max(0, token.start - 30), token.start) or _NAME_AFTER.match(text, token.end)
    ):
        return True
    surname = _SURNAME_AFTER.match(text, token.end)
    if surname is None or surname.group("surname").isupper() != token.raw.isupper():
        return False
    # A surname may be a word of some term ("Wilson", "Brown"); a qualifier is none: "Ptosis Left is mild".
    return surname.group("surname").casefold() not in _QUALIFIERS_AFTER


def _names_a_record(text: str, tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether the acronym at token ``i`` names a record, not a finding: "Patient ID: 4411", "ID #12"."""
    token = tokens[i][0]
    if sum(c.isupper() for c in token.raw) < 2:
        return False
    if i > 0 and tokens[i - 1][0].norm in _RECORD_WORDS:
        return True
    # only an identifier's own acronym followed by its number: "ID: 4411" (never "VSD: 3 mm")
    return token.raw in _RECORD_ACRONYMS and _RECORD_AFTER.match(text, token.end) is not None


def _adjective(key: str) -> str | None:
    """The adjective of a one-word finding: hypotonia / hypotonic, microcephaly / microcephalic; else ``None``."""
    if " " in key or len(key) < 6:
        return None
    if key.endswith("ia"):
        return key[:-2] + "ic"
    if key.endswith("aly"):  # microcephaly, macrocephaly, acromegaly
        return key[:-1] + "ic"
    return None


def _broadest(term_ids: set[str], knowledge: HpoKnowledge) -> str | None:
    """The one term of ``term_ids`` every other is below, or ``None`` when none is (the words are ambiguous)."""
    if len(term_ids) == 1:
        return next(iter(term_ids))
    for candidate in term_ids:
        if all(other == candidate or candidate in knowledge.ancestors(other) for other in term_ids):
            return candidate
    return None


def _synonym(value: str) -> tuple[str, int] | None:
    """Text and tier of an ``hp.obo`` synonym value, ``None`` for one that does not mean the term."""
    match = _SYNONYM.match(value)
    if match is None:
        return None
    text, scope, kind = unescape_obo(match.group(1)), match.group(2), match.group(3)
    if kind == "obsolete_synonym":
        return None
    if kind == "layperson":
        return text, _TIER_EXACT_SYNONYM if scope == "EXACT" else _TIER_LAYPERSON
    if scope != "EXACT":
        if kind == "abbreviation" or len(_WORD.findall(text)) < 2:
            return None
        return text, _TIER_LOOSE_SYNONYM
    return text, _TIER_ABBREVIATION if kind == "abbreviation" else _TIER_EXACT_SYNONYM


#: A relative's age set off by commas: "Her mother, now 58, has cataracts", "Her sister, 12, has epilepsy", "Her
#: brother, who is 10, ...". Its commas open no clause, as the brackets of "Her sister (12)" do not: the relative
#: stays the subject of what follows.
_RELATIVE_AGE_ASIDE = re.compile(
    r"\b(?:"
    + "|".join(RELATIVES)
    + r")s?(?P<open>[ \t]*,)[ \t]*(?:(?:now|aged|age|currently|who[ \t]+is|who's)[ \t]+)?"
    r"\d{1,3}(?:[ \t]*(?:years?|yrs?|y)(?:[ \t]+old)?)?(?P<close>[ \t]*,)",
    re.IGNORECASE,
)


#: The words before a relative that still leave it the subject, up to the relative: "Her", "The maternal", "His older"
#: (``demographics`` reads a relative in apposition with the same words).
RELATIVE_DETERMINERS = r"(?:(?:his|her|their|the|patient's|maternal|paternal|older|younger|elder|eldest)[ \t]+){0,3}$"
#: What may open a sentence before its relative subject: "Her mother, now 58, ...", "The maternal aunt, 40, ...".
_BEFORE_A_SUBJECT = re.compile(r"(?:^|[.;!?\n:])[ \t\r\n]*" + RELATIVE_DETERMINERS, re.IGNORECASE)


def _subject_asides(text: str) -> list[re.Match[str]]:
    """The relative's age asides of ``text`` whose relative opens its sentence, as its subject: "Lives with mother,
    32, and has daily seizures" (code review) is the patient's seizures, the mother only who he lives with."""
    return [
        m
        for m in _RELATIVE_AGE_ASIDE.finditer(text)
        if _BEFORE_A_SUBJECT.search(text, max(0, m.start() - 60), m.start())
    ]


def _merged(spans: Sequence[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """``spans`` merged where they overlap, as sorted starts and their ends, for :func:`_inside`."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _inside(position: int, merged: tuple[list[int], list[int]]) -> bool:
    """Whether ``position`` falls in one of the :func:`_merged` spans: a bisection, so a note of many sections and
    many mentions is read in n log n (every mention against every "Absent:" section took 1.2 s on 100,000
    characters; code review)."""
    starts, ends = merged
    k = bisect_right(starts, position) - 1
    return k >= 0 and position < ends[k]


def relative_age_asides(text: str) -> list[tuple[int, int]]:
    """Spans of a relative and the age set off by commas after it ("mother, now 58,"), or who they are ("sister, a
    baby girl,"): words the reading uses, to say whose the findings after them are, so no account lists them as not
    understood."""
    return [(match.start(), match.end()) for match in (*_subject_asides(text), *_subject_appositions(text))]


#: A relative and who they are, set off by commas or brackets: "His sister, a baby girl, has seizures", "Her brother
#: (a 3-year-old boy) has ...". The words between are the relative's, and read as no finding and no clause of their
#: own: the findings after them are the relative's (they were the patient's, and "girl" the patient's sex).
_RELATIVE_APPOSITION = re.compile(
    r"\b(?:" + "|".join(RELATIVES) + r")s?(?P<open>[ \t]*[,(])[ \t]*(?:now[ \t]+)?an?[ \t]+"
    r"(?:\d{1,2}(?:[.,]\d)?[ \t-]*(?:years?|yrs?|months?|weeks?|days?)[ \t-]*old[ \t]+)?"
    r"(?:(?:baby|infant|newborn|little|young|teenage|healthy|older|younger)[ \t]+)?"
    r"(?:boy|girl|man|woman|child|infant|baby|toddler|teenager|adolescent|newborn)(?P<close>[ \t]*[,)])",
    re.IGNORECASE,
)


def _subject_appositions(text: str) -> list[re.Match[str]]:
    """The appositions of :data:`_RELATIVE_APPOSITION` whose relative opens its sentence, as its subject, and whose
    marks pair (a comma with a comma, a bracket with a bracket)."""
    return [
        m
        for m in _RELATIVE_APPOSITION.finditer(text)
        if (m.group("open").strip() == "(") == (m.group("close").strip() == ")")
        and _BEFORE_A_SUBJECT.search(text, max(0, m.start() - 60), m.start())
    ]


def _sentences(text: str, kept: Sequence[tuple[int, int]] = ()) -> Iterator[list[tuple[_Token, bool]]]:
    """Tokens grouped by sentence; the flag marks a token after a comma or semicolon (a new clause).

    No sentence ends inside a span of ``kept`` (another reader's proposal: "IQ: 55", "OFC: -3 SD"), nor at a
    decimal point ("2.5 SD") or the point of "vs.". The commas of a relative's age (:data:`_RELATIVE_AGE_ASIDE`)
    open no clause.
    """
    sentence: list[tuple[_Token, bool]] = []
    previous_end = 0
    depth = 0  # open parentheses: "(deceased, 58)", "(post-mortem: HCM)" neither end the clause nor the sentence
    aside_commas = {match.end(part) - 1 for match in _subject_asides(text) for part in ("open", "close")}
    # "His sister, a baby girl, has seizures": who the relative is, no tokens (the words after, hers)
    apposed = [(match.end("open"), match.end("close")) for match in _subject_appositions(text)]
    for token in _tokens(text):
        within = next((end for start, end in apposed if start <= token.start < end), None) if apposed else None
        if within is not None:
            previous_end = within
            continue
        gap = text[previous_end : token.start]
        decimal = gap in (".", ",") and sentence and sentence[-1][0].raw[-1:].isdigit() and token.raw[:1].isdigit()
        # "seizures vs. syncope": the point of an abbreviation ends no sentence
        decimal = decimal or (bool(sentence) and sentence[-1][0].raw.casefold() == "vs" and gap.strip() == ".")
        inside = depth > 0 or "(" in gap.split(")")[-1]
        # A colon after a cue opens its list ("Negative for: fever, rash"), as one inside brackets goes on.
        colon_goes_on = inside or _opens_a_list(sentence)
        hard = _HARD_BOUNDARY.search(gap.replace(":", "") if colon_goes_on else gap)
        if (
            hard
            and sentence
            and not decimal
            and not any(start < token.start and previous_end < end for start, end in kept)
        ):
            yield sentence
            sentence = []
            depth = 0
        depth = max(0, depth + gap.count("(") - gap.count(")"))
        soft = bool(_SOFT_BOUNDARY.search(gap)) and not (inside and depth > 0 and "(" not in gap)
        if soft and gap.strip() == "," and previous_end + gap.index(",") in aside_commas:
            soft = False  # "Her mother, now 58, has cataracts": the age is an aside
        sentence.append((token, soft))
        previous_end = token.end
    if sentence:
        yield sentence


#: A query mark before a mention, on it or on a word or two of its phrase: "?CVI", "(?CVI)", "?intestinal X".
_QUERIED = re.compile(
    r"(?:^|[\s(\[])\?(?!\s*(?:with|and|or|for)\b)[\w-]*(?:\s+(?!(?:with|and|or|for)\b)[\w-]+){0,2}\s*$"
    r"|(?:^|[\s(\[])\?\s*$"
)
#: Cues a colon may follow before what they say: "Negative for: fever, rash", "Denies: headaches", and an inline
#: "Family history: no hearing loss" (the relatives' negation, not the patient's).
_CUES_BEFORE_A_COLON = frozenset(
    {("negative", "for"), ("deny",), ("denied",), ("no",), ("without",), ("excluded",), ("family", "history")}
)


def _opens_a_list(sentence: list[tuple[_Token, bool]]) -> bool:
    """Whether the sentence so far ends with a cue a colon may follow ("Negative for:")."""
    norms = tuple(token.norm for token, _ in sentence[-2:])
    return norms[-1:] in _CUES_BEFORE_A_COLON or norms in _CUES_BEFORE_A_COLON


#: A "Family history:" heading (or FHx / FH) at the start of a line.
_FAMILY_HEADING = re.compile(
    r"^[ \t]*(?:family\s+(?:medical\s+)?history|family\s+hx|fhx|fh)(?:[ \t]*:|[ \t]*(?=\r?\n))",
    re.IGNORECASE | re.MULTILINE,
)
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
_SENTENCE_BOUNDARY = re.compile(r"[.!?](?=\s+\S)")
#: Another heading within a line: "... EXAMINATION: scoliosis".
_INLINE_HEADING = re.compile(r"\s*[A-Za-z][A-Za-z /&-]{1,40}:")
#: A sentence still about relatives: it names one in its first words, or says the family has nothing.
_ABOUT_RELATIVES = re.compile(
    r"\s*(?:(?:\w+\s+){0,3}(?:(?:maternal|paternal|older|younger|elder)\s+)?(?:"
    + "|".join(RELATIVES)
    + r")s?\b|no\b|nil\b|non-?contributory|unremarkable|negative\b|none\b|not\s+known|unknown|both\b|family\b"
    + r"|there\s+is\s+no|consanguin|non-?consanguin)",
    re.IGNORECASE,
)
#: A line (or a sentence) headed by a relative outside any family-history section: "Mother: ptosis", "Sibling:
#: epilepsy", "... lens dislocation. Brother: tall, scoliosis."
_RELATIVE_LINE = re.compile(
    # a pedigree's label may come first: "II-1 (mother): colon cancer at 52"
    r"(?:^|(?<=[.!?;]))[ \t]*(?:[-*•·][ \t]*)?(?:[IVX]{1,4}[-.:]?\d{1,2}[ \t]*\(?[ \t]*)?"
    # whose relative: "Patient's father: scoliosis", "Proband's mother: ptosis"
    r"(?:(?:the\s+)?(?:patient|proband|child|boy|girl|baby|infant)['’]s\s+)?"
    r"(?:(?:maternal|paternal|older|younger|elder|half-?)\s*)?(?P<relative>"
    + "|".join(RELATIVES)
    + r")(?P<plural>s?)\)?(?:[ \t]*:|[ \t]+[-–][ \t])(?P<said>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
#: A line headed by a relative inside a family-history section: "Father:", "Maternal aunt:", "Older brother:".
_RELATIVE_HEADING = re.compile(
    r"[ \t]*(?:(?:maternal|paternal|older|younger|elder|half-?)\s*)?(?:" + "|".join(RELATIVES) + r")s?\b",
    re.IGNORECASE,
)
#: A line about the patient, which ends a family-history section: "The patient has ...". Not "He" or "She",
#: which in the section may be a relative ("Mother: ptosis.\nShe also has diabetes.").
_PATIENT_LINE = re.compile(
    r"^[ \t]*(?:the\s+(?:patient|proband|child|boy|girl|baby|infant)|patient|proband|our\s+patient)\b",
    re.IGNORECASE | re.MULTILINE,
)
#: A heading of another section: a line that starts with a few words and a colon ("Examination:").
_OTHER_HEADING = re.compile(r"^[ \t]*[A-Za-z][A-Za-z /&()-]{1,40}:", re.MULTILINE)


#: A past-history heading: "Past history:", "Past medical history:", "PMH:", "PMHx:", "Medical history:", "Previous
#: history:", at the start of a line or after a sentence. Not "History:" alone nor "Hx:", which head the history of
#: the presenting complaint (current), nor "Family medical history:".
_HISTORY_HEADING = re.compile(
    r"(?:^|(?<=[.;!?])[ \t]+)[ \t]*(?:[-*•·][ \t]*)?(?:past\s+(?:medical\s+|surgical\s+)?(?:history|hx)"
    r"|previous\s+(?:medical\s+)?history|medical\s+history|pmhx?|phx|psh"
    # a problem list's resolved part: "Resolved: eczema, asthma", "Past problems:", "Inactive problems:"
    r"|resolved(?:\s+(?:problems|issues|conditions))?|(?:past|previous|inactive)\s+(?:problems|issues|conditions))"
    r"[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
#: A heading of what the patient does not have: "Absent: seizures, ataxia", "Not present: hepatomegaly",
#: "Negatives: rash, fever", "Pertinent negatives:", and dated now ("Absent now:", "Currently absent:"). Read as said
#: present, its list was the patient's findings.
_DENIAL_HEADING = re.compile(
    r"(?:^|(?<=[.;!?])[ \t]+)[ \t]*(?:[-*•·][ \t]*)?"
    r"(?:(?:currently\s+)?(?:absent|not\s+present)(?:\s+(?:now|currently|today|at\s+present))?"
    r"|(?:pertinent\s+)?negatives?|(?:signs|symptoms|findings)\s+absent)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)


def history_sections(text: str) -> list[tuple[int, int]]:
    """Character spans of a note's past-history sections: what they say present is the patient's history.

    A heading with text on its line ("PMH: asthma, eczema.", "Past history: recurrent otitis media") runs to the end
    of its sentence: a note typed as one paragraph ("PMH: asthma. Tall stature, arachnodactyly.") goes on about
    the patient today after it, and today's findings read as history would mislead more than a second history
    sentence read as today's. A heading alone on its line runs to the next blank line or heading.
    """
    return _heading_sections(text, _HISTORY_HEADING)


def denial_sections(text: str) -> list[tuple[int, int]]:
    """Character spans of a note's lists of what the patient does not have ("Absent: seizures, ataxia."), bounded
    as :func:`history_sections` bounds a past history."""
    return _heading_sections(text, _DENIAL_HEADING)


def _heading_sections(text: str, headings: re.Pattern[str]) -> list[tuple[int, int]]:
    """What each of ``headings`` heads: to the end of its sentence when text follows it on its line, else to the
    next blank line or heading."""
    spans: list[tuple[int, int]] = []
    for heading in headings.finditer(text):
        line_end = text.find("\n", heading.end())
        line_end = len(text) if line_end < 0 else line_end
        if text[heading.end() : line_end].strip():
            boundary = _SENTENCE_BOUNDARY.search(text, heading.end(), line_end)
            spans.append((heading.end(), boundary.start() + 1 if boundary is not None else line_end))
            continue
        blank = _BLANK_LINE.search(text, line_end)
        end = blank.start() if blank is not None else len(text)
        other = _OTHER_HEADING.search(text, line_end + 1, end)
        spans.append((heading.end(), other.start() if other is not None else end))
    return spans


def family_sections(text: str) -> list[tuple[int, int]]:
    """Character spans of a note's family-history sections: everything in them is said of relatives.

    A heading with text on its line ("Family history: father has short stature. Mother is well.") runs to
    the end of the line, or to a sentence about the patient ("... He has seizures."), whichever comes first.
    A heading alone on its line runs to the next blank line or heading; lines headed by a relative
    ("Father: short stature", "Maternal aunt: deafness") are part of it.
    """
    spans: list[tuple[int, int]] = [
        (m.start("said"), _turn_to_the_patient(text, m.start("relative"), m.start("said"), _relative_line_end(text, m)))
        for m in _RELATIVE_LINE.finditer(text)
    ]
    for heading in _FAMILY_HEADING.finditer(text):
        line_end = text.find("\n", heading.end())
        line_end = len(text) if line_end < 0 else line_end
        if text[heading.end() : line_end].strip():
            end = _inline_section_end(text, heading.end(), line_end)
            spans.append((heading.end(), _turn_to_the_patient(text, heading.end(), heading.end(), end)))
            continue
        blank = _BLANK_LINE.search(text, line_end)
        end = blank.start() if blank is not None else len(text)
        for other in _OTHER_HEADING.finditer(text, line_end + 1, end):
            if not _RELATIVE_HEADING.match(other.group(0)):
                end = other.start()
                break
        patient_line = _PATIENT_LINE.search(text, line_end + 1, end)  # "The patient has palpitations."
        end = patient_line.start() if patient_line is not None else end
        spans.append((heading.end(), _turn_to_the_patient(text, heading.end(), heading.end(), end)))
    return spans


#: Where a sentence or clause inside a family-history section or a relative's line turns to the patient: after a
#: sentence end or semicolon, "Patient:", "The patient has", "Proband:", "the child"; a pronoun ("He has") when it
#: cannot be the relative (:func:`_turn_to_the_patient`); after ", and" / ", but", the patient named.
_PATIENT_TURN = re.compile(
    r"(?:^|[.;!?])[ \t]*(?:(?P<named>(?:(?:the|our)\s+)?(?:patient|proband|index\s+case)\b(?!['’]s\b)"
    r"|the\s+(?:child|boy|girl|baby|infant)\b(?!['’]s\b))|(?P<pronoun>he|she)\b)"
    r"|,?\s+(?:and|but|while|whereas)\s+(?P<joined>(?:the|our)\s+(?:patient|proband)\b)",
    re.IGNORECASE | re.MULTILINE,
)
#: Relatives a pronoun can stand for: "he" a male one, "she" a female one; "parent", "sibling", "cousin" either.
_MALE_RELATIVES = frozenset(
    {"father", "brother", "uncle", "grandfather", "nephew", "son", "dad", "daddy", "grandpa", "grandad"}
    | {"granddad", "stepfather"}
)
_FEMALE_RELATIVES = frozenset(
    {"mother", "sister", "aunt", "grandmother", "niece", "daughter", "mum", "mom", "mam", "mummy", "mommy", "nan"}
    | {"nana", "nanna", "gran", "granny", "grandma", "stepmother"}
)
_RELATIVE_WORD = re.compile(r"\b(" + "|".join(sorted(RELATIVES, key=len, reverse=True)) + r")(s?)\b", re.IGNORECASE)


def _turn_to_the_patient(text: str, since: int, start: int, end: int) -> int:
    """Where, in ``text[start:end]`` (a family-history section or a relative's line), a new sentence or clause
    names the patient ("Brother: tall, lens dislocation. Patient: aortic root dilatation."), else ``end``.

    "He" or "She" opening a sentence is the patient only where it cannot be the relative last named since
    ``since``: "Mother: ptosis. He has scoliosis." is the patient's scoliosis, "Mother: ptosis. She also has
    diabetes." the mother's diabetes. After relatives in the plural ("Brothers: deaf. He has ...") or none named,
    the pronoun is the patient.
    """
    for turn in _PATIENT_TURN.finditer(text, start, end):
        pronoun = turn.group("pronoun")
        if pronoun is not None:
            relatives = list(_RELATIVE_WORD.finditer(text, since, turn.start("pronoun")))
            other_sex = _FEMALE_RELATIVES if pronoun.casefold() == "he" else _MALE_RELATIVES
            if relatives and not relatives[-1].group(2) and relatives[-1].group(1).casefold() not in other_sex:
                continue  # the relative may be who the pronoun means: "Mother: ptosis. She also has diabetes."
            return turn.start("pronoun")
        return turn.start("named") if turn.group("named") else turn.start("joined")
    return end


def _relative_line_end(text: str, line: re.Match[str]) -> int:
    """Where what a relative's line says ends: at another heading after a sentence ("Father: deafness. Examination:
    scoliosis."), not another relative's ("Father: deafness. Sister: seizures."), else at the line's end."""
    for boundary in _SENTENCE_BOUNDARY.finditer(text, line.start("said"), line.end("said")):
        following = text[boundary.end() : line.end("said")]
        if _INLINE_HEADING.match(following) and not _RELATIVE_HEADING.match(following):
            return boundary.start() + 1
    return line.end("said")


def _inline_section_end(text: str, start: int, line_end: int) -> int:
    """Where a family-history section written on its heading's line ends: at the first sentence that is not
    about relatives ("Family history: mother has ptosis. On examination he has scoliosis."), or at another
    heading ("FAMILY HISTORY: mother with ptosis. EXAMINATION: scoliosis."), else at the line's end."""
    for boundary in _SENTENCE_BOUNDARY.finditer(text, start, line_end):
        following = text[boundary.end() : line_end]
        if _INLINE_HEADING.match(following) or not _ABOUT_RELATIVES.match(following):
            return boundary.start() + 1
    return line_end


def _post_family(tokens: list[tuple[_Token, bool]], end: int) -> int:
    """Length in tokens of "in his mother", "in the father", "in both parents" right after a mention, else 0."""
    words = [token.norm for token, soft in tokens[end : end + 3]]
    if not words or words[0] != "in":
        return 0
    at = 2 if len(words) > 2 and words[1] in ("his", "her", "their", "both", "two") else 1
    if len(words) <= at or words[at] not in _RELATIVE_WORDS or any(soft for _, soft in tokens[end + 1 : end + at + 1]):
        return 0
    return at + 1


def _post_likely(tokens: list[tuple[_Token, bool]], end: int) -> int:
    """Length in tokens of a hedge closing the clause of a mention ending at ``end``: "Scoliosis likely.", "Marfan
    syndrome is most likely, given ...", else 0. "likely" must end the clause: "hypotonia likely due to ..." and
    "seizures likely secondary to ..." say the cause is likely, not the finding."""
    j = end
    if j < len(tokens) and tokens[j][0].norm in COPULAS and not tokens[j][1]:
        j += 1
    if j < len(tokens) and tokens[j][0].norm in ("most", "very", "quite") and not tokens[j][1]:
        j += 1
    if j >= len(tokens) or tokens[j][0].norm != "likely" or tokens[j][1]:
        return 0
    return j + 1 - end if j + 1 == len(tokens) or tokens[j + 1][1] else 0


#: Words after "X-free" that say the patient had X and has it no longer (:func:`_free_of`): since when, on or off
#: what, after what.
_FREE_SINCE = frozenset({"since", "on", "off", "after", "following"})
#: ... "for" only before a duration: "seizure free for 2 years", "for several months", "for the past year".
_DURATION_WORDS = frozenset(
    {"several", "many", "some", "past", "last", "over", "more", "almost", "nearly", "about", "around", "at", "least"}
    | {"year", "month", "week", "day", "yr", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    | {"ten", "eleven", "twelve", "few", "long", "whole"}
)
#: ... and "on" not before what a clinician does: "pain-free on examination" says no pain now.
_NOT_A_TREATMENT = frozenset(
    {"examination", "exam", "palpation", "auscultation", "inspection", "review", "assessment", "testing", "walking"}
    | {"exertion", "movement", "mobilisation", "mobilization", "arrival", "admission", "discharge", "day", "ward"}
)
#: Most tokens after "free" in which :func:`_said_since` looks for its words.
_FREE_WINDOW = 6


def _said_since(tokens: list[tuple[_Token, bool]], j: int) -> bool:
    """Whether the clause from token ``j`` says since when, for how long, or on what treatment: "since starting
    levetiracetam", "for 2 years", "on valproate", "off medication", "after surgery"."""
    for k in range(j, min(len(tokens), j + _FREE_WINDOW)):
        if k > j and tokens[k][1]:
            return False
        norm = tokens[k][0].norm
        following = tokens[k + 1][0].norm if k + 1 < len(tokens) and not tokens[k + 1][1] else ""
        if norm == "for" and (following.isdigit() or following in _DURATION_WORDS):
            return True
        if norm in _FREE_SINCE and following and not (norm == "on" and following in _NOT_A_TREATMENT):
            return True
    return False


def _free_of(tokens: list[tuple[_Token, bool]], end: int) -> Assertion | None:
    """What "X-free" or "X free" right after a mention ending at ``end`` says of X; ``None`` if no "free" follows.

    One rule for "seizure-free", "pain free", "tumour-free", "fever free" (and "free of X"): the words say the
    patient does not have X now. Where the clause also says since when, for how long or on what treatment
    ("seizure free for 2 years on valproate", "seizure-free since starting levetiracetam", "free of seizures
    after surgery"), the patient had X and it is controlled: ``historical``, a finding of the patient's past. Else
    ("Pain-free.", "He is seizure free") it is ``absent``.
    """
    if end >= len(tokens) or tokens[end][0].norm != "free" or tokens[end][1]:
        return None
    if end + 1 < len(tokens) and tokens[end + 1][0].norm == "of" and not tokens[end + 1][1]:
        return None  # "... free of": what follows is what it is free of
    return "historical" if _said_since(tokens, end + 1) else "absent"


#: After a mention, words that leave it open: "mild hypotonia cannot be excluded", "scoliosis is suspected".
_POST_UNCERTAIN: tuple[tuple[str, ...], ...] = (
    ("cannot", "be", "excluded"),
    ("can", "not", "be", "excluded"),
    ("could", "not", "be", "excluded"),
    ("not", "excluded"),
    ("is", "suspected"),
    ("was", "suspected"),
    ("suspected",),  # "Pulmonary hypoplasia suspected."
    ("queried",),
    ("to", "be", "excluded"),
    ("is", "possible"),
    ("is", "unlikely"),
    ("may", "be", "present"),  # "Ptosis may be present"
    ("might", "be", "present"),
    ("could", "be", "present"),
)
#: Right after a mention (no comma between), a test for it, not a finding of it: "an ADHD assessment is underway".
_POST_TESTED: tuple[tuple[str, ...], ...] = (
    ("assessment",),
    ("evaluation",),
    ("workup",),
    ("work", "up"),
    ("screen",),
    ("screening",),
    ("referral",),
)
#: A query mark right after a mention, touching it ("Hypertelorism?", "(ptosis?)", "Seizures (?)"; "hypotonia ? cause"
#: queries the cause, "hypotonia ?CVI" the CVI), and the answer after it, if any: "yes" keeps it the patient's, "no"
#: denies it; without one (or "possibly"), it is asked, not stated.
_QUERY_ANSWERED = re.compile(
    r"(?:[ \t]*\(\?\)|\)?\?)(?!\w)[ \t]*(?:[-:(][ \t]*)?"
    r"(?:(?P<yes>yes|y|present|confirmed|positive|\+)(?![\w+])|(?P<no>no|none|absent|negative|n)(?!\w))?",
    re.IGNORECASE,
)
#: A bracket of sides right after a mention: "(R > L)", "(L)", "(bilateral)", "(right and left)".
_SIDE_BRACKET = re.compile(
    # Words and signs each followed by at most a few spaces: a repeated group holding "\s" split one run of
    # spaces many ways ("Ptosis (" and 10,000 spaces: 6.8 s; code review).
    r"[ \t]{0,3}\([ \t]{0,3}"
    r"(?:(?:(?:r|l|rt|lt|right|left|bilateral|bilat|both|sides?)\b\.?|[<>=,/&]|and\b)[ \t]{0,3}){1,8}\)",
    re.IGNORECASE,
)


#: A bracket right after a mention that dates it in the past: "(present last year)", "(was present until age 3)",
#: "(seen 2 years ago)", "(previously)". Not "(present since last year)", which runs on to now, nor "(present at
#: birth)", which says when it began, nor "(until now)", which says it still is. After a bracket of sides too
#: ("Ptosis (R > L) (present until age 2)").
_PAST_BRACKET = re.compile(
    r"(?:[ \t]{0,3}\))?[ \t]{0,3}\([ \t]{0,3}(?:(?:was|were)[ \t]{1,3})?(?:(?:present|seen|noted)[ \t]{1,3})?"
    r"(?:last[ \t]{1,3}(?:year|month|week|summer|winter|spring|autumn|fall)|previously|earlier|before"
    r"|in[ \t]{1,3}the[ \t]{1,3}past|(?:until|till)[ \t]{1,3}"
    # "until now", "until today", "till date": it is still there
    r"(?!(?:now|today|present|date|the[ \t]{1,3}present|this[ \t]{1,3}day)[ \t]{0,3}\))[\w \t]{1,20}?"
    r"|(?:\d{1,2}|a|an|one|two|three|four|five|six|several|a[ \t]{1,3}few)[ \t]{1,3}(?:years?|months?|weeks?)"
    r"[ \t]{1,3}ago|in[ \t]{1,3}(?:19|20)\d\d)[ \t]{0,3}\)",
    re.IGNORECASE,
)


def _past_bracket(text: str, tokens: list[tuple[_Token, bool]], end: int) -> int:
    """How many tokens a bracket dating a mention ending at token ``end`` in the past holds ("Absent now: seizures
    (present last year)"), else 0: the finding was there and is gone, a history of it, whatever a heading says now."""
    if end == 0 or end > len(tokens):
        return 0
    bracket = _PAST_BRACKET.match(text, tokens[end - 1][0].end)
    if bracket is None:
        return 0
    inside = 0
    while end + inside < len(tokens) and tokens[end + inside][0].end <= bracket.end():
        inside += 1
    return inside


def _side_bracket(text: str, tokens: list[tuple[_Token, bool]], end: int) -> int:
    """How many tokens a bracket of sides right after a mention ending at token ``end`` holds ("Ptosis (R > L)"),
    else 0: the words after it ("- absent now") are said of the mention as if the bracket were not there."""
    if end >= len(tokens):
        return 0
    start = tokens[end - 1][0].end
    bracket = _SIDE_BRACKET.match(text, start)
    if bracket is None:
        return 0
    inside = 0
    while end + inside < len(tokens) and tokens[end + inside][0].end <= bracket.end():
        inside += 1
    return inside


#: Words after an absence that date it now, so the finding was there before: "absent now", "now resolved".
_NOW = frozenset({"now", "currently"})
#: ... or that say, next, it was there in the past: "absent, was present at birth", "absent now but was present".
_WAS_THERE = frozenset({("was", "present"), ("were", "present"), ("wa", "present"), ("previously", "present")})
#: Words that may join the absence to what says it was there: "absent now, but was present at birth".
_JOINING_THEN = frozenset({"but", "though", "although", "and", "yet"})


#: The ends of post cues that deny only what the examiner saw: "was not observed", "not seen".
_UNSEEN = frozenset({("not", "observed"), ("not", "seen")})
#: After "X was not observed": a history of it that someone gives, which the examiner not seeing it does not deny
#: ("..., but parents describe episodes of ...", "but his mother reports such attacks"). The history must speak of
#: episodes of it ("episodes", "attacks", "them"), not of something else ("but parents report headaches").
_TOLD_INSTEAD = re.compile(
    r"[^.;:\n]{0,60}?\bbut\s+(?:(?:the|his|her|their)\s+)?"
    r"(?:parents?|mother|father|mum|mom|dad|family|carers?|caregivers?|teachers?|grandparents?|nursery|school)\s+"
    r"(?:describes?|described|reports?|reported|recounts?|recounted|recalls?|recalled|mentions?|mentioned"
    r"|(?:has|have)\s+(?:described|reported|noticed|seen|witnessed|observed))\s+"
    r"(?:(?:typical|frequent|recurrent|daily|weekly|several|many|multiple|brief|similar|such|these|those|some"
    r"|repeated|the)\s+)*(?:episodes?|events?|attacks?|spells?|them|it)\b",
    re.IGNORECASE,
)


def _told_though_unseen(text: str, tokens: list[tuple[_Token, bool]], j: int) -> bool:
    """Whether a post cue of not seeing ends at token ``j`` ("was not observed") and the sentence goes on with someone
    telling of episodes of it ("during the visit, but parents describe episodes ..."): the visit saw none, the
    history says it happens, so the finding is not denied. "Cataplexy was not observed." alone stays absent."""
    if j < 2 or tuple(token.norm for token, _ in tokens[j - 2 : j]) not in _UNSEEN:
        return False
    return _TOLD_INSTEAD.match(text, tokens[j - 1][0].end) is not None


def _was_there(tokens: list[tuple[_Token, bool]], j: int) -> bool:
    """Whether the words from token ``j``, after an absence said of a mention, say it was there before: "now" right
    after it ("Ptosis - absent now"), or "was present" next ("absent, was present at birth"), not another mention's
    ("scoliosis absent, kyphosis was present" leaves the scoliosis absent)."""
    if j < len(tokens) and tokens[j][0].norm in _NOW:
        return True
    while j < len(tokens) and tokens[j][0].norm in _JOINING_THEN:
        j += 1
    return tuple(token.norm for token, _ in tokens[j : j + 2]) in _WAS_THERE


#: After a mention, words that say it is over: "Asthma resolved", "neonatal hypoglycaemia, resolved"; and treated
#: away: "TOF repaired", "VSD closed surgically", "cleft palate corrected". Held as normalised tokens, as the reading
#: compares them ("excised" is "excized": written by hand, it never matched).
POST_HISTORICAL: tuple[tuple[str, ...], ...] = tuple(
    tuple(normalise(phrase).split())
    for phrase in (
        *("resolved", "now resolved", "has resolved", "had resolved", "since resolved", "in remission"),
        *("have resolved", "have now resolved", "has now resolved"),  # "Seizures have resolved and hypotonia ..."
        *("repaired", "corrected", "resected", "excised", "removed", "closed"),
        *("ligated", "clipped", "ablated", "embolised", "embolized"),  # "PDA ligated", "WPW ablated"
        # "Bilateral cataracts were removed at 35", as "Cataracts removed at 35."
        *(
            f"{copula} {done}"
            for copula in ("was", "were", "has been", "have been", "had been")
            for done in ("repaired", "corrected", "resected", "excised", "removed", "closed", "ligated")
        ),
        # a past stage of life: "Had hypoglycaemia as a neonate", "hyperactive as a child"
        *("as a neonate", "as a newborn", "as a baby", "as an infant", "as a toddler", "as a child"),
        *("as a young child", "as a teenager", "as an adolescent", "in the neonatal period"),
    )
)
#: After a mention, words that make it the name of a place or a team, not a finding: "Epilepsy Clinic Letter",
#: "Neurofibromatosis Clinic", "Skeletal Dysplasia Service".
_INSTITUTION_WORDS = frozenset(
    {"clinic", "service", "unit", "department", "team", "society", "foundation", "association", "centre", "center"}
    | {"nurse", "specialist", "consultant", "ward", "programme", "program", "network", "registry", "trust"}
    # "Cancer Genetics - pedigree summary", "Vascular anomalies MDT" (tokens are singular: "genetic")
    | {"genetic", "mdt", "board", "conference", "meeting"}
)
#: A checklist answer right after a mention: "Scoliosis: no", "Seizures: none", "Scoliosis (-)", "Hypotonia: absent",
#: a Y/N template's "Cleft palate: N", a query answered ("ptosis? - no"), an examination's sign ("ascites -",
#: "ascites -ve", beside "hepatomegaly ++": a second user test read it present).
_CHECKLIST_NO = re.compile(
    r"[ \t]+-(?:ve)?(?=[ \t]*(?:[.,;)|]|\Z))"  # not before a new line: "Seizures -\n onset age 2" is a heading
    r"|\s*\??\s*(?::\s*|-\s+|\(\s*)"
    r"(?:(?:no|none|nil|absent|negative|not present|denied|n|-)(?:\s*\))?(?=\s*(?:[.,;\n)|]|$))"
    # after a colon, a phrase that says it whole, whatever follows: "Ectopia lentis: not present on slit lamp"
    r"|(?<=:)\s*not\s+(?:present|seen|detected|found|observed|identified)\b"
    r"|(?<=: )not\s+(?:present|seen|detected|found|observed|identified)\b)",
    re.IGNORECASE,
)


#: Measures a word of :data:`POST_HISTORICAL` qualifies: "corrected calcium", "corrected age", "corrected QT".
_MEASURED_NOUNS = frozenset({"calcium", "age", "qt", "qtc", "sodium", "reticulocyte", "count", "gestation", "value"})


_CORRECTED = normalise("corrected")


def _names_a_measure(tokens: list[tuple[_Token, bool]], end: int, cue: int) -> bool:
    """Whether the history cue of ``cue`` tokens after a mention ending at ``end`` is "corrected" qualifying the
    measure right after it ("hypercalcaemia (corrected calcium 2.92)"), not a repair ("Hypocalcaemia corrected,
    calcium 2.35 on discharge", "Seizures resolved age 5")."""
    after = end + cue
    return (
        cue == 1
        and tokens[end][0].norm == _CORRECTED
        and after < len(tokens)
        and not tokens[after][1]
        and tokens[after][0].norm in _MEASURED_NOUNS
    )


def _cue_after(
    tokens: list[tuple[_Token, bool]], end: int, cues: Sequence[tuple[str, ...]], *, across_commas: bool = False
) -> int:
    """Length in tokens of the first of ``cues`` right after a mention ending at token ``end``, 0 if none.

    An absence cue must follow without a comma ("hearing normal", not "hearing, normal gait"); an
    uncertainty cue may follow one ("mild hypotonia, cannot be excluded").
    """
    for words in cues:
        window = tokens[end : end + len(words)]
        if len(window) != len(words) or (not across_commas and any(soft for _, soft in window)):
            continue
        if tuple(token.norm for token, _ in window) == words:
            return len(words)
    return 0


#: Words a bag of content words leaves out: they carry no meaning of their own in a term's name.
#: Verbs that link a finding to what it touches: "manifestations affecting the ear" is no Abnormal affect.
LINKING_VERBS = frozenset(
    {"affecting", "involving", "including", "causing", "resulting", "leading", "presenting", "showing"}
)
#: A finding stated as a predicate: "the ears were large" is Large ears, "motor milestones were delayed" Motor delay.
COPULAS = frozenset({"is", "are", "was", "were", "been", "appeared", "seemed"})
_BAG_STOPWORDS = (
    frozenset({"of", "the", "a", "an", "in", "on", "with", "and", "to", "at", "by", "for", "from", "or"})
    | {"ha", "has", "have", "had"}  # "speech has been delayed" ("has" is "ha" once made singular)
    | LINKING_VERBS
    | COPULAS
)
#: Nouns that say "something is wrong with it": HPO writes "Abnormality of the ear" or "Abnormal heart morphology",
#: text "ear anomalies", "cardiac malformations", "ocular manifestations", "renal involvement". One word in a bag.
_ANOMALY_NOUNS = frozenset({"abnormality", "anomaly", "malformation", "defect"})
_ANOMALY = "anomaly"
#: "Manifestations" and "involvement" say something is wrong, not that the structure is: they meet HPO's
#: "Abnormality of X" ("ocular manifestations": Abnormality of the eye), never "Abnormal X morphology".
_INVOLVEMENT_NOUNS = frozenset({"manifestation", "involvement"})
_INVOLVEMENT = "involvement"
#: Stems that say one thing in a bag: an organ's adjective and its noun ("ocular" / "eye", "cutaneous" / "skin");
#: "reduced" and "diminished" for HPO's "decreased", "sensitivity" for its "sensation" ("reduced sensitivity to
#: pain" is Decreased pain sensation, not Pain).
_WORD_EQUIVALENTS = {
    **dict.fromkeys(("reduced", "reduction", "diminished"), "decreased"),
    "sensitivity": "sensation",
    **dict.fromkeys(("ocular", "ophthalmic", "ophthalmologic", "ophthalmological"), "eye"),
    **dict.fromkeys(("cutaneous", "dermatologic", "dermatological"), "skin"),
    **dict.fromkeys(("otologic", "otological", "otic"), "ear"),
    "articular": "joint",
    "auditory": "hearing",
    "renal": "kidney",
    "cardiac": "heart",
    "hepatic": "liver",
    "pulmonary": "lung",
    "oral": "mouth",
    "facial": "face",
    "dental": "dentition",
}
#: The same, as stems: what a bag holds (built with ``_stem`` itself, so the two never drift apart).
_STEM_EQUIVALENTS: dict[str, str] = {}
#: Adverbs of degree a bag match may read past when the words with them name no term ("severely delayed").
_DEGREE_ADVERBS = frozenset(
    {"severely", "significantly", "markedly", "moderately", "mildly", "slightly", "very", "extremely", "profoundly"}
    | {"grossly", "somewhat", "considerably", "notably", "quite", "rather", "persistently", "progressively"}
)
#: Words that say which side, never a modifier a stacked mention shares.
_SIDES = frozenset({"left", "right", "bilateral", "unilateral", "ipsilateral", "contralateral"})
#: Words that qualify a finding and make, with its name, a term of their own ("bilateral", "severe", "congenital").
_QUALIFIERS = frozenset(
    {"bilateral", "unilateral", "severe", "mild", "moderate", "profound", "congenital", "progressive", "recurrent"}
    | {"chronic", "acute", "generalized", "focal", "left", "right", "central", "peripheral", "episodic"}
    # "multiple cafe-au-lait macules": Multiple cafe-au-lait spots, which next steps would otherwise ask about
    | {"multiple"}
)
#: Words that say there are many of a finding: "numerous cafe-au-lait spots", "several lipomas".
_MANY = frozenset({"multiple", "numerous", "several", "many", "countless", "innumerable", "myriad"})
#: Numbers in words a definition states its fewest with: "The presence of six or more cafe-au-lait spots".
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
_NUMBER_WORDS |= {"nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20}
#: Characters of a phrase after a count that :meth:`TermLookup.counted_term` reads.
_COUNTED_WINDOW = 200


#: "six or more", "two or more", "at least two", "more than one" in a definition: the fewest it asks for.
_FEWEST = re.compile(
    rf"\b(?:(?P<n>\d+|{'|'.join(_NUMBER_WORDS)})\s+or\s+more|at\s+least\s+(?P<least>\d+|{'|'.join(_NUMBER_WORDS)})"
    rf"|more\s+than\s+(?P<than>\d+|{'|'.join(_NUMBER_WORDS)}))\b",
    re.IGNORECASE,
)


def _fewest_said(definition: str) -> int | None:
    """The fewest a term's definition asks for ("The presence of six or more cafe-au-lait spots": 6), else ``None``."""
    match = _FEWEST.search(definition)
    if match is None:
        return None
    said = match.group("n") or match.group("least") or match.group("than")
    number = int(said) if said.isdigit() else _NUMBER_WORDS[said.lower()]
    return number + 1 if match.group("than") else number


def _plural(token: _Token) -> bool:
    """Whether a finding's last word is written plural ("macules", "CALMs", "neurofibromata"): a count before a
    singular is something else ("6 cm cafe-au-lait macule" holds no count of spots; "several lipoma" none)."""
    raw = token.raw.casefold().replace("'", "").replace("’", "")
    return raw != token.norm and (raw.endswith(("s", "ata", "ae")) or _singular(raw) != raw)


#: Words that attach a finding to the organ the mention before them names: "enlarged kidneys with multiple cysts".
_ATTACHING = frozenset({"with"})
#: After the words "with" attaches: a place of their own ("with cysts in the liver"), not the mention's organ.
_PLACE_AFTER = frozenset({"in", "of", "on", "at", "within", "throughout", "involving", "affecting"})
#: Most words of what "with" attaches: "numerous small cysts".
_ATTACHED_WORDS = 3


#: Words among what "with" attaches that deny it ("with no cysts", "with not many cysts", "with absent cysts") or
#: doubt it ("with possible cysts", "with unknown cysts"): the attached finding is absent or uncertain.
_ATTACHED_DENIALS = frozenset({"no", "not", "absent", "none", "nil", "non", "never", "without", "lack", "lacking"})
_ATTACHED_DOUBTS = frozenset(
    {"possible", "possibly", "probable", "probably", "likely", "suspected", "questionable", "query", "unknown"}
    | {"uncertain", "equivocal", "presumed", "presumably", "maybe", "perhaps", "unclear", "doubtful", "potential"}
)
_ATTACHED_CUES = _ATTACHED_DENIALS | _ATTACHED_DOUBTS


def _attached_assertion(words: Sequence[str]) -> Assertion | None:
    """How the words "with" attaches say their finding: "absent" for a denial among them, "uncertain" for a doubt,
    else ``None`` (as the mention they are attached to says)."""
    if _ATTACHED_DENIALS.intersection(words):
        return "absent"
    if _ATTACHED_DOUBTS.intersection(words):
        return "uncertain"
    return None


def _mention_tokens(
    tokens: list[tuple[_Token, bool]], index: Mapping[int, int], mention: ExtractedTerm
) -> tuple[int, int] | None:
    """The first and last token a mention covers (``index``: token start -> position), or ``None`` when it starts
    inside a token."""
    first = index.get(mention.start)
    if first is None:
        return None
    last = first
    while last + 1 < len(tokens) and tokens[last + 1][0].end <= mention.end:
        last += 1
    return first, last


def _taken(tokens: list[tuple[_Token, bool]], matched: Sequence[ExtractedTerm], index: Mapping[int, int]) -> set[int]:
    """Indices of the tokens some mention of ``matched`` covers."""
    taken: set[int] = set()
    for m in matched:
        i = index.get(m.start, len(tokens))
        while i < len(tokens) and tokens[i][0].start < m.end:
            taken.add(i)
            i += 1
    return taken


def _attached_words(tokens: list[tuple[_Token, bool]], start: int, taken: set[int]) -> list[list[str]]:
    """What "with" may attach, from token ``start``, as normalised words to try in turn: the whole phrase ("multiple
    cysts"), "multiple" and its head for a word of many ("numerous small cysts"), and its head alone ("small cysts").

    The phrase is at most :data:`_ATTACHED_WORDS` words in no mention, with no stop word and no comma, and ends its
    noun phrase (then a comma, a stop word or the sentence's end); a place after it ("cysts in the liver") says whose
    they are, so nothing is tried.
    """
    stop = start
    while (
        stop < len(tokens)
        and stop - start < _ATTACHED_WORDS
        and stop not in taken
        and tokens[stop][0].norm not in _BAG_STOPWORDS
        and (stop == start or not tokens[stop][1])
    ):
        stop += 1
    ends_phrase = stop == len(tokens) or tokens[stop][1] or tokens[stop][0].norm in _BAG_STOPWORDS
    if (
        stop == start
        or tokens[start][1]
        or not ends_phrase
        or (stop < len(tokens) and tokens[stop][0].norm in _PLACE_AFTER)
    ):
        return []
    phrase = [token for token, _ in tokens[start:stop]]
    norms = [token.norm for token in phrase]
    tried = [norms]
    if len(phrase) > 1 and _MANY.intersection(norms[:-1]) and _plural(phrase[-1]):
        tried.append(["multiple", norms[-1]])
    if len(phrase) > 1:
        tried.append(norms[-1:])
    return tried


#: Words a bag match retries without: a degree or a side no term names.
# ... and "still", which says it is there now: "spleen still palpable" (after "splenomegaly as a toddler")
_READ_PAST = _DEGREE_ADVERBS | _SIDES | {"still"}
#: Most words of a list item that names no term, through which a negation's list still runs.
_LIST_ITEM_WORDS = 2
_NARROW_CUE_SET = frozenset(_NARROW_CUES)
#: Words that join the two sides of a differential: "seizures vs syncope" ("vs." too: :func:`_sentences`).
_VERSUS = frozenset({"vs", "versus"})
#: Most words between "vs" and the mention it opens: "vs drug-induced parkinsonism", "versus mild splenomegaly".
_VERSUS_REACH = 3
#: Words a mention may open with, through which a hedge's scope or a differential's other side runs on: "likely mild
#: hepatomegaly", "presumed bilateral SNHL", "hepatomegaly vs mild splenomegaly".
_MODIFIERS = _QUALIFIERS | _DEGREE_ADVERBS | _SIDES
#: Words a narrow cue's scope runs through (:data:`_NARROW_CUES`): modifiers, a copula, "to have" ("likely to have
#: scoliosis", "she likely has ..."); the conjunctions of a list are read apart.
_NARROW_SCOPE_WORDS = _MODIFIERS | COPULAS | {"to", "be", "have", "has", "had", "develop", "most", "more"}
_NARROW_SCOPE_WORDS |= {"small", "large", "tiny", "some"}  # "He might have a small VSD"
#: Longest window a bag match looks at, in tokens.
MAX_BAG_TOKENS = 6
_STEM_SUFFIXES = (
    "isation",
    "ization",
    "ification",
    "ation",
    "ition",
    "ement",
    "ment",
    "ities",
    "ity",
    "ion",
    "ating",
    "ated",
    "ate",
    "ing",
    "ied",
    "ed",
    "es",
    "e",
)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    """A crude stem shared by a word's forms: dilated / dilatation / dilation, dislocated / dislocation, lens / lenses.

    Applied alike to dictionary and text, like ``_singular``: only that forms of one word meet matters.
    """
    if word.endswith("ly") and (len(word) >= 7 or word == "mildly"):  # mentally / mental, not early / ear
        word = word[:-2]
    for _ in range(2):
        for suffix in _STEM_SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3:
                word = word[: -len(suffix)]
                break
        else:
            break
    if word.endswith("at") and len(word) > 4:
        word = word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        word = word[:-1]
    if word.endswith(("ic", "ia")) and len(word) >= 6:  # the adjective meets its noun: ataxic / ataxia, dystonic
        word = word[:-2]
    return word


_STEM_EQUIVALENTS.update({_stem(word): _stem(same) for word, same in _WORD_EQUIVALENTS.items()})


def _bag(norms: list[str]) -> tuple[str, ...] | None:
    """Sorted stems of the content words of normalised tokens, ``None`` below two content words."""
    stems = sorted(
        _ANOMALY
        if norm in _ANOMALY_NOUNS
        else _INVOLVEMENT
        if norm in _INVOLVEMENT_NOUNS
        else _STEM_EQUIVALENTS.get(_stem(norm), _stem(norm))
        for norm in norms
        if norm not in _BAG_STOPWORDS
    )
    return tuple(stems) if len(stems) >= 2 else None


def _entry_bags(norms: list[str]) -> Iterator[tuple[str, ...]]:
    """The bags a dictionary phrase is found by: its own, for "Abnormal X morphology" also "X anomalies", and for
    "Abnormality of X" also "X manifestations"."""
    bag = _bag(norms)
    if bag is not None:
        yield bag
    if "abnormality" in norms:
        involvement = _bag([_INVOLVEMENT if norm == "abnormality" else norm for norm in norms])
        if involvement is not None:
            yield involvement
    if "abnormal" in norms and "morphology" in norms:
        anomaly = _bag([_ANOMALY if norm == "abnormal" else norm for norm in norms if norm != "morphology"])
        if anomaly is not None and anomaly != bag:
            yield anomaly


def speaks_of_a_relative(text: str) -> bool:
    """Whether words say something of a relative, by the family cues the reading uses ("father has Marfan
    syndrome", "family history of sudden death"), even where they name no HPO term. A relative who only reports
    ("per mother's report, breath-holding spells", "parents' concern: hand flapping") does not count."""
    if _RELATIVE_LINE.match(text):  # "Father: Marfan syndrome"
        return True
    for tokens in _sentences(text):
        for i in range(len(tokens)):
            cue = _cue(tokens, i, text)
            # A possessive alone ("mother's report") is a cue for a mention that follows; here no term follows,
            # so only a relative with a verb or "family history" says the words are the relative's.
            if cue is not None and cue[1] == "family_history" and not _possessive(tokens[i][0], text):
                return True
    return False


def said_of_a_relative(text: str, span: tuple[int, int], sections: Sequence[tuple[int, int]] | None = None) -> bool:
    """Whether the words of ``text`` at ``span`` say something of a relative (:func:`speaks_of_a_relative`: "Father
    has NF1") or lie in a family-history section ("Family history:\nNF1 in father"); ``sections`` are
    :func:`family_sections` of ``text`` when the caller has them already."""
    start, end = span
    within = family_sections(text) if sections is None else sections
    return any(a <= start < b for a, b in within) or speaks_of_a_relative(text[start:end])


#: Words that deny a family history right before it: "no family history", "negative family history", "denies any
#: family history", "There is no known family history" ("known", "significant", "relevant" may come between).
#: ... and "Neither parent has X", "None of his siblings has X": the relatives are said not to have it.
_FAMILY_DENIALS = frozenset({"no", "deny", "denied", "negative", "nil", "without", "not", "neither", "none"})
_BEFORE_FAMILY_HISTORY = frozenset(
    {"known", "significant", "relevant", "other", "further", "any", "positive", "such", "of", "his", "her", "their"}
)


def _denied_just_before(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether a denial comes right before the family-history cue at ``i``, in its clause, only the few words of
    :data:`_BEFORE_FAMILY_HISTORY` between: "no family history of X" says the family does not have X."""
    j = i - 1
    while j >= 0 and tokens[j][0].norm in _BEFORE_FAMILY_HISTORY and not tokens[j + 1][1]:
        j -= 1
    return j >= 0 and tokens[j][0].norm in _FAMILY_DENIALS and not tokens[j + 1][1]


def _patient_asserts(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether a new statement about the patient starts at ``i``: "she has", "the patient developed", or a
    second verb of the same subject ("denies seizures and has scoliosis")."""
    return (
        tokens[i][0].norm in (*_PATIENT_SUBJECTS, "and")
        and i + 1 < len(tokens)
        and tokens[i + 1][0].norm in _ASSERTING_VERBS
    )


#: Words that end a diagnosis's name: a list item that names something, though no HPO term ("Marfan syndrome").
_DIAGNOSIS_ENDS = frozenset({"syndrome", "disease"})
#: A sentence end (not a semicolon) between two clauses: "he" after it no longer goes on with the relative.
_SENTENCE_END = re.compile(r"[.!?\n]")
_REFLEXIVES = frozenset({"herself", "himself", "themselves"})
_REFLEXIVE_REACH = 4


#: Developmental regression: loss of acquired skills.
DEVELOPMENTAL_REGRESSION = "HP:0002376"
#: Terms of a skill lost, and the words of their mention that say an acquired skill was lost (not only that it is
#: missing now): "lost purposeful hand use" (Hand apraxia; HPO's Rett syndrome phrase), "lost her words", "speech
#: regression", "loss of acquired speech" (Loss of speech). Not "Loss of speech" alone, HPO's name, which an adult's
#: aphasia after a stroke is too, nor Loss of ambulation, which is also how a muscular dystrophy progresses.
_LOST_SKILLS: dict[str, re.Pattern[str]] = {
    "HP:0032588": re.compile(r"^(?:lost|losing|loses|lose|loss\s+of)\b", re.IGNORECASE),  # Hand apraxia
    "HP:0002371": re.compile(r"^(?:lost|losing|loses|lose)\b|\bregression\b|\bacquired\b", re.IGNORECASE),
}


#: What in the sentence of a skill lost says it is no developmental regression: a cause ("after the stroke",
#: "following the tracheostomy", "due to", "because of", "secondary to", "post-ictal"; not an age or a time of normal
#: development: "after 18 months", "after a period of normal development"), a passing loss ("for 10 minutes") or
#: an adult's age ("at 58", "a 45-year-old").
_LOST_NOT_REGRESSION = re.compile(
    r"\b(?:after|following|post|due\s+to|because\s+of|secondary\s+to)\s+(?!(?:the\s+)?(?:age|aged)\b|\d"
    r"|(?:a|an|one|two|three|four|five|six|about|around|several|some|few|many|initial|early|he|she|learning|learnt"
    r"|learned|acquiring|gaining|having|initially|apparently|previously|normal|typical|period|months?|years?|weeks?)\b)"
    r"|\bpost[-\s]?ictal\w*"
    r"|\bfor\s+(?:\d+|a|an|one|two|a\s+few|few|several|some)\s+(?:\w+\s+)?(?:seconds?|minutes?|mins?|hours?|hrs?)\b"
    r"|\b(?:at|aged?)\s+(?:age\s+)?(?P<at>\d{2,3})\b(?!\s*(?:months?|mo|m|weeks?|wks?|w|days?|d|/12)\b)"
    r"|\b(?P<old>\d{2,3})[-\s]?(?:years?|yrs?|y)[-\s]?old\b",
    re.IGNORECASE,
)


def _with_regression(found: list[ExtractedTerm], text: str) -> list[ExtractedTerm]:
    """``found`` with Developmental regression beside each mention of a skill lost (:data:`_LOST_SKILLS`), on its
    words, with its assertion: "She lost purposeful hand use" was Hand apraxia alone, the regression that defines
    Rett syndrome unread. A denied loss says nothing of regression: another skill may have been lost; nor does a loss
    its sentence gives a cause, a passing one or an adult's (:func:`_lost_to_a_cause`)."""
    with_it: list[ExtractedTerm] = []
    for mention in found:
        with_it.append(mention)
        said = _LOST_SKILLS.get(mention.term_id)
        # "no loss of purposeful hand use" denies that loss, not that any skill was lost
        if (
            said is not None
            and not mention.excluded
            and said.search(mention.label)
            and not _lost_to_a_cause(text, mention.start, mention.end)
        ):
            with_it.append(replace(mention, term_id=DEVELOPMENTAL_REGRESSION))
    return with_it


def _lost_to_a_cause(text: str, start: int, end: int) -> bool:
    """Whether the sentence of a skill lost at ``start``-``end`` says it is no developmental regression
    (:data:`_LOST_NOT_REGRESSION`): "He lost his words after the stroke at 58", "He lost speech for 10 minutes after
    the seizure", "Following the tracheostomy he lost speech"."""
    before = max(text.rfind(mark, 0, start) for mark in ".!?\n") + 1
    after = _SENTENCE_END.search(text, end)
    sentence = text[before : after.start() if after is not None else len(text)]
    for found in _LOST_NOT_REGRESSION.finditer(sentence):
        age = found.group("at") or found.group("old")
        if age is None or int(age) >= 18:
            return True
    return False


#: A relative's verbs of denial ("denies" is "deny" once singularised), and the words right before a denied clause's
#: subject: "Mother denies that he has seizures", "Parents deny he has had seizures".
_DENY_VERBS = frozenset({"deny", "denied"})
_DENIED_THAT = _DENY_VERBS | {"that"}
#: Words between "but" and the verb of the subject it goes on with: "but also has", "but still has".
_BUT_HAS_BETWEEN = frozenset({"also", "still", "herself", "himself", "now", "does"})
_BUT_HAS_VERBS = _ASSERTING_VERBS | {"is", "wa", "was", "suffers", "suffered", "get", "gets", "got"}


#: Words after "resolved" that say what of the mention before it, not open a past item (:meth:`TermLookup.
#: _opens_a_past_item`): "resolved after seizure control", "resolved with feeds", "resolved by 6 months".
_PAST_ITEM_ENDS = frozenset(
    {"after", "with", "by", "on", "at", "following", "since", "in", "when", "once", "without", "until", "upon"}
)


def _but_has(tokens: list[tuple[_Token, bool]], i: int) -> int | None:
    """Where what the subject has starts, when "but" at ``i`` goes on with the subject before it, which has no
    subject of its own: "but has migraine", "but also has", not "but he has" nor "but seizures", nor what a relative
    tells ("Mother denies seizures but has noticed staring spells", "but is worried about his gait": the child's);
    else ``None``. Whether a finding is named there is :meth:`TermLookup._but_has_finding`'s to tell."""
    if tokens[i][0].norm != "but":
        return None
    j = i + 1
    while j < len(tokens) and tokens[j][0].norm in _BUT_HAS_BETWEEN and not tokens[j][1]:
        j += 1
    if j >= len(tokens) or tokens[j][1] or tokens[j][0].norm not in _BUT_HAS_VERBS:
        return None
    if j + 1 < len(tokens) and tokens[j + 1][0].norm in _REPORTING_VERBS:
        return None
    j += 1
    # "but has had migraine", "but has a mild hearing loss": a finding right after, not "has been", "has a brother"
    while j < len(tokens) and tokens[j][0].norm in _BUT_HAS_BEFORE_FINDING and not tokens[j][1]:
        j += 1
    return j if j < len(tokens) and not tokens[j][1] else None


#: Words between "but has" and the finding the subject has: "but has had", "but has a mild".
_BUT_HAS_BEFORE_FINDING = _MODIFIERS | {"a", "an", "had", "also", "still", "some"}
#: Words of a pregnancy and its findings: "Mother was well in pregnancy but had polyhydramnios" is the patient's.
_PRENATAL_WORDS = frozenset({"pregnancy", "pregnant", "gestation", "antenatal", "antenatally", "prenatal"})
_PRENATAL_WORDS |= {"prenatally", "fetal", "foetal", "utero", "amniotic", "placenta", "placental"}
_PRENATAL_WORDS |= {"polyhydramnios", "oligohydramnios", "anhydramnios"}


def _denier(tokens: list[tuple[_Token, bool]], text: str) -> tuple[str, str | None] | None:
    """The relative a sentence opens with, as the subject of a denial ("Her mother denies headaches"), with the word
    before it; else ``None``. Her denial is the patient's absence unless she goes on to say what she has herself
    (:meth:`TermLookup._but_has_finding`, :func:`_goes_on_after`)."""
    i = _opening_relative(tokens)
    if i is None or _possessive(tokens[i][0], text) or i + 1 >= len(tokens) or tokens[i + 1][0].norm not in _DENY_VERBS:
        return None
    if i + 2 < len(tokens) and tokens[i + 2][0].norm in _DENIED_THAT | _PATIENT_SUBJECTS:
        return None  # "Mother denies that he has seizures": the patient's, denied
    return tokens[i][0].norm, tokens[i - 1][0].norm if i > 0 else None


def _opening_relative(tokens: list[tuple[_Token, bool]]) -> int | None:
    """The position of the relative a sentence opens with, after subject openers only ("Her older sister ..."), if
    it opens with one: where :func:`_relative_subject` and :func:`_denier` look for their subject."""
    for i, (token, _) in enumerate(tokens):
        if token.norm in _RELATIVE_WORDS:
            return i
        if token.norm not in _SUBJECT_OPENERS:
            return None
    return None


def _goes_on_after(
    text: str, tokens: list[tuple[_Token, bool]], following: list[tuple[_Token, bool]], denier: tuple[str, str | None]
) -> bool:
    """Whether the clause after a semicolon goes on with the denier by a pronoun of her own ("Mother denies headaches;
    she has migraine"), as :func:`_pronoun_means` reads a relative's pronoun."""
    gap = text[tokens[-1][0].end : following[0][0].start]
    return ";" in gap and not _SENTENCE_END.search(gap) and _pronoun_means(following, 0, denier)


def _relative_subject(tokens: list[tuple[_Token, bool]], text: str) -> tuple[str, str | None] | None:
    """The relative a sentence opens with as its subject ("Father died of ...", "Her father had ..."), with the word
    before it, else ``None``: whom a "he" or "she" in the next clause may mean."""
    i = _opening_relative(tokens)
    if i is None:
        return None
    cue = _cue(tokens, i, text)
    if cue is None or cue[1] != "family_history" or _possessive(tokens[i][0], text):
        return None
    return tokens[i][0].norm, tokens[i - 1][0].norm if i > 0 else None


#: Words a clause about the patient opens with ("the boy has ataxia", "our patient is 5"), articles being no tokens.
_PATIENT_NOUNS = (_PATIENT_SUBJECTS - {"he", "she"}) | {"infant", "baby", "index", "case"}
_BEFORE_PATIENT_NOUN = frozenset({"our", "this", "the", "index", "affected", "little", "young"})
#: What a clause says of a relative who is well: "Father is healthy", "Mother is well", "both parents are unaffected".
_WELL_WORDS = frozenset({"well", "healthy", "unaffected", "normal", "fit", "asymptomatic"})
_BESIDE_WELL = (
    COPULAS
    | _RELATIVE_WORDS
    | {"and", "alive", "otherwise", "apparently", "clinically", "reportedly", "currently", "now", "both", "also"}
)


#: Most words between a clause's verb and the patient it says its words of: "are present in the patient".
_VERB_TO_PATIENT = 4


def _patients_clause_ahead(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether the clause opening at the comma of token ``i`` has a verb of its own said of the patient ("tall stature
    and ectopia lentis are present in the patient", "..., both noted in the proband")."""
    k = i
    while k < len(tokens) and (k == i or not tokens[k][1]):
        if tokens[k][0].norm in COPULAS or tokens[k][0].norm in ("present", "noted", "seen", "found", "observed"):
            reach = tokens[k + 1 : k + 1 + _VERB_TO_PATIENT]
            for token, soft in reach:
                if soft:
                    break
                if token.norm in _PATIENT_NOUNS:
                    return True
        k += 1
    return False


def _opens_with_the_patient(tokens: list[tuple[_Token, bool]], text: str) -> bool:
    """Whether a clause opens with the patient as its subject: "the boy has ataxia", "our patient is 5" (not "the
    boy's father ...")."""
    for token, _ in tokens[:3]:
        if token.norm in _PATIENT_NOUNS:
            return not _possessive(token, text)
        if token.norm not in _BEFORE_PATIENT_NOUN:
            return False
    return False


def _said_well(tokens: list[tuple[_Token, bool]]) -> bool:
    """Whether a clause about a relative says no more than that they are well: "Father is healthy"."""
    norms = [token.norm for token, _ in tokens]
    return bool(_WELL_WORDS.intersection(norms)) and all(
        n in _WELL_WORDS or n in _BESIDE_WELL or n in _SUBJECT_OPENERS for n in norms
    )


def _pronoun_means(tokens: list[tuple[_Token, bool]], i: int, subject: tuple[str, str | None]) -> bool:
    """Whether the "he" or "she" at ``i``, opening a statement ("he also had", "she has"), means the relative
    ``subject`` (the relative and the word before it): a relative of its sex, not introduced as the patient's by the
    same pronoun ("his father has NF1 and he has ..." is the boy; "Father has NF1; he also has ..." the father)."""
    pronoun = tokens[i][0].norm
    relative, before = subject
    if pronoun == "he":
        own, relatives = "his", _MALE_RELATIVES
    elif pronoun == "she":
        own, relatives = "her", _FEMALE_RELATIVES
    else:
        return False
    following = [token.norm for token, _ in tokens[i + 1 : i + 3]]
    verb = next((word for word in following if word != "also"), None)
    if "born" in following:
        return False  # "he was born at term": the patient's story
    return relative in relatives and before != own and verb in _RELATIVE_VERB_WORDS


def _relative_themselves(tokens: list[tuple[_Token, bool]], start: int, end: int) -> bool:
    """Whether the mention at tokens [start, end) is said of a relative named before it in its sentence, by a
    reflexive in its clause right after it: "Mother denies any history of seizures herself", or by her pregnancy
    ("Mother denied a history of seizures in pregnancy"). The words after it are looked at first: the relative is
    looked for only when they say so (a long sentence is not scanned again for every mention of it)."""
    pregnancy = _in_pregnancy(tokens, end)
    if not pregnancy and not _reflexive_after(tokens, end):
        return False
    relatives = _MOTHERS if pregnancy else _RELATIVE_WORDS
    return any(token.norm in relatives for token, _ in tokens[:start])


def _reflexive_after(tokens: list[tuple[_Token, bool]], end: int) -> bool:
    """Whether a reflexive ("herself") follows token ``end`` within :data:`_REFLEXIVE_REACH` words of its clause."""
    for token, soft in tokens[end : end + _REFLEXIVE_REACH]:
        if soft:
            return False
        if token.norm in _REFLEXIVES:
            return True
    return False


#: The mother, whose pregnancy a mention after her may be dated in: "Mother denied seizures in pregnancy".
_MOTHERS = frozenset({"mother", "mum", "mom", "mummy", "mommy", "maternal"})
_PREGNANCY = frozenset({"pregnancy", "pregnant", "gestation"})


def _in_pregnancy(tokens: list[tuple[_Token, bool]], end: int) -> bool:
    """Whether "in / during (the / her) pregnancy" follows token ``end`` in its clause."""
    if end >= len(tokens) or tokens[end][1] or tokens[end][0].norm not in ("in", "during", "while"):
        return False
    for token, soft in tokens[end + 1 : end + 4]:
        if soft:
            return False
        if token.norm in _PREGNANCY:
            return True
        if token.norm not in ("the", "her", "this", "that", "was", "she", "wa", "is"):
            return False
    return False


#: Words that say a function is normal (:data:`NORMAL_FUNCTIONS`), and the words that may come between.
_NORMAL_WORDS = frozenset({"normal", "intact", "unremarkable"})
_BEFORE_NORMAL = COPULAS | {"grossly", "clinically", "entirely", "completely", "subjectively", "reportedly"}


#: Words in the sentence of a function said normal that date it ("at birth", "until age 5", "initially", "was normal
#: ... but"), qualify it ("with aids", "on the left", "?", "unlikely", "probably") or tell of its impairment beside it
#: ("hearing loss", "reduced", "deteriorated"): the normal function then says nothing (code review).
_NORMAL_UNSAID = re.compile(
    r"\?|\b(?:was|were|had[ \t]+been)\b.*\b(?:but|although|though|however)\b"  # "was normal ... but"
    r"|\b(?:birth|born|newborn|neonat\w*|infan\w*|until|till|initially|originally|previously|formerly|first"
    r"|earlier|later|since|became|now|aids?|aided|implants?|amplification|corrected"
    r"|glasses|spectacles|lenses|left|right|unilateral|one|side|ear|eye|unlikely|likely|probabl\w*|possibl\w*"
    r"|presum\w*|query|uncertain|unclear|not|no|loss|impair\w*|deaf\w*|reduc\w*|decreas\w*|poor|deteriorat\w*"
    r"|progressive|blind\w*|low|partial|mild\w*|moderate\w*|severe\w*|profound\w*)\b",
    re.IGNORECASE,
)


def _normal_function(
    text: str, tokens: list[tuple[_Token, bool]], i: int, functions: Mapping[str, str]
) -> tuple[int, str] | None:
    """(end, impairment) of a function of ``functions`` (:data:`NORMAL_FUNCTIONS`) said normal at token ``i``
    ("normal hearing", "Hearing normal", "hearing is grossly normal", "vision intact"), whose reading says the
    impairment is absent; else ``None``. Only where nothing in its sentence dates or qualifies it
    (:data:`_NORMAL_UNSAID`): "Hearing was normal at birth but has deteriorated" denies no hearing loss."""
    term_id = functions.get(tokens[i][0].norm)
    if term_id is None:
        return None
    end = None
    # "normal hearing and vision", "hearing and vision are normal": functions listed together share "normal"
    first, last = _listed_functions(tokens, i, -1, functions), _listed_functions(tokens, i, 1, functions)
    if first > 0 and tokens[first - 1][0].norm in _NORMAL_WORDS and not tokens[first][1]:
        end = i + 1
    else:
        j = last + 1
        while j < len(tokens) and tokens[j][0].norm in _BEFORE_NORMAL and not tokens[j][1]:
            j += 1
        if j < len(tokens) and tokens[j][0].norm in _NORMAL_WORDS and not tokens[j][1]:
            end = j + 1 if last == i else i + 1  # the last function listed takes "normal" in its words
    if end is None:
        return None
    # The sentence around it, to its ends (not a semicolon's: "Hearing normal at birth; now hearing loss").
    at, stop = tokens[i][0].start, tokens[end - 1][0].end
    window = max(0, at - _NORMAL_SENTENCE)
    before = max(text.rfind(".", window, at), text.rfind("\n", window, at), text.rfind("!", window, at)) + 1
    after = _SENTENCE_END.search(text, stop, stop + _NORMAL_SENTENCE)
    if (before == 0 and window > 0) or (after is None and stop + _NORMAL_SENTENCE < len(text)):
        return None  # a sentence too long to look through
    sentence = text[before : after.end() if after is not None else len(text)]  # with its "?"
    if _NORMAL_UNSAID.search(sentence):
        return None
    return end, term_id


def _listed_functions(tokens: list[tuple[_Token, bool]], i: int, step: int, functions: Mapping[str, str]) -> int:
    """The first (``step`` -1) or last (``step`` 1) token of the functions listed with the one at ``i``, joined by
    "and", "or" or commas ("hearing and vision", "vision, hearing and eyesight"); ``i`` when it stands alone."""
    at = i
    while True:
        near, far = at + step, at + 2 * step
        # the comma's flag is on the token after it: between ``at`` and ``near`` when going back, else after
        comma = tokens[at][1] if step < 0 else (0 <= near < len(tokens) and tokens[near][1])
        if 0 <= near < len(tokens) and comma and tokens[near][0].norm in functions:
            at = near  # "vision, hearing"
        elif (
            0 <= far < len(tokens)
            and tokens[near][0].norm in _FUNCTION_JOINS
            and not tokens[max(near, far)][1]
            and tokens[far][0].norm in functions
        ):
            at = far  # "hearing and vision"
        else:
            return at


def _relative_after(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether "in his mother", "in both parents" comes after token ``i`` in its clause: "Normal hearing and vision
    in her mother" is hers, not the patient's (code review)."""
    for j in range(i + 1, min(len(tokens), i + 8)):
        if tokens[j][1]:
            return False
        if _post_family(tokens, j):
            return True
    return False


_FUNCTION_JOINS = frozenset({"and", "or"})
#: Longest sentence in which a function said normal is read: beyond it, what else the sentence says is not looked at.
_NORMAL_SENTENCE = 300


def _relative_before(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether a relative comes before token ``i`` in its clause: "Both parents have normal hearing"."""
    for j in range(i - 1, max(-1, i - 8), -1):
        if tokens[j][0].norm in _RELATIVE_WORDS:
            return True
        if tokens[j + 1][1]:
            return False
    return False


def _cues_by_first_word() -> dict[str, tuple[tuple[tuple[str, ...], Assertion | None], ...]]:
    """Cues (pseudo-cues first, then longest first) by their first word: a note's token is checked against
    the few cues that start with it, not all of them (the relative-and-verb cues alone number hundreds)."""
    by_word: dict[str, list[tuple[tuple[str, ...], Assertion | None]]] = defaultdict(list)
    for words in _PSEUDO_CUES:
        by_word[words[0]].append((words, None))
    for words, assertion in _CUES_LONGEST_FIRST:
        by_word[words[0]].append((words, assertion))
    return {word: tuple(cues) for word, cues in by_word.items()}


_CUES_BY_FIRST_WORD = _cues_by_first_word()
#: The words the reading itself uses (cues, relatives, sides, qualifiers, connectives): words beside a term that
#: say how it is meant, never "words no HPO name uses" (:meth:`TermLookup.unknown_words`).
_READING_WORDS = frozenset(
    {word for cue, _ in _CUES for word in cue}
    | {word for cue in (*_POST_CUES, *_PSEUDO_CUES) for word in cue}
    | set(_ADJACENT_CUES)
    | {*RELATIVES, *_RELATIVE_VERBS, *_CONJUNCTIONS, *_ARTICLES, *COPULAS, *_SIDES, *_QUALIFIERS, *_DEGREE_ADVERBS}
    | {*_INVESTIGATIONS, *_PATIENT_SUBJECTS, *_CLAUSE_BREAKERS, *_VERSUS, *_REFLEXIVES}
)


def reading_word(word: str) -> bool:
    """Whether the reading itself uses ``word`` (a cue, a relative, a side, an investigation: "PMH", "MRI", "no"):
    a word beside a term that says how it is meant, never one left unread."""
    return _normalise_word(word) in _READING_WORDS


def _possessive(token: _Token, text: str) -> bool:
    """ "mother's", "parents'" (the plural's apostrophe is after the token, in ``text``)."""
    plural = token.raw[-1:] in ("s", "S") and text[token.end : token.end + 1] in ("'", "’")
    return plural or token.raw.casefold().endswith(("'s", "’s"))


#: Words between relatives and their verb: "her father and paternal grandmother both have", "grandmother aged
#: 70 years with dementia", "his two older brothers also had".
_BETWEEN_RELATIVE_AND_VERB = frozenset(
    {"and", "or", "both", "also", "all", "maternal", "paternal", "older", "younger", "elder", "half", "his", "her"}
    | {"their", "two", "three", "of", "aged", "year", "month", "week", "day", "old", "twin", "affected"}
    | {"now", "age", "currently", "who", "yr", "y"}  # an age aside: "Her mother, now 58, has", "sister, who is 10, has"
)
_RELATIVE_VERB_WORDS = frozenset(_RELATIVE_VERBS)


def _age_aside_who(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether the "who" at ``i`` opens a relative's age ("Her brother, who is 10, has scoliosis"), which ends no
    clause of the relative's."""
    return (
        tokens[i][0].norm == "who"
        and i > 0
        and tokens[i - 1][0].norm in _RELATIVE_WORDS
        and [token.norm for token, _ in tokens[i + 1 : i + 2]] == ["is"]
        and any(token.norm.isdigit() for token, _ in tokens[i + 2 : i + 3])
    )


def _relatives_verb(tokens: list[tuple[_Token, bool]], j: int) -> bool:
    """Whether, past more relatives, "both", an age ("aged 70 years"), a verb of the relatives comes before any
    comma: the words after it are said of them."""
    while j < len(tokens) and not tokens[j][1]:
        norm = tokens[j][0].norm
        if norm in _RELATIVE_VERB_WORDS:
            return True
        if norm not in _BETWEEN_RELATIVE_AND_VERB and norm not in _RELATIVE_WORDS and not norm.isdigit():
            return False
        j += 1
    return False


#: Words a sentence may open with before its relative subject: "Her older sister ...", "Maternal uncle ...".
_SUBJECT_OPENERS = frozenset(
    {"his", "her", "their", "one", "two", "another", "both", "and", "half", "also"}  # articles are no tokens
    | {"maternal", "paternal", "older", "younger", "elder", "eldest", "youngest", "only", "twin"}
)
#: Verbs after a relative who tells the patient's story: "Mother reports seizures", "Mum noticed he was floppy".
_REPORTING_VERBS = frozenset(
    {"report", "reported", "say", "said", "state", "stated", "note", "noted", "describe", "described"}
    | {"notice", "noticed", "feel", "felt", "think", "thought", "worry", "worried", "mention", "mentioned"}
    | {"tell", "told", "explain", "explained", "brought", "bring", "consent", "consented", "recall", "recalled"}
    | {"observe", "observed", "accompanied", "accompany", "attend", "attended", "present"}
    | {"concerned", "anxious", "ask", "asked", "request", "requested", "wonder", "wondered"}
    # a denial of the patient's finding: "Parents deny seizures", "Mother denies any seizures in the child"
    | {"deny", "denied"}
)


def _subject_of_sentence(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether the relative at ``i`` opens the sentence as its subject ("Maternal uncle on dialysis since 30 and
    is deaf", "Older sister similarly affected with epilepsy"), not as a teller of the patient's story."""
    if i + 1 >= len(tokens) or tokens[i + 1][1] or tokens[i + 1][0].norm in _REPORTING_VERBS:
        return False
    return all(
        (tokens[j][0].norm in _SUBJECT_OPENERS or tokens[j][0].norm in _RELATIVE_WORDS) and not tokens[j][1]
        for j in range(i)
    )


def _cue(tokens: list[tuple[_Token, bool]], i: int, text: str = "") -> tuple[tuple[str, ...], Assertion | None] | None:
    """The (longest) assertion cue starting at token ``i`` (assertion ``None``: a pseudo-cue), ``None`` if none.

    A relative in the possessive is a cue by itself: "mother's height", "his sister's head was small",
    "both parents' hearing" (the plural's apostrophe is after the token, in ``text``).
    """
    token = tokens[i][0]
    if token.norm in _RELATIVE_WORDS and _possessive(token, text):
        return (token.norm,), "family_history"
    if token.norm in _RELATIVE_WORDS and (_relatives_verb(tokens, i + 1) or _subject_of_sentence(tokens, i)):
        return (token.norm,), "family_history"
    if (
        token.norm == "who"
        and i > 0
        and tokens[i - 1][0].norm in _RELATIVE_WORDS
        and _relatives_verb(tokens, i + 1)
        # "His mother, who is worried about his hearing loss": she tells of the patient (code review)
        and not any(t.norm in _REPORTING_VERBS for t, _ in tokens[i + 1 : i + 4])
    ):
        return (token.norm,), "family_history"  # "Her brother, who has epilepsy, is 10": what he has
    for words, assertion in _CUES_BY_FIRST_WORD.get(tokens[i][0].norm, ()):
        if tuple(token.norm for token, _ in tokens[i : i + len(words)]) == words:
            return words, assertion
    if _past_adjective(tokens, i):
        return (token.norm,), "historical"  # "Resolved neonatal feeding difficulties", "past seizures"
    return None


#: Adjectives that, before a finding, say it is over, as "now resolved" after it does (:data:`POST_HISTORICAL`):
#: "Resolved neonatal feeding difficulties", "Past seizures", "Former preterm infant" ("previous" is a cue anyway).
_PAST_ADJECTIVES = frozenset({"resolved", "past", "former"})
#: Words after which such an adjective qualifies the noun phrase it opens: a determiner, a possessive, "with", "of",
#: a list's "and" / "or" ("hypotonia and resolved jaundice"). Not a verb's auxiliary: "seizures have resolved and
#: hypotonia improved" says nothing of the hypotonia; nor "over the past 2 months" (a time, no finding).
_BEFORE_PAST_ADJECTIVE = frozenset({"his", "her", "their", "its", "with", "of", "and", "or", "any", "some", "h", "o"})
#: Words that end such an adjective's scope, the noun phrase it opens (a list of them joined by "and" / "or" too):
#: "Former preterm infant with hypotonia" leaves the hypotonia present, as "... now has seizures" the seizures.
_PAST_SCOPE_ENDS = frozenset(
    {"with", "without", "now", "since", "who", "which", "that", "on", "at", "in", "after", "currently", "still"}
    | {"ha", "has", "have", "had", "is", "wa", "was", "are", "were", "being", "today", "presenting", "presented"}
    | {"new", "recent", "current", "ongoing", "persistent", "persisting", "developed", "develop", "then", "later"}
)


def _past_adjective(tokens: list[tuple[_Token, bool]], i: int) -> bool:
    """Whether token ``i`` is an adjective of :data:`_PAST_ADJECTIVES` opening a noun phrase: first in its clause or
    after a word of :data:`_BEFORE_PAST_ADJECTIVE`, and followed in the same clause by a word that is no number,
    duration or conjunction ("Resolved neonatal feeding difficulties"; not "in the past 2 months", "past year",
    "seizures, resolved.", "resolved and")."""
    if tokens[i][0].norm not in _PAST_ADJECTIVES or i + 1 >= len(tokens) or tokens[i + 1][1]:
        return False
    following = tokens[i + 1][0].norm
    if following.isdigit() or following in _DURATION_WORDS or following in _CONJUNCTIONS:
        return False
    return i == 0 or tokens[i][1] or tokens[i - 1][0].norm in _BEFORE_PAST_ADJECTIVE


#: Mentions that do not describe the patient as they are: kept in the intake's account, not in the case.
_NOT_THE_PATIENTS: frozenset[Assertion] = frozenset({"family_history", "uncertain"})


def lookup_key(knowledge: HpoKnowledge) -> str:
    """Names what a ``TermLookup`` is built from: ``hp.obo``'s bytes, hpo3 (names, current ids) and this code."""
    return cache_key(
        {
            "hp_obo": file_digest(knowledge.data_dir / HP_OBO),
            "hpo3": knowledge.versions["hpo3"],
            "hpo3_release": knowledge.versions["hpo3_hpo_release"],
            "code": code_digest([sys.modules[__name__], clinical_abbreviations, clinical_phrases]),
        }
    )


#: Names of findings that are, alone, everyday words far more often ("OFC falls below", "falls asleep"), or
#: in notes a test ("newborn blood spot": the heel-prick screen, not Purpura's lay "blood spots"): only the
#: phrases of :data:`FINDING_PHRASES` and longer synonyms read them.
_EVERYDAY_WORDS = frozenset({"fall", "blood spot"})


#: Abbreviations of findings read as spelled, beside :data:`CLINICAL_ABBREVIATIONS` (where they belong; kept here
#: until that table takes them): "CALMs", cafe-au-lait macules, as NF1 notes count them ("6 or more CALMs").
NOTE_ABBREVIATIONS: dict[str, str] = {"CALM": "HP:0000957"}  # Cafe-au-lait spot


@lru_cache(maxsize=1)
def get_term_lookup() -> TermLookup:
    """The process-wide ``TermLookup`` over ``get_hpo_knowledge()``, built on first call (or read back from the
    knowledge's derived-data cache: every process that reads a case needs it, and building it takes ~0.5 s)."""
    knowledge = get_hpo_knowledge()
    return knowledge.derived_cache.load_or_build(
        "term-lookup",
        lookup_key(knowledge),
        lambda: TermLookup(
            knowledge,
            extra=FINDING_PHRASES,
            abbreviations={**CLINICAL_ABBREVIATIONS, **NOTE_ABBREVIATIONS},
            dropped_abbreviations={*AMBIGUOUS_ABBREVIATIONS, *NOT_FINDINGS},
        ),
    )


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
    "MAX_BAG_TOKENS",
    "MAX_MENTION_TOKENS",
    "POST_HISTORICAL",
    "RELATIVES",
    "RELATIVE_DETERMINERS",
    "Assertion",
    "Candidate",
    "ExtractedTerm",
    "TermLookup",
    "get_term_lookup",
    "normalise",
    "reading_word",
    "resolve_findings",
    "said_of_a_relative",
]
