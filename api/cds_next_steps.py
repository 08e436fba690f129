"""The next steps of a decision as one CDS Hooks card: questions to ask, genes to test, guidelines to read.

Why a card of its own rather than more lines under the differential: an EHR lists cards by summary, and
"what to do next" is a different thing to act on than "what it may be"; a clinician can dismiss one and
keep the other, and CDS feedback then tells which was used. The card shows what the trace's
``next_steps`` already holds (:mod:`dxsearch.next_steps`), cut to what fits a chart: the three questions
with the highest expected information gain, the panel's genes each with the diagnoses it is for, and the
guideline passages with a DOI link each. Everything else is one click away in the viewer.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

from api.cds_text import markdown_text, plain_summary
from dxsearch.next_steps import NO_DIFFERENTIAL, DiagnosisRef, GuidelinePassage, NextSteps, Question, said

MAX_CARD_QUESTIONS = 3
MAX_CARD_GENES = 8
MAX_CARD_GUIDELINES = 3
#: A DOI as the guideline sources give it (``doi:10.1161/...``); anything else gets no link.
_DOI = re.compile(r"^(?:doi:)?(10\.\d{4,9}/\S+)$", re.IGNORECASE)


def doi_url(reference: str) -> str | None:
    """``doi:10.1000/x`` -> ``https://doi.org/10.1000/x`` (percent-encoded); ``None`` for anything else."""
    match = _DOI.match(reference.strip())
    return None if match is None else "https://doi.org/" + quote(match.group(1), safe="/()._-;:")


def _for(diagnoses: tuple[DiagnosisRef, ...]) -> str:
    return ", ".join(f"{markdown_text(d.name)} (\\#{d.rank})" for d in diagnoses)


def percent(probability: float) -> str:
    """A probability as a whole percentage that never reads 100% (or 0%) unless it is: ">99%", "<1%"."""
    return said(probability, as_percent=True)


def scale_line(steps: NextSteps) -> str:
    """What the percentages of the questions are (the scale of ``steps.probabilities``), in one sentence."""
    if steps.scale == "equal":
        return (
            "No probabilities were given, so the candidates are taken as equally likely; percentages are a "
            "candidate's share among them, before to after the answer."
        )
    if steps.scale == "among_candidates":
        return (
            "The candidates' probabilities summed above 100%, so percentages are their shares among them, before to "
            "after the answer."
        )
    weighed = "in the differential" if steps.basis == "differential" else "the candidates were weighed at"
    rest = f"; {percent(steps.none_of_these)} is left to none of these" if steps.none_of_these > 0 else ""
    return f"Percentages are probabilities {weighed}, before to after the answer{rest}."


def _question_line(question: Question, steps: NextSteps) -> str:
    line = f"- **{markdown_text(question.label)}**"
    favours = []
    for answer, shifts, rest in (
        ("yes", question.if_present, question.none_of_these_if_present),
        ("no", question.if_absent, question.none_of_these_if_absent),
    ):
        if shifts:
            top = shifts[0]
            favours.append(
                f"{answer} favours {markdown_text(top.name)} ({percent(top.before)} to {percent(top.after)})"
            )
        elif rest is not None and rest >= steps.none_of_these + 0.005:
            favours.append(f"{answer} favours none of these ({percent(steps.none_of_these)} to {percent(rest)})")
    return line + (": " + "; ".join(favours) if favours else "")


def _guideline_line(passage: GuidelinePassage) -> str:
    where = f", {markdown_text(passage.section)}" if passage.section else ""
    note = f" ({markdown_text(passage.note)})" if passage.note else ""
    return f"- {markdown_text(passage.title)}{where}: for {_for(passage.diagnoses)}{note}"


def _summary(steps: NextSteps, questions: tuple[Question, ...], genes: list[str]) -> str:
    asks = ", ".join(q.label for q in questions[:2])
    if steps.basis in NO_DIFFERENTIAL:
        return plain_summary(f"More findings would help: ask about {asks}")
    parts = [f"ask about {asks}"] if asks else []
    if genes:
        shown = ", ".join(genes[:3]) + (", …" if len(genes) > 3 else "")
        parts.append(f"test {len(genes)} gene{'s' if len(genes) != 1 else ''} ({shown})")
    if steps.guidelines:
        parts.append(f"{len(steps.guidelines)} guideline passage{'s' if len(steps.guidelines) != 1 else ''}")
    return plain_summary("Next steps: " + "; ".join(parts))


def next_steps_card(steps: NextSteps | None, viewer_url: str, source_label: str) -> dict[str, Any] | None:
    """The card for a decision's next steps, or ``None`` when there is nothing to suggest."""
    if steps is None:
        return None
    questions = steps.questions[:MAX_CARD_QUESTIONS]
    panel = steps.gene_panel.genes if steps.gene_panel is not None else ()
    guidelines = steps.guidelines[:MAX_CARD_GUIDELINES]
    if not (questions or panel or guidelines):
        return None
    lines = ["Suggested next steps for this differential (decision support; they do not change the ranking)."]
    if questions:
        lines += ["", "**Ask about** (the answers that best separate the candidates):", scale_line(steps)]
        lines += [_question_line(q, steps) for q in questions]
    if panel:
        lines += ["", "**Genes to test** (HPO genes\\_to\\_phenotype; gene: the diagnoses it is for):"]
        lines += [f"- **{markdown_text(g.symbol)}**: {_for(g.diagnoses)}" for g in panel[:MAX_CARD_GENES]]
        if len(panel) > MAX_CARD_GENES:
            lines.append(f"- and {len(panel) - MAX_CARD_GENES} more in DxSearch")
        if steps.gene_panel is not None and steps.gene_panel.without_genes:
            lines.append(f"- no gene known for {_for(steps.gene_panel.without_genes)}")
    if guidelines:
        lines += ["", "**Guidelines** that name a candidate:"]
        lines += [_guideline_line(p) for p in guidelines]
    links: list[dict[str, str]] = [{"label": "Open the next steps in DxSearch", "url": viewer_url, "type": "absolute"}]
    for passage in guidelines:
        url = next((u for u in map(doi_url, passage.references) if u is not None), None)
        if url is not None and all(link["url"] != url for link in links):
            links.append({"label": plain_summary(f"Guideline: {passage.title}"), "url": url, "type": "absolute"})
    return {
        "uuid": str(uuid.uuid4()),
        "summary": _summary(steps, questions, [g.symbol for g in panel]),
        "detail": "\n".join(lines),
        "indicator": "info",
        "source": {"label": source_label},
        "links": links,
    }
