"""Per diagnosis: the findings it explains, those it does not, and those that speak against it.

A clinician reading a differential asks "why this one?" and "what doesn't fit?". This answers from the
likelihood ratios of :mod:`dxsearch.knowledge.likelihood` over the index's own disease knowledge, after
the policy has answered and whatever policy answered (a language model's diagnosis gets the same
card), so the viewer never reasons on its own. Coverage counts over every observed finding the user
entered: a finding that was not understood is listed as not explained, never dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from dxsearch.cases import Case
from dxsearch.knowledge.hpo import HpoKnowledge
from dxsearch.knowledge.likelihood import Contribution, get_likelihood_scorer

#: Both namespaces: a policy may answer with an Orphanet entry.
PREFIXES = ("OMIM", "ORPHA")


class FindingRole(BaseModel):
    """One finding of the patient as it bears on one diagnosis."""

    model_config = ConfigDict(frozen=True)

    label: str = Field(description="The finding as entered (or read from the note or bundle).")
    hpo_id: str | None = Field(description="Its HPO term; null when it was not understood.")
    matched_id: str | None = Field(default=None, description="The disease's annotated term it met, if any.")
    matched_name: str | None = None
    frequency: float | None = Field(
        default=None, description="How often patients with the disease show the matched feature (0-1), if annotated."
    )
    likelihood_ratio: float | None = Field(
        default=None, description="P(finding | disease) / P(finding | other diseases); >1 supports, <1 weighs against."
    )


FactorEvidence = Literal["sex", "inheritance", "onset", "age"]
#: The likelihood contributions shown as factors of a diagnosis (the rest are findings).
_FACTOR_EVIDENCE: frozenset[str] = frozenset(get_args(FactorEvidence))


class FactorRole(BaseModel):
    """Sex, a mode of inheritance, the onset stated or the patient's age, as it bears on one diagnosis."""

    model_config = ConfigDict(frozen=True)

    evidence: FactorEvidence = Field(
        description="What the factor reads: age bounds onset from above and counts only when no onset was stated."
    )
    value: str = Field(description="As given: male/female, an HPO term id, or 'age <years> y'.")
    name: str | None = Field(default=None, description="The HPO term's name, for inheritance and onset.")
    fits: bool = Field(description="Whether the disease's annotations allow it (false: it speaks against).")
    matched_id: str | None = Field(default=None, description="For onset and age: the disease's onset term it met.")
    matched_name: str | None = None
    likelihood_ratio: float = Field(description="Its factor in the disease's likelihood ratio (1: says nothing).")


class Explanation(BaseModel):
    """What a diagnosis explains, leaves unexplained and is contradicted by, in the index's knowledge."""

    model_config = ConfigDict(frozen=True)

    annotated: bool = Field(description="Whether the index's disease knowledge has phenotype annotations for it.")
    entered: int = Field(description="Observed findings entered (understood or not): the denominator of 'explains'.")
    supports: tuple[FindingRole, ...] = Field(description="Observed findings the disease is annotated with.")
    not_explained: tuple[FindingRole, ...] = Field(
        description="Observed findings it is not annotated with, and findings that were not understood."
    )
    contradicts: tuple[FindingRole, ...] = Field(
        description="Findings reported absent that the disease is annotated with (with their frequency), "
        "and present findings the disease is annotated NOT to have."
    )
    factors: tuple[FactorRole, ...] = Field(
        default=(),
        description="Sex, inheritance and onset (or else age) where given and the disease is annotated for them.",
    )
    log10_likelihood_ratio: float | None = Field(
        default=None,
        description="Sum of the log10 likelihood ratios of the findings and the factors (null when not annotated).",
    )


