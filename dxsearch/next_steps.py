"""Next steps for a differential: a gene panel, ask-next questions and guideline passages.

Computed once, after the policy has answered, from the final diagnoses and the disease knowledge the
policy ranked with (an index's knowledge: :func:`dxsearch.policies.catalog.index_knowledge`), so the
trace, the API, the CLI and the viewer all show the same next steps and nothing is reasoned again in a
browser. Nothing here changes the differential.

- **Gene panel**: the genes ``genes_to_phenotype.txt`` links to the top candidates, deduplicated, each
  with the diagnoses it is for.
- **Ask-next questions**: the annotated findings of the top candidates whose presence or absence would
  best separate them, by expected information gain (bits) over the candidates' probabilities *as the
  differential states them*, with the share they leave ("none of these": every disease not among the
  candidates, and any candidate the knowledge does not annotate) kept as one more hypothesis. So a
  question's "before" is the probability the differential shows, and an answer moves it by Bayes' rule
  without pretending the candidates are all there is (renormalising among them turned an abstention's 0.10
  into 0.48, and a 0.86 into 1.00). Only probabilities summing above 1 are renormalised, and missing ones
  taken as equal (``NextSteps.scale`` says which). A candidate's chance of showing a finding is its
  annotated frequency (the highest of the finding and its annotated descendants: a patient with a focal
  seizure has a seizure; a count n/m of reported patients is smoothed to (n + 1) / (m + 2)), a small
  default when not annotated, and almost none when annotated as absent; "none of these" shows it as
  diseases at large do (:func:`background_chance`). Findings the patient has (or that a finding of the
  patient implies) and findings already reported absent (or implied absent) are skipped. HPO's *exclusive
  variants* of one finding ("Few cafe-au-lait spots" and "Multiple cafe-au-lait spots", "Unilateral ptosis"
  and "Bilateral ptosis": :func:`variant_of`) are one question (:meth:`NextStepsPlanner.variants_not_asked`):
  none is asked when the patient has another variant (what was said answers it), else only the variant the
  most diseases are annotated with. For a patient who has the finding a "yes" to one is a "no" to the others,
  and a disease may be annotated with both (NF1: few spots in 48 of 56 patients of one series, multiple in 677
  of 781): asking the rarer variant read that row as "few spots favour NF1" (a user test, 2026-11-27).
- **Guideline passages**: guideline documents of the index that name a top candidate, found with a
  retriever restricted to the guideline kind and kept only when the passage names the disease (a BM25
  hit on "syndrome" is not a guideline for it); each cites its evidence id, licence and references.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.cases import Case
from dxsearch.corpus import Chunk, Document, DocumentKind, Evidence, normalise_name
from dxsearch.knowledge.frequency import Frequency
from dxsearch.knowledge.hpo import Disease, HpoKnowledge
from dxsearch.retrieval.base import Retriever

if TYPE_CHECKING:
    from dxsearch.retrieval.embedded import EmbeddedIndex

#: How many candidates next steps are computed for (a differential holds at most five).
TOP_CANDIDATES = 5
MAX_QUESTIONS = 5
GUIDELINES_PER_DIAGNOSIS = 2
#: Chance of a finding in a disease not annotated with it (annotations are incomplete, not exhaustive).
UNANNOTATED_FREQUENCY = 0.05
#: Chance of a finding annotated without a frequency (HPO: present, frequency unknown).
UNKNOWN_FREQUENCY = 0.5
#: Chances are kept within [FLOOR, 1 - FLOOR]: an annotation is not a proof (a NOT row gets FLOOR).
FLOOR = 0.01
#: A question that would move the candidates by less than this (bits) is not worth asking.
MIN_INFORMATION_GAIN = 0.01
GENE_SOURCE = "HPO genes_to_phenotype.txt (genes linked to each disease)"
#: First words by which HPO names mutually exclusive variants of one finding, with what each says: one spot or
#: few or many, one side or both. Every pair of terms named "<word> <rest>" with one ``rest`` and words of one
#: kind saying different things is exclusive in HPO 2025-01 (27 pairs, e.g. Few / Multiple cafe-au-lait spots,
#: Single / Multiple lineage myelodysplasia, Unilateral / Bilateral cleft lip); "Three rows of eyelashes" is
#: not, since three rows are multiple, so numbers are left out.
VARIANT_WORDS: dict[str, tuple[str, str]] = {
    "single": ("count", "one"),
    "solitary": ("count", "one"),
    "few": ("count", "few"),
    "multiple": ("count", "many"),
    "unilateral": ("side", "one side"),
    "bilateral": ("side", "both sides"),
}

Basis = Literal["differential", "considered", "retrieved_diseases"]
#: What the candidates' probabilities are: as the differential states them (the rest is "none of these"),
#: renormalised among the candidates (they summed above 1), or equal (none was given).
Scale = Literal["differential", "among_candidates", "equal"]
#: Bases of an insufficient-evidence answer: questions only (no panel, no guideline: nothing to test or read about).
NO_DIFFERENTIAL: frozenset[Basis] = frozenset({"considered", "retrieved_diseases"})


class DiagnosisRef(BaseModel):
    """Which diagnosis of the differential (or retrieved disease) a next step is for."""

    model_config = ConfigDict(frozen=True)

    rank: int
    name: str
    code: str | None = None


class PanelGene(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    diagnoses: tuple[DiagnosisRef, ...] = Field(description="The candidates this gene is linked to.")


class GenePanel(BaseModel):
    """Genes a genetic test of the top candidates would cover, ordered by the best-ranked diagnosis they serve."""

    model_config = ConfigDict(frozen=True)

    genes: tuple[PanelGene, ...]
    without_genes: tuple[DiagnosisRef, ...] = Field(
        default=(), description="Candidates the gene table links to no gene (or that the knowledge does not know)."
    )
    source: str = GENE_SOURCE


class FindingChance(BaseModel):
    """How often one candidate shows the asked finding, as the disease knowledge says."""

    model_config = ConfigDict(frozen=True)

    rank: int
    code: str | None
    chance: float = Field(description="Probability used for the finding in this disease.")
    annotation: str = Field(description="Where the chance comes from: the annotated frequency, or why a default.")


class Shift(BaseModel):
    """A candidate an answer favours: its probability before and after the answer, on the scale of
    ``NextSteps.probabilities`` (``NextSteps.scale``): "before" is the probability the differential gives it.
    Only candidates the disease knowledge annotates are listed (one it does not know cannot be moved by a
    finding: its share moves with "none of these")."""

    model_config = ConfigDict(frozen=True)

    rank: int
    name: str
    code: str | None
    before: float
    after: float


class Question(BaseModel):
    """Ask whether the patient has this finding: its answer, either way, best separates the candidates."""

    model_config = ConfigDict(frozen=True)

    hpo_id: str
    label: str
    information_gain_bits: float = Field(description="Expected fall in the entropy of the candidates (bits).")
    chance_present: float = Field(
        description="Probability the answer is yes, over the candidates and 'none of these' (NextSteps.scale)."
    )
    chances: tuple[FindingChance, ...]
    if_present: tuple[Shift, ...] = Field(description="Candidates a 'yes' favours, most probable after first.")
    if_absent: tuple[Shift, ...] = Field(description="Candidates a 'no' favours, most probable after first.")
    none_of_these_chance: float | None = Field(
        default=None,
        description="Chance of the finding in a disease not among the candidates (background_chance); null when "
        "the candidates take all the probability (no 'none of these' share).",
    )
    none_of_these_if_present: float | None = Field(
        default=None, description="The 'none of these' share after a 'yes' (before: NextSteps.none_of_these)."
    )
    none_of_these_if_absent: float | None = Field(default=None, description="The 'none of these' share after a 'no'.")


class GuidelinePassage(BaseModel):
    """A guideline passage that names a top candidate; ``evidence_id`` opens at ``/v1/documents/{id}``."""

    model_config = ConfigDict(frozen=True)

    evidence_id: str
    doc_id: str
    title: str
    section: str | None = None
    diagnoses: tuple[DiagnosisRef, ...]
    names: str = Field(description="The disease name the passage was found to name.")
    score: float
    rank: int
    retriever: str
    source: str | None = None
    licence: str | None = None
    references: tuple[str, ...] = Field(
        default=(), description="References of the guideline the passage comes from ('doi:10.…' for a DOI)."
    )
    note: str | None = Field(default=None, description="What the text is (e.g. a summary, not the guideline's text).")


class NextSteps(BaseModel):
    """What to do next for a differential: test (gene panel), ask (questions), read (guideline passages)."""

    model_config = ConfigDict(frozen=True)

    basis: Basis = Field(
        description="'differential': the final diagnoses; 'considered': an insufficient-evidence answer, questions "
        "only, over the candidates it weighed and found too improbable to name (with their probabilities: not a "
        "differential); 'retrieved_diseases': an insufficient-evidence answer that named no candidate, questions "
        "only, over the disease cards the search retrieved (equally likely)."
    )
    candidates: tuple[DiagnosisRef, ...]
    probabilities: tuple[float, ...] = Field(
        description="The candidates' probabilities on the scale 'scale' names: as the differential states them "
        "(the default), so they equal the probabilities the differential shows and may sum to less than 1."
    )
    scale: Scale = Field(
        default="differential",
        description="'differential': the probabilities as given, the rest left to 'none of these'; "
        "'among_candidates': renormalised among the candidates, as they summed above 1; 'equal': none was given, "
        "so the candidates are taken as equally likely.",
    )
    none_of_these: float = Field(
        default=0.0,
        description="The probability left to diseases not among the candidates (1 minus the probabilities' sum), "
        "plus the candidates the disease knowledge does not annotate when questions are weighed.",
    )
    gene_panel: GenePanel | None = None
    questions: tuple[Question, ...] = ()
    guidelines: tuple[GuidelinePassage, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanCandidate:
    """One candidate to plan for: its rank, name, code and probability (``None``: not given)."""

    rank: int
    name: str
    code: str | None
    confidence: float | None = None

    @property
    def ref(self) -> DiagnosisRef:
        return DiagnosisRef(rank=self.rank, name=self.name, code=self.code)


# -- disease names as a guideline would write them --------------------------------------------------------

_QUALIFIERS = re.compile(
    r"^(?:autosomal (?:dominant|recessive)|x linked(?: (?:dominant|recessive))?|y linked|mitochondrial|digenic|"
    r"(?:type|group|subtype|form)? ?[0-9]+[a-z]?|type [a-z]|(?:type )?[ivx]+[a-z]?|[a-z])$"
)
_TRAILING_SUBTYPE = re.compile(r"\s+(?:type|group|subtype)?\s*(?:[0-9]+[a-z]?|[ivx]+|[a-z])$")
_LEADING_INHERITANCE = re.compile(r"^(?:autosomal (?:dominant|recessive)|x linked(?: (?:dominant|recessive))?)\s+")
_GENERIC = frozenset((
    "syndrome", "disease", "disorder", "deficiency", "type", "familial", "congenital", "hereditary", "inherited",
    "juvenile", "adult", "infantile", "early", "late", "onset", "primary", "secondary", "isolated", "form", "the",
    "of", "and", "with",
))  # fmt: skip


def name_variants(name: str) -> tuple[str, ...]:
    """Normalised ways a text may name a disease: 'Hypercholesterolemia, familial, 1' ->
    ('hypercholesterolemia familial 1', 'familial hypercholesterolemia', 'hypercholesterolemia familial').

    Subtype numbers, inheritance qualifiers and 'with ...' tails are dropped and inverted names turned
    round; variants of one word, or of generic words only ('familial syndrome'), are not kept.
    """
    main = re.sub(r"\([^()]*\)", " ", name.split(";")[0])
    variants = [normalise_name(main)]
    main = re.split(r"\s+(?:with or without|with|without|due to|associated with)\s+", main, maxsplit=1)[0]
    head, *rest = [normalise_name(part) for part in main.split(",")]
    modifiers = [part for part in rest if part and not _QUALIFIERS.match(part)]
    head = _LEADING_INHERITANCE.sub("", head)
    while (stripped := _TRAILING_SUBTYPE.sub("", head)) != head and stripped:
        head = stripped
    variants.append(head)
    if modifiers:
        variants.append(" ".join([*modifiers, head]))
        variants.append(" ".join([head, *modifiers]))
    kept = []
    for variant in dict.fromkeys(v.strip() for v in variants):
        words = variant.split()
        if len(words) >= 2 and any(w not in _GENERIC and not w.isdigit() for w in words):
            kept.append(variant)
    return tuple(kept)


def names_disease(text: str, variants: Sequence[str]) -> str | None:
    """The first variant that ``text`` names as whole words (after normalisation), else ``None``."""
    padded = f" {normalise_name(text)} "
    return next((v for v in variants if f" {v} " in padded), None)


# -- information gain -------------------------------------------------------------------------------------


class Variant(NamedTuple):
    """What a term's name says of it as one of HPO's exclusive variants of a finding (:data:`VARIANT_WORDS`)."""

    kind: str  # "count" or "side"
    rest: str  # the finding, as normalised words: "cafe au lait spots"
    says: str  # "few", "many", "one side"...


def variant_of(name: str) -> Variant | None:
    """The variant a term's name makes it, or ``None``: "Few cafe-au-lait spots" and "Multiple cafe-au-lait
    spots" are variants of one finding (one ``kind`` and ``rest``) that say different things (``says``)."""
    first, _, rest = name.strip().partition(" ")
    word = VARIANT_WORDS.get(first.lower())
    return Variant(word[0], normalise_name(rest), word[1]) if word is not None and rest.strip() else None


