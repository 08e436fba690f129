"""A trajectory split into what the policy wrote and what the environment answered.

Rewards see a trajectory in one of two shapes:

* **text** — what verl hands ``compute_score``: the policy's turns concatenated
  with the environment's ``<result>`` observations. A policy turn ends at its
  first closing action tag (generation stops there, see
  :data:`dxsearch.protocol.CLOSING_TAGS`); an observation is a
  ``<result>…</result>`` element.
* **structured** — what the environment or a trainer already holds: a list of
  ``(turn_text, observation)`` pairs (or :class:`dxsearch.policies.base.Exchange`).
  Observations there come from the environment and are trusted.

Both become a :class:`Transcript` of segments: parsed turns or typed
:class:`~dxsearch.protocol.ProtocolError` for malformed ones (the same parser as
the environment, so "malformed" means the same thing everywhere), parsed
observations, and trailing text outside any tag.

Text is untrusted: a policy could write a fake ``<result>`` carrying the gold
disease's code. An observation is therefore *genuine* only where the
environment would have produced it: directly after a well-formed retrieval turn
(passages allowed), or directly after a malformed turn (a note only — the
environment never returns passages for a malformed turn). Anything else is a
stray observation: its passages are ignored and the format reward penalises it.
Because generation stops at a closing tag, a policy can only smuggle text
*before* a closing tag, which always lands in one of those rejected positions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dxsearch.episode import Exchange
from dxsearch.protocol import (
    CLOSING_TAGS,
    PROTOCOL_TAGS,
    RESULT_TAG,
    RETRIEVAL_ACTIONS,
    Action,
    Diagnose,
    ParseErrorKind,
    Passage,
    ProtocolError,
    Reason,
    Result,
    Retrieve,
    Turn,
    parse_result,
    parse_turn,
    render_result,
)

RESULT_OPEN = f"<{RESULT_TAG}>"
RESULT_CLOSE = f"</{RESULT_TAG}>"

_BOUNDARY = re.compile("|".join(re.escape(tag) for tag in (*CLOSING_TAGS, RESULT_OPEN)))
_ANY_PROTOCOL_TAG = re.compile(r"</?\s*(?:" + "|".join(PROTOCOL_TAGS) + r")\s*>", re.IGNORECASE)
_OPENING = {action: re.compile(rf"<\s*{action.value}\s*>", re.IGNORECASE) for action in Action}
_NON_SPACE = re.compile(r"\S")

# Chat-template residue a decoded verl response may hold around environment turns:
# special tokens (when not skipped) and the bare role line left behind when they are.
_SPECIAL_TOKENS = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id)\|>")
_ROLE_LINE = r"[ \t]*(?:user|tool|system|assistant|ipython|observation)[ \t]*\n"
_ROLE_BEFORE_RESULT = re.compile(rf"(?:(?<=\n)|^){_ROLE_LINE}(?=\s*{re.escape(RESULT_OPEN)})")
_CLOSING = "|".join(re.escape(tag) for tag in (*CLOSING_TAGS, RESULT_CLOSE))
_ROLE_AFTER_CLOSE = re.compile(rf"((?:{_CLOSING})\s*\n){_ROLE_LINE}")

#: Errors that mean the policy wrote text outside any tag.
OUTSIDE_TEXT_ERRORS = frozenset({ParseErrorKind.NO_TAG, ParseErrorKind.TEXT_OUTSIDE_TAGS})


@dataclass(frozen=True, slots=True)
class TurnSegment:
    """One policy turn: parsed (``turn``) or malformed (``error``), never both."""

    index: int
    text: str
    turn: Turn | None
    error: ProtocolError | None

    @property
    def ok(self) -> bool:
        return self.turn is not None

    @property
    def attempted(self) -> frozenset[Action]:
        """The actions this turn tried: its parsed action, or every opening tag a malformed turn contains.

        Budgets and the single-diagnosis rule count attempts, so a broken retrieval or
        diagnosis cannot dodge them by being malformed.
        """
        if self.turn is not None:
            return frozenset({action_of(self.turn)})
        return frozenset(a for a, pattern in _OPENING.items() if pattern.search(self.text))


@dataclass(frozen=True, slots=True)
class ObservationSegment:
    """One ``<result>`` element; ``genuine`` if it sits where the environment would have put it."""

    text: str
    result: Result | None
    error: ProtocolError | None
    genuine: bool
    answers: int | None = None

    @property
    def passages(self) -> tuple[Passage, ...]:
        """Passages that count as retrieved: those of genuine observations only."""
        if not self.genuine or self.result is None:
            return ()
        return self.result.passages


@dataclass(frozen=True, slots=True)
class OutsideText:
    """Trailing text that is neither a turn nor an observation (e.g. chatter after the diagnosis)."""

    text: str


Segment = TurnSegment | ObservationSegment | OutsideText


def action_of(turn: Turn) -> Action:
    """The action tag of a parsed turn."""
    if isinstance(turn, Reason):
        return Action.REASON
    if isinstance(turn, Retrieve):
        return turn.action
    return Action.DIAGNOSE


def query_key(turn: Retrieve) -> tuple[Action, str]:
    """What makes two retrievals "the same query": the environment's key (action, folded whitespace/case)."""
    return turn.action, " ".join(turn.query.casefold().split())