def explain_diagnoses(codes: Sequence[str | None], case: Case, knowledge: HpoKnowledge) -> list[Explanation | None]:
    """One explanation per code (``None`` for a diagnosis without a code), in the order given."""
    scorer = get_likelihood_scorer(knowledge, PREFIXES)
    labels: dict[str, str] = {}
    for finding in case.findings:
        current = knowledge.current_id(finding.hpo_id) if finding.hpo_id else None
        if current is not None:
            labels.setdefault(current, finding.label)
    not_understood = tuple(FindingRole(label=f.label, hpo_id=None) for f in case.observed if not f.hpo_id)
    known = [code for code in codes if code is not None and scorer.has_disease(code)]
    explained = scorer.explain_case(known, case) if known else []
    by_code = {d.disease_id: d for d in explained}
    explanations: list[Explanation | None] = []
    for code in codes:
        if code is None:
            explanations.append(None)
            continue
        likelihood = by_code.get(code)
        if likelihood is None:
            understood = tuple(
                FindingRole(label=f.label, hpo_id=knowledge.current_id(f.hpo_id)) for f in case.observed if f.hpo_id
            )
            explanations.append(
                Explanation(
                    annotated=False,
                    entered=len(case.observed),
                    supports=(),
                    not_explained=understood + not_understood,
                    contradicts=(),
                )
            )
            continue
        roles: dict[str, list[FindingRole]] = {"supports": [], "not_explained": [], "contradicts": []}
        supported = {c.term_id for c in likelihood.contributions if c.evidence == "observed" and c.kind == "supports"}
        for contribution in likelihood.contributions:
            role = _role(contribution, supported)
            if role is not None:
                roles[role].append(_finding(contribution, labels, knowledge))
        explanations.append(
            Explanation(
                annotated=True,
                entered=len(case.observed),
                supports=tuple(roles["supports"]),
                not_explained=tuple(roles["not_explained"]) + not_understood,
                contradicts=tuple(roles["contradicts"]),
                factors=tuple(
                    _factor(c, knowledge)
                    for c in likelihood.contributions
                    if c.evidence in _FACTOR_EVIDENCE and c.lr != 1.0
                ),
                log10_likelihood_ratio=round(likelihood.log10_lr, 3),
            )
        )
    return explanations


def _role(contribution: Contribution, supported: set[str]) -> str | None:
    """Which list a factor belongs to; ``None`` for sex, inheritance, onset and absent findings it fits."""
    if contribution.evidence == "observed":
        if contribution.kind == "contradicts":
            return "contradicts"
        if contribution.kind == "supports":
            # A finding merely related to one of the disease's (a shared ancestor) is not explained by it.
            return "not_explained" if contribution.relation == "related" else "supports"
        if contribution.relation == "implied":  # a more general finding of one the patient also has
            explained = contribution.matched_term in supported or contribution.frequency is not None
            return "supports" if explained else "not_explained"
        return "not_explained"
    if contribution.evidence == "excluded" and contribution.kind in ("contradicts", "against"):
        return "contradicts"
    return None


def _factor(contribution: Contribution, knowledge: HpoKnowledge) -> FactorRole:
    evidence = cast(FactorEvidence, contribution.evidence)  # one of _FACTOR_EVIDENCE: the caller filtered
    matched = contribution.matched_term
    return FactorRole(
        evidence=evidence,
        value=contribution.term_id,
        name=_name(contribution.term_id, knowledge) if evidence in ("inheritance", "onset") else None,
        fits=contribution.relation == "consistent",
        matched_id=matched,
        matched_name=_name(matched, knowledge) if matched else None,
        likelihood_ratio=round(contribution.lr, 3),
    )


def _finding(contribution: Contribution, labels: dict[str, str], knowledge: HpoKnowledge) -> FindingRole:
    term = contribution.term_id
    matched = contribution.matched_term if contribution.relation != "implied" else None
    return FindingRole(
        label=labels.get(term) or _name(term, knowledge) or term,
        hpo_id=term,
        matched_id=matched,
        matched_name=_name(matched, knowledge) if matched else None,
        frequency=None if contribution.frequency is None else round(contribution.frequency, 3),
        likelihood_ratio=None if contribution.relation in ("implied", "unknown") else round(contribution.lr, 3),
    )


def _name(term_id: str, knowledge: HpoKnowledge) -> str | None:
    try:
        return knowledge.term_name(term_id)
    except KeyError:
        return None


__all__ = ["Explanation", "FactorRole", "FindingRole", "explain_diagnoses"]
