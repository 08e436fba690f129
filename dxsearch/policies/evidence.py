"""The training-free evidence baseline: the same grammar as an LLM, decisions by explicit scoring.

It matches the findings against patient records, looks the findings up in
disease knowledge, ranks candidates by phenotype similarity (IC- and
frequency-weighted, :mod:`dxsearch.knowledge.similarity`), phenotype
enrichment (hypergeometric, over the same rows), the votes of similar patients and the rank
of retrieved knowledge, looks up the knowledge
passage of each finalist so every diagnosis cites something it retrieved, and
diagnoses. It is the demo's default policy, the SFT teacher and the baseline
every trained model is compared with, so its turns go through the protocol
renderer like anyone else's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dxsearch.baselines.enrichment import rank_diseases
from dxsearch.cases import Case
from dxsearch.episode import Exchange
from dxsearch.knowledge.explanation import explain_diagnoses
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.likelihood import LikelihoodRatioScorer, get_likelihood_scorer
from dxsearch.knowledge.similarity import PhenotypeSimilarity, get_phenotype_similarity
from dxsearch.policies.calibration import Calibrator, CaseSignals, shipped_calibrator
from dxsearch.policies.differential import fold_equivalents
from dxsearch.protocol import (
    MAX_DIAGNOSES,
    Action,
    Candidate,
    Diagnose,
    Passage,
    Reason,
    Retrieve,
    parse_turn,
    probability_text,
    render_turn,
)
from dxsearch.settings import (
    DEFAULT_ABSTAIN_BELOW,
    DEFAULT_MIN_INFORMATION,
    DEFAULT_MIN_SPECIFIC_FINDINGS,
    DEFAULT_SPECIFIC_IC,
    Settings,
)

POLICY_NAME = "evidence"
POLICY_VERSION = "2"
_DISEASE_PREFIXES = ("OMIM:", "ORPHA:")


class EvidencePolicyConfig(BaseModel):
    """Weights of the baseline; the defaults were chosen on index-side cases, never on held-out ones."""

    model_config = ConfigDict(frozen=True)

    phenotype_candidates: int = Field(default=30, ge=1, description="Top diseases by phenotype similarity.")
    phenotype_prefixes: tuple[str, ...] = Field(
        default=("OMIM",), description="Namespaces ranked by similarity; others enter through retrieval only."
    )
    # Fitted with bench/fit_evidence_weights.py --publications on a validation split that meets the index as
    # held-out cases do (149 index-side publications left out of a tuning index, records and annotation rows;
    # tuned on half of them, reported on the other half): with similar patients matched by meaning, their votes
    # and the knowledge lookup rank; the phenotype scores of the filtered annotations only lowered it (today's
    # 1.0 / 0.7 / 0.4 / 0.15: top-1 0.037 on the report half; these: 0.156). Similarity keeps a token weight,
    # a tie to the best on the tune half, so candidates no patient voted for are ordered by it, not by code.
    similarity_weight: float = Field(default=0.05, ge=0.0, description="Weight of IC/frequency similarity.")
    enrichment_weight: float = Field(default=0.0, ge=0.0, description="Weight of hypergeometric enrichment.")
    vote_weight: float = Field(default=0.4, ge=0.0, description="Weight of similar-patient votes.")
    retrieval_weight: float = Field(default=0.15, ge=0.0, description="Weight of knowledge retrieval rank.")
    likelihood_weight: float = Field(
        default=0.0,
        ge=0.0,
        description="Weight of the likelihood-ratio posterior (dxsearch.knowledge.likelihood), relative to the best.",
    )
    orpha_factor: float = Field(
        default=0.8, ge=0.0, le=1.0, description="Phenotype scores of Orphanet entries (often disease groups) shrink."
    )
    enrichment_depth: int = Field(default=300, ge=1, description="How deep the enrichment ranking is read.")
    max_query_findings: int | None = Field(
        default=None, ge=1, description="Retrieval queries name at most this many observed findings (None: all)."
    )
    lookup_findings: bool = Field(default=True, description="Look the findings up in disease knowledge too.")
    finalists: int = Field(default=5, ge=1, le=MAX_DIAGNOSES, description="Candidates reasoned about and diagnosed.")
    max_finalist_lookups: int = Field(default=5, ge=0, le=MAX_DIAGNOSES)
    patients_cited: int = Field(default=3, ge=0, description="Similar patients cited per diagnosis.")
    brief_reasoning: bool = Field(
        default=False, description="One short line per finalist (for small models with short contexts)."
    )
    abstain_below: float = Field(
        default=DEFAULT_ABSTAIN_BELOW,
        ge=0.0,
        le=1.0,
        description="Top calibrated probability below this: insufficient evidence (Settings.abstain_below).",
    )
    min_specific_findings: int = Field(
        default=DEFAULT_MIN_SPECIFIC_FINDINGS, ge=0, description="Fewer specific findings: insufficient evidence."
    )
    specific_ic: float = Field(
        default=DEFAULT_SPECIFIC_IC, ge=0.0, description="Information content from which a finding is specific."
    )
    min_information: float = Field(
        default=DEFAULT_MIN_INFORMATION,
        ge=0.0,
        description="Less total information content in the understood findings: nonspecific, insufficient evidence.",
    )

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> EvidencePolicyConfig:
        """The defaults with the abstention thresholds of ``settings`` (``DXSEARCH_ABSTAIN_*``)."""
        values: dict[str, Any] = {
            "abstain_below": settings.abstain_below,
            "min_specific_findings": settings.abstain_min_specific_findings,
            "specific_ic": settings.abstain_specific_ic,
            "min_information": settings.abstain_min_information,
        }
        return cls(**{**values, **overrides})


@dataclass
class _Candidate:
    code: str
    name: str
    phenotype: float = 0.0
    enrichment: float = 0.0
    enrichment_p: float | None = None
    votes: float = 0.0
    retrieval: float = 0.0
    likelihood: float = 0.0
    log10_lr: float | None = None
    matched: tuple[str, ...] = ()
    knowledge: list[str] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    score: float = 0.0
    probability: float = 0.0
    #: Lower-ranked candidates of the same disease (an ORPHA card beside an OMIM one), folded into this one.
    folded: tuple[_Candidate, ...] = ()

    def grounded(self) -> bool:
        """Whether a knowledge passage of this disease was retrieved (under this code or a folded one)."""
        return bool(self.knowledge) or any(f.knowledge for f in self.folded)


@dataclass(frozen=True, slots=True)
class Ranking:
    """The ranked candidates of one case and what the calibrator read to give them probabilities."""

    candidates: list[_Candidate]
    signals: CaseSignals


@dataclass
class _Seen:
    """What the history has shown: passages by the action that retrieved them, in order."""

    matched: list[Passage] = field(default_factory=list)
    looked_up: list[tuple[str, tuple[Passage, ...]]] = field(default_factory=list)
    lookups_done: set[str] = field(default_factory=set)
    actions: list[Action] = field(default_factory=list)
    reasoned: bool = False


def _read_history(history: Sequence[Exchange]) -> _Seen:
    seen = _Seen()
    for exchange in history:
        try:
            turn = parse_turn(exchange.turn)
        except ValueError:
            continue
        if isinstance(turn, Reason):
            seen.reasoned = True
            continue
        if not isinstance(turn, Retrieve):
            continue
        seen.actions.append(turn.action)
        passages = exchange.observation.passages if exchange.observation else ()
        if turn.action is Action.MATCH:
            seen.matched.extend(passages)
        else:
            seen.looked_up.append((turn.query, tuple(passages)))
            seen.lookups_done.add(turn.query)
    return seen


def _primary_code(passage: Passage) -> str | None:
    for code in passage.codes:
        if code.startswith(_DISEASE_PREFIXES):
            return code
    return None


_DIAGNOSIS_LINE = "Diagnosis: "


def _recorded_name(passage: Passage, code: str) -> str | None:
    """The name a patient record gives its diagnosis ``code`` ("Diagnosis: NAME (CODE); ..."), if it gives one.

    A disease whose annotation rows all came from left-out papers has no name in the index's knowledge;
    without this, a candidate only its patients voted for would be shown as a bare code.
    """
    for line in passage.text.splitlines():
        if not line.startswith(_DIAGNOSIS_LINE):
            continue
        for entry in line[len(_DIAGNOSIS_LINE) :].split("; "):
            name, _, rest = entry.strip().rpartition(" (")
            if name and rest.rstrip(")") == code:
                return name.strip()
    return None


class EvidencePolicy:
    """Match, look up, score, ground the finalists, reason, diagnose."""

    version = POLICY_VERSION

    def __init__(
        self,
        config: EvidencePolicyConfig | None = None,
        similarity: PhenotypeSimilarity | None = None,
        name: str = POLICY_NAME,
        calibrator: Calibrator | None = None,
    ) -> None:
        self.name = name
        self.config = config or EvidencePolicyConfig()
        #: Compute likelihood ratios even at weight 0 (to collect features for fitting the weights).
        self.collect_likelihood = False
        self._similarity = similarity
        self.calibrator = calibrator or shipped_calibrator()
        self._cache: dict[tuple[object, ...], tuple[np.ndarray, dict[str, tuple[float, float]], np.ndarray]] = {}

    @property
    def similarity(self) -> PhenotypeSimilarity:
        if self._similarity is None:
            self._similarity = get_phenotype_similarity()
        return self._similarity

    @property
    def likelihood(self) -> LikelihoodRatioScorer:
        """The likelihood-ratio scorer over the same (index's) disease knowledge as the similarity."""
        return get_likelihood_scorer(self.similarity.knowledge)

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        """The next turn, derived from the history alone (the policy keeps no hidden state).

        ``case`` is as :func:`dxsearch.intake.intake` read it: terms are resolved once, there.
        """
        query = self.findings_query(case)
        if not query:
            return render_turn(Diagnose((), reason="no observed finding was given"))
        unsupported = self.abstention(case)
        if unsupported is not None:
            return render_turn(Diagnose((), reason=unsupported))
        seen = _read_history(history)
        if Action.MATCH not in seen.actions:
            return render_turn(Retrieve(Action.MATCH, query))
        if self.config.lookup_findings and query not in seen.lookups_done:
            return render_turn(Retrieve(Action.LOOKUP, query))
        ranked = self.rank(case, seen)
        finalists = fold_ranking(ranked)[: self.config.finalists]
        for candidate in finalists[: self.config.max_finalist_lookups]:
            lookup = f"{candidate.name} ({candidate.code})"
            if not candidate.grounded() and lookup not in seen.lookups_done:
                return render_turn(Retrieve(Action.LOOKUP, lookup))
        if not finalists:
            if not seen.reasoned:
                return render_turn(Reason("No candidate disease came out of the findings or the retrieved evidence."))
            return render_turn(Diagnose((), reason="no candidate disease was found"))
        top = finalists[0]
        if top.probability < self.config.abstain_below:
            if not seen.reasoned:
                return render_turn(Reason(self._explain(case, finalists)))
            considered = [(c, c.probability, c.folded) for c in finalists]
            because = all_explained(considered, case, self.similarity.knowledge)
            reason = below_the_bar(_plain(top.name), top.code, top.probability, self.config.abstain_below, because)
            return render_turn(Diagnose((), reason=reason, considered=tuple(self._cite(c) for c in finalists)))
        if not seen.reasoned:
            return render_turn(Reason(self._explain(case, finalists)))
        return render_turn(Diagnose(tuple(self._cite(c) for c in finalists)))

    def understood(self, case: Case) -> list[tuple[str, str, float]]:
        """Observed findings the phenotype scorer knows: (label, current HPO id, information content)."""
        knowledge = self.similarity.knowledge
        found: list[tuple[str, str, float]] = []
        for finding in case.observed:
            current = knowledge.current_id(finding.hpo_id) if finding.hpo_id else None
            if current is not None and all(current != known for _, known, _ in found):
                found.append((finding.label, current, knowledge.information_content(current)))
        return found

    def abstention(self, case: Case) -> str | None:
        """Why the findings alone cannot support a diagnosis (none understood, too few specific ones,
        too little information in all of them together), or ``None`` when they can."""
        config = self.config
        understood = self.understood(case)
        if not understood:
            missed = ", ".join(_plain(f.label) for f in case.observed[:5])
            return f"no finding was understood as an HPO phenotype term (not understood: {missed})"
        information = sum(ic for _, _, ic in understood)
        if information < config.min_information:
            named = ", ".join(_plain(label) for label, _, _ in understood[:5])
            shown, needed = shown_below(information, config.min_information, 1)
            return (
                f"the findings are nonspecific: together ({named}) they carry information content "
                f"{shown}, below the {needed} needed to rank rare diseases"
            )
        specific = [_plain(label) for label, _, ic in understood if ic >= config.specific_ic]
        if len(specific) < config.min_specific_findings:
            general = ", ".join([_plain(label) for label, _, ic in understood if ic < config.specific_ic][:5])
            return (
                f"too few specific findings: {len(specific)} of the {config.min_specific_findings} needed "
                f"({', '.join(specific) or 'none'}); the others ({general}) occur in too many diseases to tell "
                "them apart"
            )
        return None

    def findings_query(self, case: Case) -> str:
        """The observed findings as one query, cut to ``max_query_findings`` (in the case's order)."""
        limit = self.config.max_query_findings
        if limit is None:
            return case.findings_query()
        labels = [label for f in case.observed if (label := " ".join(f.label.split()))]
        return "; ".join(labels[:limit])

    def candidates(self, case: Case, history: Sequence[Exchange]) -> list[_Candidate]:
        """Every candidate with its evidence signals (best first), as :meth:`rank` scores them after ``history``.

        The learned policy (:mod:`dxsearch.policies.learned`) reads its features from here.
        """
        return self.rank(case, _read_history(history))

    # -- scoring -------------------------------------------------------------------------------

    def _phenotype_scores(self, case: Case) -> tuple[np.ndarray, dict[str, tuple[float, float]], np.ndarray]:
        """Similarity of every disease, the enrichment ranking and the log10 likelihood ratios, cached per case."""
        key = (case.findings, case.text, case.sex, case.age, case.inheritance, case.onset)
        cached = self._cache.get(key)
        if cached is None:
            observed = [f.hpo_id for f in case.observed if f.hpo_id]
            excluded = [f.hpo_id for f in case.excluded if f.hpo_id]
            similarity = self.similarity.score_all(observed, excluded)
            enrichment = {
                r.disease_id: (r.score, r.p_value)
                for r in rank_diseases(case, k=self.config.enrichment_depth, knowledge=self.similarity.knowledge)
            }
            if self.config.likelihood_weight > 0 or self.collect_likelihood:
                lr = self.likelihood.score_all(  # sex: it reads male/female only
                    observed, excluded, sex=case.sex, inheritance=case.inheritance, onset=case.onset
                )
            else:
                lr = np.zeros(0)
            cached = (similarity, enrichment, lr)
            if len(self._cache) >= 16:
                self._cache.pop(next(iter(self._cache)))
            self._cache[key] = cached
        return cached

    def ranking_after(self, case: Case, history: Sequence[Exchange]) -> Ranking:
        """The ranking the policy holds after ``history`` (what it diagnosed from, or abstained on)."""
        return self.ranking(case, _read_history(history))

    def rank(self, case: Case, seen: _Seen) -> list[_Candidate]:
        """Candidates best first, each with its calibrated probability (:meth:`ranking`)."""
        return self.ranking(case, seen).candidates

    def ranking(self, case: Case, seen: _Seen) -> Ranking:
        """Candidates from phenotype scores, patient votes and knowledge retrieval, best first, with probabilities.

        Each part is scaled to [0, 1] within the case (similarity and enrichment by
        their best disease, votes as a share), then weighted by the config.
        """
        config = self.config
        sim = self.similarity
        similarity, enrichment, lr = self._phenotype_scores(case)
        candidates: dict[str, _Candidate] = {}

        def candidate(code: str, name: str | None = None) -> _Candidate:
            if code not in candidates:
                candidates[code] = _Candidate(code, sim.name(code) or name or code)
            return candidates[code]

        best_similarity = float(similarity.max()) if similarity.size and similarity.max() > 0 else 0.0
        if best_similarity > 0:
            allowed = np.array([d.split(":", 1)[0] in config.phenotype_prefixes for d in sim.disease_ids])
            masked = np.where(allowed, similarity, -np.inf)
            for row in np.argsort(-masked, kind="stable")[: config.phenotype_candidates]:
                candidate(sim.disease_ids[int(row)])
        for enriched in list(enrichment)[: config.phenotype_candidates]:
            candidate(enriched)
        scorer = self.likelihood if lr.size else None
        best_lr = float(lr.max()) if lr.size else 0.0
        if scorer is not None:  # computed when weighted or collected: its best diseases are candidates
            for row in np.argsort(-lr, kind="stable")[: config.phenotype_candidates]:
                candidate(scorer.disease_ids[int(row)])
        best_enrichment = max((score for score, _ in enrichment.values()), default=0.0)
        votes: dict[str, float] = defaultdict(float)
        total = 0.0
        for position, passage in enumerate(seen.matched):
            weight = 1.0 / (position + 1)
            total += weight
            code = _primary_code(passage)
            if code:
                votes[code] += weight
                candidate(code, _recorded_name(passage, code)).patients.append(passage.evidence_id)
        findings_query = self.findings_query(case)
        for lookup_query, passages in seen.looked_up:
            for position, passage in enumerate(passages):
                code = _primary_code(passage)
                if not code:
                    continue
                by_findings = lookup_query == findings_query
                if not by_findings and code not in candidates:
                    continue
                found = candidate(code, passage.title)
                if passage.evidence_id not in found.knowledge:
                    found.knowledge.append(passage.evidence_id)
                if by_findings:
                    found.retrieval = max(found.retrieval, 1.0 / (position + 1))
        observed = [f.hpo_id for f in case.observed if f.hpo_id]
        for match in sim.explain(list(candidates), observed):
            candidates[match.disease_id].matched = match.matched_terms
        for found in candidates.values():
            row = sim.row(found.code)
            if row is not None and best_similarity > 0:
                found.phenotype = float(similarity[row]) / best_similarity
                if found.code.startswith("ORPHA:"):
                    found.phenotype *= config.orpha_factor
            if found.code in enrichment and best_enrichment > 0:
                found.enrichment = enrichment[found.code][0] / best_enrichment
                found.enrichment_p = enrichment[found.code][1]
            found.votes = votes.get(found.code, 0.0) / total if total else 0.0
            lr_row = scorer.row(found.code) if scorer is not None else None
            if lr_row is not None:
                found.log10_lr = float(lr[lr_row])
                # The posterior odds against the best disease's (uniform pretest): 1 for the best, in (0, 1] else.
                found.likelihood = float(10.0 ** max(found.log10_lr - best_lr, -30.0))
            found.score = (
                config.similarity_weight * found.phenotype
                + config.enrichment_weight * found.enrichment
                + config.vote_weight * found.votes
                + config.retrieval_weight * found.retrieval
                + config.likelihood_weight * found.likelihood
            )
        ranked = sorted(candidates.values(), key=lambda c: (-c.score, c.code))
        understood = self.understood(case)
        signals = CaseSignals(
            scores=tuple(c.score for c in ranked),
            best_similarity=best_similarity,
            information=sum(ic for _, _, ic in understood),
            findings=len(understood),
            top_votes=ranked[0].votes if ranked else 0.0,
        )
        for found, probability in zip(ranked, self.calibrator.probabilities(signals), strict=True):
            found.probability = probability
        return Ranking(ranked, signals)

    def _explain(self, case: Case, finalists: list[_Candidate]) -> str:
        # "explains n/m" as the differential's explanation counts it, over every observed finding entered.
        coverage = explained_findings([c.code for c in finalists], case, self.similarity.knowledge)
        lines = [f"Scored {len(finalists)} finalists by phenotype similarity, similar patients and retrieval."]
        for c, (explained, entered) in zip(finalists, coverage, strict=True):
            if self.config.brief_reasoning:
                lines.append(
                    f"{c.name} ({_codes(c)}): probability {probability_text(c.probability)}; "
                    f"explains {len(explained)}/{entered} findings; "
                    f"{len(c.patients)} similar patient(s)."
                )
                continue
            named = ", ".join(explained[:6]) or "none directly"
            enrichment = f"enrichment p={c.enrichment_p:.2g}" if c.enrichment_p is not None else "not enriched"
            lines.append(
                f"{c.name} ({_codes(c)}): probability {probability_text(c.probability)}; score {c.score:.3f}; "
                f"similarity {c.phenotype:.2f}, {enrichment}; explains "
                f"{len(explained)}/{entered} findings ({named}); "
                f"{len(c.patients)} similar patient(s); knowledge rank weight {c.retrieval:.2f}."
            )
        return "\n".join(lines)

    def _cite(self, candidate: _Candidate) -> Candidate:
        """The diagnosis line: what each member (the candidate, then what was folded into it) would cite, once."""
        evidence: dict[str, None] = {}
        for member in (candidate, *candidate.folded):
            evidence.update(dict.fromkeys([*member.knowledge[:2], *member.patients[: self.config.patients_cited]]))
        confidence = round(min(max(candidate.probability, 0.0), 1.0), 3)
        return Candidate(
            name=_plain(candidate.name),
            code=candidate.code,
            evidence=tuple(evidence),
            confidence=confidence,
            alternate_codes=tuple(dict.fromkeys(f.code for f in candidate.folded if f.code != candidate.code)),
        )


def fold_ranking(ranked: Sequence[_Candidate]) -> list[_Candidate]:
    """The ranking with each disease once (:mod:`dxsearch.policies.differential`): lower-ranked equivalents
    folded into the better-ranked candidate, which keeps its calibrated probability.

    Folding comes after calibration (the calibrator was fitted on unmerged rankings, and its signals are
    read from them) and before the cut to the finalists, so a folded duplicate frees its slot for another
    disease. New objects: the ranking itself, which the learned policy memoises, is left as it was.
    """
    return [
        replace(kept, folded=tuple(folded)) if folded else kept
        for kept, folded in fold_equivalents(ranked, lambda c: c.code)
    ]


def explained_findings(codes: Sequence[str], case: Case, knowledge: HpoKnowledge) -> list[tuple[tuple[str, ...], int]]:
    """Per code, the findings it explains (their labels) and how many were entered: the "explains n/m" of a
    reasoning line, counted as the differential counts it (:func:`dxsearch.knowledge.explanation.explain_diagnoses`
    over the same disease knowledge), so the two never differ for one diagnosis.

    Why: the reasoning counted the similarity module's matched terms, the differential its explanation's
    supported findings; a clinician saw "explains 9/12" in one and "11 of 12" in the other. ``m`` is every
    observed finding entered, understood or not (a finding not understood is one not explained); a disease
    without phenotype annotations explains none.
    """
    explanations = explain_diagnoses(list(codes), case, knowledge)
    entered = len(case.observed)
    return [
        (tuple(f.label for f in e.supports) if e is not None and e.annotated else (), entered) for e in explanations
    ]


def _codes(candidate: _Candidate) -> str:
    """``OMIM:154700`` or, with codes folded in, ``OMIM:154700, also ORPHA:558``."""
    also = [f.code for f in candidate.folded if f.code != candidate.code]
    return f"{candidate.code}, also {', '.join(also)}" if also else candidate.code


def below_the_bar(name: str, code: str, probability: float, needed: float, because: str = "") -> str:
    """Why an answer abstains on the probability bar, naming its most probable diagnosis: the probability as its
    considered line holds it (3 places), so the reason and the list agree, printed below what is needed.
    ``because`` (:func:`annotations_only`) adds why a diagnosis that explains everything is still improbable."""
    value = round(probability, 3)
    shown, wanted = shown_below(value, needed, 2)
    if shown == f"{value:.2f}" and shown != probability_text(value):  # it prints as 0.00 (or 1.00)
        # as every other text prints it ("under 0.01"), unless the bar itself is that low: then the digits
        # that tell the two apart
        shown, wanted = (probability_text(value), wanted) if float(wanted) > 0.01 else shown_below(value, needed, 3)
    return (
        f"the most probable diagnosis, {name} ({code}), has probability {shown}, below the {wanted} needed to "
        f"answer{because}"
    )


#: The fewest findings for which "explains all of them" is worth saying in an abstention's reason.
ALL_EXPLAINED_MIN_FINDINGS = 3
#: From this many findings on, "all but one" is said too: a third user test's textbook Down syndrome note (7
#: findings, 6 explained, "flat nasal bridge" not on its card) got no word of why it abstained at 0.04.
ALL_BUT_ONE_MIN_FINDINGS = 5


def annotations_only(
    candidate: _Candidate,
    case: Case,
    knowledge: HpoKnowledge,
    folded: Sequence[_Candidate] | None = None,
    *,
    subject: str = "it",
) -> str:
    """The clause an abstention's reason adds when a diagnosis it considered explains every finding entered (all
    but one from :data:`ALL_BUT_ONE_MIN_FINDINGS` on) and no similar patient of the index had it; else "".
    ``subject`` names it: "it" for the most probable one, else its name, code and probability
    (:func:`all_explained`).

    Why: a user test's textbook Down syndrome (8 of 8 findings explained, the next candidate 6) abstained at
    0.07, which reads as the system failing. The probability is what the calibration measured: on held-out
    published cases, a first choice resting on disease annotations alone (a likelihood ratio of 10^6 or more,
    no similar patient) was right in about 1 of 20, since leaving the case's publication out often leaves a
    well-annotated look-alike that explains the findings best. A classic presentation of a well-known disease
    is a population those cases do not measure, so the reason names the situation instead of hiding it.
    "Explains" is counted as the answer's explanation counts it (:mod:`dxsearch.knowledge.explanation`, the
    figure the differential shows), over every observed finding entered; nothing may contradict it.
    ``folded``: the candidates of the same disease folded into it (default: its own ``folded``).
    """
    members = candidate.folded if folded is None else folded
    entered = len(case.observed)
    if entered < ALL_EXPLAINED_MIN_FINDINGS or candidate.patients or any(member.patients for member in members):
        return ""
    explanation = explain_diagnoses([candidate.code], case, knowledge)[0]
    if explanation is None or explanation.contradicts:
        return ""
    explained = len(explanation.supports)
    if explained >= entered:
        share = f"all {entered}"
    elif explained == entered - 1 and entered >= ALL_BUT_ONE_MIN_FINDINGS:
        share = f"{explained} of {entered}"
    else:
        return ""
    return (
        f"; {subject} explains {share} findings, but no similar patient in the index had it, and on published "
        "cases answers resting on disease annotations alone were seldom right, so a classic presentation may be "
        "underrated"
    )


def all_explained(
    considered: Sequence[tuple[_Candidate, float, Sequence[_Candidate]]], case: Case, knowledge: HpoKnowledge
) -> str:
    """The :func:`annotations_only` clause of the first of ``considered`` (candidate, its probability, what was
    folded into it; best first) it holds for, named unless it is the first.

    Why: a second user test's Down syndrome note put a disease that explains none of the findings first (known
    from a similar patient only) and Down syndrome, 7 of 7 explained, second: the reason said nothing of it.
    """
    for position, (candidate, probability, folded) in enumerate(considered):
        subject = (
            "it"
            if position == 0
            else f"{_plain(candidate.name)} ({candidate.code}), at {probability_text(probability)},"
        )
        because = annotations_only(candidate, case, knowledge, folded, subject=subject)
        if because:
            return because
    return ""


def shown_below(value: float, needed: float, decimals: int) -> tuple[str, str]:
    """``value`` and the ``needed`` it falls short of, printed so that the first reads below the second.

    Why: at a fixed precision a shortfall can print as equal ("information content 9.0, below the 9.0
    needed" for 8.96). Up to two digits are added until the rounded values differ; a value still closer
    is rounded down and the need up, which never print equal.
    """
    for places in range(decimals, decimals + 3):
        shown, wanted = f"{value:.{places}f}", f"{needed:.{places}f}"
        if float(shown) < float(wanted):
            return shown, wanted
    last = Decimal(1).scaleb(-(decimals + 2))
    return (
        str(Decimal(repr(value)).quantize(last, rounding=ROUND_FLOOR)),
        str(Decimal(repr(needed)).quantize(last, rounding=ROUND_CEILING)),
    )


def _plain(name: str) -> str:
    """A name as a diagnosis line or a reason may hold it: one line, no '|', '<' or '>'."""
    return " ".join(name.replace("|", "/").replace("<", "(").replace(">", ")").split())