@dataclass(frozen=True, slots=True)
class Transcript:
    """A trajectory as segments, in order, with the views the rewards need."""

    segments: tuple[Segment, ...]

    @property
    def turns(self) -> tuple[TurnSegment, ...]:
        return tuple(s for s in self.segments if isinstance(s, TurnSegment))

    @property
    def observations(self) -> tuple[ObservationSegment, ...]:
        return tuple(s for s in self.segments if isinstance(s, ObservationSegment))

    @property
    def outside(self) -> tuple[OutsideText, ...]:
        return tuple(s for s in self.segments if isinstance(s, OutsideText))

    @property
    def errors(self) -> tuple[ProtocolError, ...]:
        """Every typed error: malformed turns and unreadable observations."""
        found: list[ProtocolError] = []
        for segment in self.segments:
            if isinstance(segment, TurnSegment | ObservationSegment) and segment.error is not None:
                found.append(segment.error)
        return tuple(found)

    @property
    def stray_observations(self) -> tuple[ObservationSegment, ...]:
        """Observations the environment would not have produced there (or could not be read)."""
        return tuple(o for o in self.observations if not o.genuine or o.error is not None)

    @property
    def final(self) -> Diagnose | None:
        """The answer: the first well-formed ``<diagnose>`` (the environment ends the episode there)."""
        return self.answer()

    def answer(self, max_turns: int | None = None) -> Diagnose | None:
        """The first well-formed ``<diagnose>`` among the first ``max_turns`` turns (all turns if ``None``).

        The environment stops an episode at its turn budget, so a diagnosis written
        after it was never given.
        """
        for segment in self.turns:
            if max_turns is not None and segment.index >= max_turns:
                break
            if isinstance(segment.turn, Diagnose):
                return segment.turn
        return None

    @property
    def retrievals(self) -> tuple[Retrieve, ...]:
        """Well-formed retrieval turns, in order (what the environment charged to the budget)."""
        return tuple(s.turn for s in self.turns if isinstance(s.turn, Retrieve))

    @property
    def passages(self) -> tuple[Passage, ...]:
        """Passages of genuine observations, in the order the policy saw them."""
        return tuple(p for o in self.observations for p in o.passages)


def _strip_chat_markup(text: str) -> str:
    text = _SPECIAL_TOKENS.sub("", text)
    text = _ROLE_BEFORE_RESULT.sub("", text)
    return _ROLE_AFTER_CLOSE.sub(r"\1", text)


def _parse(index: int, text: str) -> TurnSegment:
    try:
        return TurnSegment(index, text, parse_turn(text), None)
    except ProtocolError as error:
        return TurnSegment(index, text, None, error)