def entropy(probabilities: Sequence[float]) -> float:
    """Shannon entropy in bits."""
    return -sum(p * math.log2(p) for p in probabilities if p > 0.0)


def information_gain(prior: Sequence[float], chances: Sequence[float]) -> tuple[float, float, list[float], list[float]]:
    """(expected gain in bits, P(yes), posterior if yes, posterior if no) of asking one yes/no finding."""
    p_yes = sum(p * c for p, c in zip(prior, chances, strict=True))
    p_no = 1.0 - p_yes
    if p_yes <= 0.0 or p_no <= 0.0:
        return 0.0, p_yes, list(prior), list(prior)
    if_yes = [p * c / p_yes for p, c in zip(prior, chances, strict=True)]
    if_no = [p * (1.0 - c) / p_no for p, c in zip(prior, chances, strict=True)]
    gain = entropy(prior) - p_yes * entropy(if_yes) - p_no * entropy(if_no)
    return max(gain, 0.0), p_yes, if_yes, if_no


def on_scale(candidates: Sequence[PlanCandidate]) -> tuple[list[float], Scale]:
    """The candidates' probabilities as the differential states them, and the scale they are on.

    As given when they sum to at most 1 (the rest is "none of these"); renormalised among the candidates
    when they sum above 1 (they cannot all be probabilities of one diagnosis); equal when any is missing or
    all are zero.
    """
    given = [c.confidence for c in candidates]
    if any(p is None or p < 0 for p in given) or not sum(p or 0.0 for p in given):
        return [1.0 / len(candidates)] * len(candidates), "equal"
    total = sum(p or 0.0 for p in given)
    if total > 1.0 + 1e-9:
        return [(p or 0.0) / total for p in given], "among_candidates"
    return [p or 0.0 for p in given], "differential"


