"""What a trajectory retrieved, in the form the rewards score: id, codes, order, duplicate flag.

The environment's :class:`~dxsearch.env.RetrievalRecord` list is the authority
(it also knows which passages were withheld as already seen); when a trainer
has only text, the ``<passage>`` elements of genuine observations stand in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dxsearch.episode import RetrievalRecord
from rewards.transcript import Transcript


@dataclass(frozen=True, slots=True)
class RetrievedEvidence:
    """One retrieved passage: ``rank`` is its 1-based position in the episode's retrieval order.

    ``duplicate`` marks a passage retrieved again after it was already seen (the
    environment withholds it; it is wasted budget). ``title`` lets the structure
    reward recognise citations by title; it may be empty.
    """

    evidence_id: str
    codes: tuple[str, ...] = ()
    rank: int = 1
    duplicate: bool = False
    title: str = ""

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ValueError(f"rank must be >= 1, got {self.rank}")


def evidence_from_records(records: Sequence[RetrievalRecord]) -> tuple[RetrievedEvidence, ...]:
    """The environment's records (``env.records`` / ``trace.retrievals``) in episode order.

    A record's own ``rank`` is its rank within one retrieval; the reward needs the
    position across the whole episode, so records are renumbered in order.
    """
    return tuple(
        RetrievedEvidence(r.evidence_id, tuple(r.codes), position, r.duplicate, r.title)
        for position, r in enumerate(records, start=1)
    )


def evidence_from_transcript(transcript: Transcript) -> tuple[RetrievedEvidence, ...]:
    """Passages of genuine observations in the order shown; a repeated id is marked duplicate."""
    seen: set[str] = set()
    found: list[RetrievedEvidence] = []
    for position, passage in enumerate(transcript.passages, start=1):
        found.append(
            RetrievedEvidence(passage.evidence_id, passage.codes, position, passage.evidence_id in seen, passage.title)
        )
        seen.add(passage.evidence_id)
    return tuple(found)