def _read_observation(text: str) -> tuple[Result | None, ProtocolError | None]:
    try:
        return parse_result(text), None
    except ProtocolError as error:
        return None, error


def _answerable(previous: Segment | None, result: Result | None) -> TurnSegment | None:
    """The turn an observation answers, if the environment would have answered it with ``result``."""
    if not isinstance(previous, TurnSegment) or result is None:
        return None
    if isinstance(previous.turn, Retrieve):
        return previous
    if previous.error is not None and not result.passages:
        return previous
    return None


def split_transcript(text: str, *, strip_chat_markup: bool = True) -> Transcript:
    """Split a concatenated trajectory into turns, observations and outside text; never raises.

    ``strip_chat_markup`` drops chat-template residue a decoded multi-turn response
    may contain: special tokens such as ``<|im_start|>``, and a bare role line
    (``user``, ``assistant``, ``tool`` ...) just before a ``<result>`` or just after a
    closing tag — places where the policy cannot write (its generation stops at a
    closing tag), so the text is the rollout loop's, not the policy's.
    """
    if strip_chat_markup:
        text = _strip_chat_markup(text)
    segments: list[Segment] = []
    turn_index = 0
    position, end = 0, len(text)
    while position < end:
        start = _NON_SPACE.search(text, position)
        if start is None:
            break
        position = start.start()
        if text.startswith(RESULT_OPEN, position):
            close = text.find(RESULT_CLOSE, position + len(RESULT_OPEN))
            stop = end if close < 0 else close + len(RESULT_CLOSE)
            chunk = text[position:stop]
            result, error = _read_observation(chunk)
            answered = _answerable(segments[-1] if segments else None, result)
            segments.append(
                ObservationSegment(chunk, result, error, answered is not None, answered.index if answered else None)
            )
            position = stop
            continue
        boundary = _BOUNDARY.search(text, position)
        if boundary is None:
            stop = end
        elif boundary.group() == RESULT_OPEN:
            stop = boundary.start()  # the environment answered it, so it was a (malformed) turn
        else:
            stop = boundary.end()
        chunk = text[position:stop]
        if boundary is None and not _ANY_PROTOCOL_TAG.search(chunk):
            segments.append(OutsideText(chunk.strip()))
        else:
            segments.append(_parse(turn_index, chunk))
            turn_index += 1
        position = stop
    return Transcript(tuple(segments))


TurnPair = tuple[str, Result | str | None] | Exchange


def transcript_from_turns(pairs: Iterable[TurnPair]) -> Transcript:
    """A transcript from ``(turn_text, observation)`` pairs the environment produced; never raises.

    Observations may be :class:`~dxsearch.protocol.Result` objects or their rendered
    text (as in :class:`dxsearch.agent.TurnRecord`); they are trusted as genuine when readable.
    """
    segments: list[Segment] = []
    for index, pair in enumerate(pairs):
        turn_text, observation = (pair.turn, pair.observation) if isinstance(pair, Exchange) else pair
        segments.append(_parse(index, turn_text))
        if observation is None:
            continue
        if isinstance(observation, Result):
            segments.append(ObservationSegment(render_result(observation), observation, None, True, index))
        else:
            result, error = _read_observation(observation)
            segments.append(ObservationSegment(observation, result, error, error is None, index))
    return Transcript(tuple(segments))


Trajectory = str | Transcript | Sequence[TurnPair]


def as_transcript(trajectory: Trajectory) -> Transcript:
    """Accept any trajectory shape the rewards take and return its :class:`Transcript`."""
    if isinstance(trajectory, Transcript):
        return trajectory
    if isinstance(trajectory, str):
        return split_transcript(trajectory)
    return transcript_from_turns(trajectory)


def retrieval_attempts(transcript: Transcript) -> int:
    """Turns that tried to retrieve, malformed ones included (for the budget check)."""
    return sum(1 for t in transcript.turns if t.attempted & RETRIEVAL_ACTIONS)
