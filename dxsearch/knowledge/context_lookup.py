"""Mode of inheritance and age of onset in free text: what a note says about the disease, not a finding.

A note that says "autosomal dominant inheritance, the mother and grandfather are affected" or "seizures
since infancy" states information the likelihood-ratio scorer weighs (``inheritance`` and ``onset`` of
:meth:`dxsearch.knowledge.likelihood.LikelihoodRatioScorer.score_all`), and that concept-recognition gold
standards annotate (a quarter of GSC+ gold ids lie outside "Phenotypic abnormality", most of them modes of
inheritance). The phenotype dictionary (:mod:`dxsearch.knowledge.term_lookup`) leaves these subtrees out
on purpose, so this module builds a second, small ``TermLookup`` over them: the same tokens, negation and
family cues, with the ontology's own names and synonyms of two words or more (one-word synonyms such as
"Inheritance" or "Mitochondrial" would match everywhere), the roots left out ("Mode of inheritance" and
"Onset" say nothing), and a few phrasings the ontology does not spell (:data:`EXTRA_PHRASES`).

Clinical modifiers and course ("Severe", "Progressive", "Phenotypic variability") are not read: on their
own they match everywhere in running text and say nothing a scorer uses.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from dxsearch.knowledge.derived import cache_key, code_digest, file_digest
from dxsearch.knowledge.hpo import HP_OBO, MODE_OF_INHERITANCE, ONSET, HpoKnowledge, get_hpo_knowledge
from dxsearch.knowledge.likelihood import ONSET_YEARS
from dxsearch.knowledge.term_lookup import TermLookup

#: What a mapped item of the intake's account is: a phenotypic finding, a mode of inheritance, an onset.
ItemKind = Literal["finding", "inheritance", "onset"]
#: "Mendelian inheritance": the modes of transmission a case can state and a disease be annotated with.
MENDELIAN_INHERITANCE = "HP:0034345"

#: "Uniparental disomy" (and its iso- and heterodisomy) sits under Mode of inheritance but names a result of
#: genetic testing, a mechanism, not how the disease passes through the family: neither a scorer nor a
#: phenotype annotation reads it as a mode (GSC+ validation annotates none of its six mentions).
UNIPARENTAL_DISOMY = "HP:0032382"
LEFT_OUT = (UNIPARENTAL_DISOMY,)

AUTOSOMAL_DOMINANT = "HP:0000006"
AUTOSOMAL_RECESSIVE = "HP:0000007"
SPORADIC = "HP:0003745"
INCOMPLETE_PENETRANCE = "HP:0003829"
CONGENITAL_ONSET = "HP:0003577"
NEONATAL_ONSET = "HP:0003623"
INFANTILE_ONSET = "HP:0003593"
CHILDHOOD_ONSET = "HP:0011463"
JUVENILE_ONSET = "HP:0003621"
ADULT_ONSET = "HP:0003581"
YOUNG_ADULT_ONSET = "HP:0011462"

#: Words that say the illness began in the period that follows ("began in infancy"), and the periods.
_BEGAN_WORDS = ("onset", "began", "started", "presented", "appeared", "developed", "first noticed", "first noted")
_PERIODS = {
    "infancy": INFANTILE_ONSET,
    "early infancy": INFANTILE_ONSET,
    "neonatal period": NEONATAL_ONSET,
    "newborn period": NEONATAL_ONSET,
    "childhood": CHILDHOOD_ONSET,
    "early childhood": CHILDHOOD_ONSET,
    "adolescence": JUVENILE_ONSET,
    "adulthood": ADULT_ONSET,
    "early adulthood": YOUNG_ADULT_ONSET,
}

#: Phrasings of inheritance and onset the ontology does not spell, each unambiguous in a clinical note.
#: "dominant" alone is not one ("bifrontally dominant delta waves", "dominant hand"), nor "sporadic" alone
#: ("sporadic headaches" are occasional ones), nor "childhood" alone ("asthma in childhood" dates a finding).
EXTRA_PHRASES: dict[str, str] = {
    **{
        f"dominant {noun}": AUTOSOMAL_DOMINANT
        for noun in ("inheritance", "inherited", "trait", "form", "disorder", "condition", "disease", "pattern")
    },
    "dominantly inherited": AUTOSOMAL_DOMINANT,
    "dominant transmission": AUTOSOMAL_DOMINANT,
    "dominant mode of inheritance": AUTOSOMAL_DOMINANT,
    **{
        f"recessive {noun}": AUTOSOMAL_RECESSIVE
        for noun in ("inheritance", "inherited", "trait", "form", "disorder", "condition", "disease", "pattern")
    },
    "recessively inherited": AUTOSOMAL_RECESSIVE,
    "recessive transmission": AUTOSOMAL_RECESSIVE,
    "recessive mode of inheritance": AUTOSOMAL_RECESSIVE,
    "sporadic case": SPORADIC,
    "sporadic form": SPORADIC,
    "sporadic occurrence": SPORADIC,
    "isolated case": SPORADIC,
    "non-familial": SPORADIC,
    "de novo": SPORADIC,
    "nonpenetrance": INCOMPLETE_PENETRANCE,
    "non-penetrance": INCOMPLETE_PENETRANCE,
    "incompletely penetrant": INCOMPLETE_PENETRANCE,
    "present from birth": CONGENITAL_ONSET,
    "present since birth": CONGENITAL_ONSET,
    "since birth": CONGENITAL_ONSET,
    "from birth": CONGENITAL_ONSET,
    "since the neonatal period": NEONATAL_ONSET,
    "since infancy": INFANTILE_ONSET,
    "onset in childhood": CHILDHOOD_ONSET,
    "since early childhood": CHILDHOOD_ONSET,
    # "present at birth", "noted at birth": what was there at birth ("hypotonia at birth" dates a finding only)
    **{f"{said} at birth": CONGENITAL_ONSET for said in ("present", "noted", "noticed", "apparent", "evident", "seen")},
    # "began in infancy", "onset in early childhood", "presented in the neonatal period"
    **{f"{began} in {period}": onset for began in _BEGAN_WORDS for period, onset in _PERIODS.items()},
}


def kind_of(knowledge: HpoKnowledge, term_id: str) -> ItemKind:
    """Whether a term is a mode of inheritance, an onset, or (anything else) a finding."""
    ancestors = knowledge.ancestors(term_id)
    if MODE_OF_INHERITANCE in ancestors:
        return "inheritance"
    if ONSET in ancestors:
        return "onset"
    return "finding"


def case_modes(knowledge: HpoKnowledge, term_ids: Iterable[str]) -> tuple[str, ...]:
    """The modes of transmission among ``term_ids``, in order, each once: what a ``Case`` carries.

    Only Mendelian modes (dominant, recessive, X-linked, mitochondrial, ...): "Sporadic", "de novo",
    somatic mosaicism or incomplete penetrance describe this family, not how the disease is transmitted,
    and a sporadic case of a dominant disorder is common (a de novo variant); read as a mode, they would
    weigh against every disease not annotated with them. They stay in the account.
    """
    kept: list[str] = []
    for term_id in term_ids:
        if MENDELIAN_INHERITANCE in knowledge.ancestors(term_id) and term_id not in kept:
            kept.append(term_id)
    return tuple(kept)


def case_onset(term_ids: Iterable[str]) -> str | None:
    """The earliest onset among ``term_ids`` the scorer knows as an age range: when the disease began."""
    known = [t for t in term_ids if t in ONSET_YEARS]
    return min(known, key=lambda t: ONSET_YEARS[t]) if known else None


def context_lookup_key(knowledge: HpoKnowledge) -> str:
    """Names what the context ``TermLookup`` is built from: ``hp.obo``, hpo3, this module and the lookup's code."""
    return cache_key(
        {
            "hp_obo": file_digest(knowledge.data_dir / HP_OBO),
            "hpo3": knowledge.versions["hpo3"],
            "hpo3_release": knowledge.versions["hpo3_hpo_release"],
            "code": code_digest([sys.modules[__name__], sys.modules[TermLookup.__module__]]),
        }
    )


def build_context_lookup(knowledge: HpoKnowledge) -> TermLookup:
    """The dictionary of modes of inheritance and onsets (two words or more, plus :data:`EXTRA_PHRASES`)."""
    return TermLookup(
        knowledge, roots=(MODE_OF_INHERITANCE, ONSET), leave_out=LEFT_OUT, extra=EXTRA_PHRASES, min_words=2
    )


@lru_cache(maxsize=1)
def get_context_lookup() -> TermLookup:
    """The process-wide inheritance and onset dictionary over ``get_hpo_knowledge()`` (cached like the other)."""
    knowledge = get_hpo_knowledge()
    return knowledge.derived_cache.load_or_build(
        "context-lookup", context_lookup_key(knowledge), lambda: build_context_lookup(knowledge)
    )


__all__ = [
    "EXTRA_PHRASES",
    "ItemKind",
    "build_context_lookup",
    "case_modes",
    "case_onset",
    "get_context_lookup",
    "kind_of",
]
