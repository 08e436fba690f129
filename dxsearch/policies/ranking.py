"""Retrieval-only rankings as policies: look the findings up, diagnose the retrieved diseases in order.

They answer "how far does retrieval alone get?" — the lexical-only and
dense-only rows of the benchmark. They speak the same grammar and cite the
passage each diagnosis came from, so the harness scores them exactly like any
other policy. Which engine ranks is the environment's retriever.
"""

from __future__ import annotations

from collections.abc import Sequence

from dxsearch.cases import Case
from dxsearch.episode import Exchange
from dxsearch.policies.differential import merge_candidates
from dxsearch.protocol import MAX_DIAGNOSES, Action, Candidate, Diagnose, Retrieve, render_turn

_DISEASE_PREFIXES = ("OMIM:", "ORPHA:")


class RetrievalRankingPolicy:
    """``<lookup>`` the findings, then ``<diagnose>`` the top disease passages in retrieval order."""

    version = "1"

    def __init__(self, name: str) -> None:
        self.name = name

    def next_turn(self, case: Case, history: Sequence[Exchange]) -> str:
        query = case.findings_query()
        if not query:
            return render_turn(Diagnose(()))
        if not history:
            return render_turn(Retrieve(Action.LOOKUP, query))
        observation = history[-1].observation
        candidates: list[Candidate] = []
        seen_codes: set[str] = set()
        for passage in observation.passages if observation else ():
            code = next((c for c in passage.codes if c.startswith(_DISEASE_PREFIXES)), None)
            if code is None or code in seen_codes:
                continue
            seen_codes.add(code)
            name = " ".join(passage.title.replace("|", "/").replace("<", "(").replace(">", ")").split())
            # The card of a disease already ranked under its other code (ORPHA beside OMIM) joins that entry,
            # as an alternate code with its passage cited; the slot goes to the next disease.
            candidates = list(merge_candidates([*candidates, Candidate(name, code, (passage.evidence_id,))]))
            if len(candidates) == MAX_DIAGNOSES:
                break
        return render_turn(Diagnose(tuple(candidates)))