def shown(probability: float) -> float:
    """A probability rounded to 4 places that never reads as certain (1.0) or impossible (0.0) unless it is."""
    rounded = round(probability, 4)
    if probability < 1.0 and rounded >= 1.0:
        return 0.9999
    if probability > 0.0 and rounded <= 0.0:
        return 0.0001
    return rounded


def said(probability: float, *, as_percent: bool = False) -> str:
    """A probability in two places (or a whole percentage) that never reads as certain or impossible unless it
    is: ">0.99" / ">99%", "<0.01" / "<1%" at the ends."""
    if 0.995 <= probability < 1.0:
        return ">99%" if as_percent else ">0.99"
    if 0.0 < probability < 0.005:
        return "<1%" if as_percent else "<0.01"
    return f"{probability:.0%}" if as_percent else f"{probability:.2f}"


class NextStepsPlanner:
    """Plans next steps with one index's disease knowledge and (optionally) its retriever for guidelines.

    ``documents`` and ``chunks`` resolve a guideline passage's document (licence, references) and section;
    without a ``retriever`` no guideline is looked for.
    """

    def __init__(
        self,
        knowledge: HpoKnowledge,
        *,
        retriever: Retriever | None = None,
        documents: Callable[[str], Document | None] | None = None,
        chunks: Callable[[str], Chunk | None] | None = None,
        top: int = TOP_CANDIDATES,
        max_questions: int = MAX_QUESTIONS,
    ) -> None:
        self.knowledge = knowledge
        self.retriever = retriever
        self._documents = documents
        self._chunks = chunks
        self.top = top
        self.max_questions = max_questions

    @classmethod
    def for_index(cls, index: EmbeddedIndex, knowledge: HpoKnowledge) -> NextStepsPlanner:
        """A planner for one index: ``knowledge`` must be the one the policy ranks with, the index's own
        (:func:`dxsearch.policies.catalog.index_knowledge`); guidelines are found by its BM25 (no model)."""
        return cls(
            knowledge,
            retriever=index.retriever("lexical"),
            documents=index.store.document,
            chunks=index.store.chunk,
        )

    def plan(self, case: Case, candidates: Sequence[PlanCandidate], basis: Basis = "differential") -> NextSteps | None:
        """Next steps for the top candidates; ``None`` when there is no candidate."""
        top = list(candidates[: self.top])
        if not top:
            return None
        probabilities, scale = on_scale(top)
        known: list[tuple[PlanCandidate, float, Disease]] = []
        unknown: list[PlanCandidate] = []
        for candidate, probability in zip(top, probabilities, strict=True):
            disease = self._disease(candidate.code)
            if disease is None:
                unknown.append(candidate)
            else:
                known.append((candidate, probability, disease))
        notes: list[str] = []
        if unknown:
            notes.append(
                "not in the disease knowledge (no genes, no annotated findings): "
                + ", ".join(f"{c.name} ({c.code or 'no code'})" for c in unknown)
            )
        questions = self._questions(case, known)
        if len(known) < 2:
            notes.append("fewer than two candidates with annotated findings: no question can separate them")
        gene_panel = self._gene_panel(known, unknown) if basis == "differential" else None
        guidelines = self._guidelines(top) if basis == "differential" else ()
        if basis == "differential" and self.retriever is not None and not guidelines:
            notes.append("no guideline passage in the corpus names these diagnoses")
        return NextSteps(
            basis=basis,
            candidates=tuple(c.ref for c in top),
            probabilities=tuple(shown(p) for p in probabilities),
            scale=scale,
            none_of_these=shown(max(0.0, 1.0 - sum(probabilities))),
            gene_panel=gene_panel,
            questions=questions,
            guidelines=guidelines,
            notes=tuple(notes),
        )

    def _disease(self, code: str | None) -> Disease | None:
        if not code:
            return None
        try:
            return self.knowledge.disease(code)
        except KeyError:
            return None

    # -- gene panel ---------------------------------------------------------------------------------------

    def _gene_panel(self, known: list[tuple[PlanCandidate, float, Disease]], unknown: list[PlanCandidate]) -> GenePanel:
        by_gene: dict[str, list[DiagnosisRef]] = {}
        without: list[PlanCandidate] = list(unknown)
        for candidate, _, disease in known:
            if not disease.genes:
                without.append(candidate)
            for gene in disease.genes:
                by_gene.setdefault(gene, []).append(candidate.ref)
        genes = sorted(by_gene.items(), key=lambda item: (min(r.rank for r in item[1]), item[0]))
        return GenePanel(
            genes=tuple(PanelGene(symbol=gene, diagnoses=tuple(refs)) for gene, refs in genes),
            without_genes=tuple(c.ref for c in sorted(without, key=lambda c: c.rank)),
        )

    # -- questions ----------------------------------------------------------------------------------------

    def _chances(self, disease: Disease) -> dict[str, tuple[float, str]]:
        """Finding -> (chance, where it comes from) for a disease: its annotations, passed up to ancestors."""
        chances: dict[str, tuple[float, str]] = {}
        for phenotype in disease.phenotypes:
            chance = _chance(phenotype.frequency)
            label = phenotype.frequency.label if phenotype.frequency is not None else "annotated, frequency not given"
            current = chances.get(phenotype.term_id)
            if current is None or current[0] < chance or current[1].startswith("via "):
                chances[phenotype.term_id] = (chance, label)
            for ancestor in self.knowledge.ancestors(phenotype.term_id):
                held = chances.get(ancestor)
                if held is None or (held[1].startswith("via ") and held[0] < chance):
                    chances[ancestor] = (chance, f"via {phenotype.name} ({label})")
        for term_id in disease.excluded:
            chances.setdefault(term_id, (FLOOR, "annotated as absent in this disease"))
        return chances

    def _questions(self, case: Case, known: list[tuple[PlanCandidate, float, Disease]]) -> tuple[Question, ...]:
        if len(known) < 2:
            return ()
        # On the differential's scale: the candidates as stated, and what they leave ("none of these", with
        # the candidates the knowledge does not annotate) as one more hypothesis, last.
        prior = [p for _, p, _ in known]
        prior.append(max(0.0, 1.0 - sum(prior)))
        present, absent = self._patient_terms(case)
        tables = [self._chances(disease) for _, _, disease in known]
        asked: list[tuple[float, float, str]] = []
        seen: set[str] = set()
        for _, _, disease in known:
            for phenotype in disease.phenotypes:
                term = phenotype.term_id
                if term in seen or not self.knowledge.is_phenotypic_abnormality(term):
                    continue
                seen.add(term)
                if self._implied(term, present, absent):
                    continue
                chances = [_clip(table.get(term, (UNANNOTATED_FREQUENCY, ""))[0]) for table in tables]
                gain = information_gain(prior, [*chances, self.background_chance(term)])[0]
                if gain >= MIN_INFORMATION_GAIN:
                    asked.append((gain, self.knowledge.information_content(term), term))
        # Exclusive variants of one finding are one question: not asked when the patient has another variant (what
        # was said answers it), else asked of the commonest variant a candidate is annotated with only.
        had = present.union(*(self.knowledge.ancestors(p) for p in present))
        unasked = self.variants_not_asked([t for t in seen if not self._implied(t, present, absent)], had)
        asked = [item for item in asked if item[2] not in unasked]
        asked.sort(key=lambda item: (-round(item[0], 6), -item[1], item[2]))
        chosen: list[str] = []
        for _, _, term in asked:
            if len(chosen) >= self.max_questions:
                break
            related = self.knowledge.ancestors(term)
            if any(other in related or term in self.knowledge.ancestors(other) for other in chosen):
                continue  # a broader or narrower form of a question already asked
            chosen.append(term)
        return tuple(self._question(term, known, prior, tables) for term in chosen)

    def _question(
        self,
        term: str,
        known: list[tuple[PlanCandidate, float, Disease]],
        prior: list[float],
        tables: list[dict[str, tuple[float, str]]],
    ) -> Question:
        found = [table.get(term, (UNANNOTATED_FREQUENCY, "not annotated (default chance)")) for table in tables]
        chances = [_clip(chance) for chance, _ in found]
        background = self.background_chance(term)
        gain, p_yes, if_yes, if_no = information_gain(prior, [*chances, background])
        refs = [candidate for candidate, _, _ in known]
        rest = prior[-1] > 0.0  # a "none of these" share to report

        def favoured(after: list[float]) -> tuple[Shift, ...]:
            shifts = [
                Shift(rank=c.rank, name=c.name, code=c.code, before=shown(b), after=shown(a))
                for c, b, a in zip(refs, prior, after, strict=False)  # the last prior is "none of these"
                if a >= b + 0.005  # a visible rise, not a rounding
            ]
            return tuple(sorted(shifts, key=lambda s: -s.after))

        return Question(
            hpo_id=term,
            label=self.knowledge.term_name(term),
            information_gain_bits=round(gain, 4),
            chance_present=round(p_yes, 4),
            chances=tuple(
                FindingChance(rank=c.rank, code=c.code, chance=round(chance, 4), annotation=label)
                for c, chance, (_, label) in zip(refs, chances, found, strict=True)
            ),
            if_present=favoured(if_yes),
            if_absent=favoured(if_no),
            none_of_these_chance=round(background, 4) if rest else None,
            none_of_these_if_present=shown(if_yes[-1]) if rest else None,
            none_of_these_if_absent=shown(if_no[-1]) if rest else None,
        )

    def variants_not_asked(self, terms: Collection[str], had: Collection[str]) -> set[str]:
        """Of ``terms`` (findings a question may ask about), the exclusive variants of a finding not to ask
        (:func:`variant_of`): one whose alternative the patient has (``had``: the patient's findings and what they
        imply), which what was said answers; and of the variants of one finding left, all but the one the most
        diseases are annotated with (the lowest information content, then the lower id), since for a patient who
        has the finding a "yes" to one is a "no" to the others. A broader or narrower form is no alternative."""
        variants: dict[str, Variant] = {}
        for term in {*terms, *had}:
            variant = variant_of(self.knowledge.term_name(term)) if self.knowledge.has_term(term) else None
            if variant is not None:
                variants[term] = variant

        def exclusive(a: str, b: str) -> bool:
            va, vb = variants.get(a), variants.get(b)
            return (
                va is not None
                and vb is not None
                and (va.kind, va.rest) == (vb.kind, vb.rest)
                and va.says != vb.says
                and a not in self.knowledge.ancestors(b)
                and b not in self.knowledge.ancestors(a)
            )

        candidates = [term for term in terms if term in variants]
        answered = {term for term in candidates if any(exclusive(term, other) for other in had)}
        still = [term for term in candidates if term not in answered]
        rarer = {
            term
            for term in still
            if min(
                [term, *(other for other in still if exclusive(term, other))],
                key=lambda t: (self.knowledge.information_content(t), t),
            )
            != term
        }
        return answered | rarer

    def background_chance(self, term: str) -> float:
        """The chance of ``term`` in a disease not among the candidates: diseases at large, as this module sees
        any disease. The share of diseases annotated with the term (or a narrower one; its information content
        is minus the log of that share) show it at the chance of an annotation without a frequency, the
        others at the chance of a finding not annotated."""
        share = math.exp(-self.knowledge.information_content(term))
        return _clip(share * UNKNOWN_FREQUENCY + (1.0 - share) * UNANNOTATED_FREQUENCY)

    def _patient_terms(self, case: Case) -> tuple[set[str], set[str]]:
        present: set[str] = set()
        absent: set[str] = set()
        for finding in case.findings:
            term = self.knowledge.current_id(finding.hpo_id) if finding.hpo_id else None
            if term is not None:
                (absent if finding.excluded else present).add(term)
        return present, absent

    def _implied(self, term: str, present: set[str], absent: set[str]) -> bool:
        """The patient has it (or a narrower finding), or it was reported absent (or a broader finding was)."""
        if term in present or term in absent:
            return True
        if any(term in self.knowledge.ancestors(p) for p in present):
            return True
        return bool(absent & self.knowledge.ancestors(term))

    # -- guidelines ---------------------------------------------------------------------------------------

    def _guidelines(self, top: list[PlanCandidate]) -> tuple[GuidelinePassage, ...]:
        if self.retriever is None:
            return ()
        found: dict[str, GuidelinePassage] = {}
        for candidate in top:
            names = [candidate.name]
            disease = self._disease(candidate.code)
            if disease is not None and disease.name != candidate.name:
                names.append(disease.name)
            variants = tuple(dict.fromkeys(v for name in names for v in name_variants(name)))
            if not variants:
                continue
            hits = self.retriever.search(" ".join(variants), (DocumentKind.GUIDELINE,), 20)
            kept = 0
            for hit in hits:
                if kept >= GUIDELINES_PER_DIAGNOSIS:
                    break
                named = names_disease(f"{hit.title}\n{hit.text}", variants)
                if named is None:
                    continue
                kept += 1
                if hit.evidence_id in found:
                    old = found[hit.evidence_id]
                    found[hit.evidence_id] = old.model_copy(update={"diagnoses": (*old.diagnoses, candidate.ref)})
                    continue
                found[hit.evidence_id] = self._passage(hit.evidence_id, hit, candidate, named)
        return tuple(found.values())

    def _passage(self, evidence_id: str, hit: Evidence, candidate: PlanCandidate, named: str) -> GuidelinePassage:
        document = self._documents(hit.doc_id) if self._documents else None
        chunk = self._chunks(evidence_id) if self._chunks else None
        extra = document.metadata.extra if document is not None else {}
        references = [_reference(r) for r in extra.get("references") or ([extra["doi"]] if extra.get("doi") else [])]
        return GuidelinePassage(
            evidence_id=evidence_id,
            doc_id=hit.doc_id,
            title=hit.title,
            section=chunk.section if chunk is not None else None,
            diagnoses=(candidate.ref,),
            names=named,
            score=hit.score,
            rank=hit.rank,
            retriever=hit.retriever,
            source=document.metadata.source if document is not None else None,
            licence=document.metadata.licence if document is not None else None,
            references=tuple(str(r) for r in references),
            note=str(extra["nature"]) if extra.get("nature") else None,
        )


_COUNT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def _chance(frequency: Frequency | None) -> float:
    """A finding's chance in a disease from its annotation: a count n/m as (n + 1) / (m + 2), since 1 of 1
    reported patients is weak evidence of "always"; a frequency term or percentage as its estimate."""
    if frequency is None:
        return UNKNOWN_FREQUENCY
    count = _COUNT.match(frequency.raw)
    if count:
        return (int(count.group(1)) + 1) / (int(count.group(2)) + 2)
    return frequency.estimate


def _reference(reference: object) -> str:
    """A bare DOI as ``doi:10.…``; any other reference as written."""
    text = str(reference).strip()
    return f"doi:{text}" if text.startswith("10.") else text


def _clip(chance: float) -> float:
    return min(max(chance, FLOOR), 1.0 - FLOOR)
