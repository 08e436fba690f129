"""The action grammar between a diagnostic policy and its environment: one parser, one renderer.

A model turn is exactly one tagged action::

    <reason>free reasoning</reason>
    <lookup>disease name or code</lookup>      disease knowledge and guidelines, by name
    <match>findings</match>                    similar patient records
    <search>free text</search>                 the whole corpus
    <diagnose>
    1. Marfan syndrome | OMIM:154700 | omim:154700#0, pt:ab12#0 | 0.82
    2. Loeys-Dietz syndrome 1 | OMIM:609192 | omim:609192#0
    </diagnose>

A diagnosis line is ``rank. name | code | evidence ids [| confidence]``; ``-``
stands for "no code" or "no evidence". The code field may list further codes of the
same disease after the first, comma-separated (``OMIM:154700, ORPHA:558``): the
alternate codes of a diagnosis whose equivalent entries were folded into it.
``<diagnose>insufficient evidence</diagnose>`` is an explicit, scored outcome; it may name why, on one line:
``<diagnose>insufficient evidence: no finding was understood</diagnose>``, and list below that line, in the
diagnosis-line format, the candidates it *considered* and found too improbable to answer with::

    <diagnose>insufficient evidence: the most probable diagnosis has probability 0.18, below the 0.20 needed
    1. Noonan syndrome 2 | OMIM:605275 | pt:ab12#0 | 0.18
    </diagnose>

Considered candidates are not a diagnosis (no reward scores them as one); they let a reader see what was
weighed, and let next steps ask the questions that would separate them.
The environment answers retrieval turns with a ``<result>`` holding ``<passage>``
elements, each tagged with its evidence id; passage text is HTML-escaped so a poisoned corpus cannot forge tags.

The environment, the policies, the reward functions and the audit trail all use
this module, so a malformed turn means the same thing everywhere: a
:class:`ProtocolError` with a :class:`ParseErrorKind`.
"""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum

from dxsearch.corpus import split_evidence_id

MAX_DIAGNOSES = 5
INSUFFICIENT_EVIDENCE = "insufficient evidence"
NO_VALUE = "-"


class Action(StrEnum):
    """The tags a policy may emit; each turn is exactly one of them."""

    REASON = "reason"
    LOOKUP = "lookup"
    MATCH = "match"
    SEARCH = "search"
    DIAGNOSE = "diagnose"


RETRIEVAL_ACTIONS = frozenset({Action.LOOKUP, Action.MATCH, Action.SEARCH})
RESULT_TAG = "result"
PASSAGE_TAG = "passage"
NOTE_TAG = "note"
#: Every tag of the protocol; none may appear inside a turn's body.
PROTOCOL_TAGS = (*(a.value for a in Action), RESULT_TAG, PASSAGE_TAG, NOTE_TAG)
#: Generation stops after one of these: a turn ends at its closing tag.
CLOSING_TAGS = tuple(f"</{a.value}>" for a in Action)

_ANY_PROTOCOL_TAG = re.compile(r"</?\s*(?:" + "|".join(PROTOCOL_TAGS) + r")\s*>", re.IGNORECASE)
_TURN = re.compile(r"^<(?P<open>[a-z]+)>(?P<body>.*)</(?P<close>[a-z]+)>$", re.DOTALL)
_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]*:[A-Za-z0-9_.:\-]+$")
_DIAGNOSIS_LINE = re.compile(r"^(?P<rank>[0-9]{1,3})[.)]\s+(?P<rest>.+)$")
_FORBIDDEN_IN_NAME = re.compile(r"[|<>\n\r]")


class ParseErrorKind(StrEnum):
    """Why a turn is malformed; rewards score these, the environment reports them."""

    EMPTY = "empty"
    NO_TAG = "no_tag"
    UNKNOWN_TAG = "unknown_tag"
    MISMATCHED_TAG = "mismatched_tag"
    TEXT_OUTSIDE_TAGS = "text_outside_tags"
    NESTED_TAG = "nested_tag"
    EMPTY_BODY = "empty_body"
    BAD_DIAGNOSIS = "bad_diagnosis"
    TOO_MANY_DIAGNOSES = "too_many_diagnoses"
    BAD_RESULT = "bad_result"


class ProtocolError(ValueError):
    """A turn (or result) that does not follow the grammar; ``kind`` says how."""

    def __init__(self, kind: ParseErrorKind, message: str) -> None:
        super().__init__(f"{kind.value}: {message}")
        self.kind = kind
        self.message = message


# -- turns ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reason:
    """Thinking aloud; costs a turn, retrieves nothing."""

    text: str


@dataclass(frozen=True, slots=True)
class Retrieve:
    """A retrieval request: ``lookup``, ``match`` or ``search`` with its query."""

    action: Action
    query: str

    def __post_init__(self) -> None:
        if self.action not in RETRIEVAL_ACTIONS:
            raise ValueError(f"{self.action} is not a retrieval action")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One ranked diagnosis with the evidence ids it rests on.

    ``alternate_codes``: other codes of the same disease (an Orphanet code beside an OMIM one) whose
    entries were folded into this one (:mod:`dxsearch.policies.differential`); they need a ``code``.
    """

    name: str
    code: str | None = None
    evidence: tuple[str, ...] = ()
    confidence: float | None = None
    alternate_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (
            not self.name.strip()
            or self.name != self.name.strip()
            or _FORBIDDEN_IN_NAME.search(self.name)
            or len(self.name.splitlines()) != 1
        ):
            raise ValueError(f"diagnosis name {self.name!r} must be non-empty, trimmed, without '|', '<', '>'")
        if self.name == NO_VALUE or _ANY_PROTOCOL_TAG.search(self.name):
            raise ValueError(f"diagnosis name {self.name!r} is not a name")
        if self.code is not None and not _CODE.match(self.code):
            raise ValueError(f"diagnosis code {self.code!r} must be a CURIE such as OMIM:154700")
        if self.alternate_codes and self.code is None:
            raise ValueError("alternate codes need a code")
        if len(set(self.alternate_codes)) != len(self.alternate_codes) or self.code in self.alternate_codes:
            raise ValueError("alternate codes must differ from the code and from each other")
        for alternate in self.alternate_codes:
            if not _CODE.match(alternate):
                raise ValueError(f"alternate code {alternate!r} must be a CURIE such as ORPHA:558")
        for evidence_id in self.evidence:
            split_evidence_id(evidence_id)
            if any(c in ",|<>" or c.isspace() for c in evidence_id):
                raise ValueError(f"evidence id {evidence_id!r} contains a separator")
        if self.confidence is not None and not (math.isfinite(self.confidence) and 0.0 <= self.confidence <= 1.0):
            raise ValueError(f"confidence {self.confidence!r} must be in [0, 1]")


@dataclass(frozen=True, slots=True)
class Diagnose:
    """The final answer: up to five ranked candidates, or an explicit "insufficient evidence" with its reason.

    ``considered`` belongs to an insufficient-evidence answer only: the leading candidates it weighed and
    found too improbable to name, best first. They are not candidates: ``insufficient`` stays true.
    """

    candidates: tuple[Candidate, ...] = ()
    reason: str | None = None
    considered: tuple[Candidate, ...] = ()

    def __post_init__(self) -> None:
        if len(self.candidates) > MAX_DIAGNOSES:
            raise ValueError(f"at most {MAX_DIAGNOSES} diagnoses, got {len(self.candidates)}")
        if len(self.considered) > MAX_DIAGNOSES:
            raise ValueError(f"at most {MAX_DIAGNOSES} considered candidates, got {len(self.considered)}")
        if self.considered and self.candidates:
            raise ValueError("considered candidates go with 'insufficient evidence' only, not with diagnoses")
        if self.reason is None:
            return
        if self.candidates:
            raise ValueError("a reason goes with 'insufficient evidence' only, not with diagnoses")
        if (
            not self.reason.strip()
            or self.reason != self.reason.strip()
            or len(self.reason.splitlines()) != 1
            or "<" in self.reason
            or ">" in self.reason
        ):
            raise ValueError(f"reason {self.reason!r} must be one non-empty trimmed line without '<' or '>'")

    @property
    def insufficient(self) -> bool:
        return not self.candidates


Turn = Reason | Retrieve | Diagnose


def _check_body(tag: str, body: str) -> str:
    text = body.strip()
    if not text:
        raise ProtocolError(ParseErrorKind.EMPTY_BODY, f"<{tag}> has no content")
    if _ANY_PROTOCOL_TAG.search(text):
        raise ProtocolError(ParseErrorKind.NESTED_TAG, f"<{tag}> contains another protocol tag")
    return text


def parse_turn(text: str) -> Turn:
    """Parse one model turn; raises :class:`ProtocolError` for anything off-grammar."""
    stripped = text.strip()
    if not stripped:
        raise ProtocolError(ParseErrorKind.EMPTY, "the turn is empty")
    if not stripped.startswith("<"):
        if _ANY_PROTOCOL_TAG.search(stripped):
            raise ProtocolError(ParseErrorKind.TEXT_OUTSIDE_TAGS, "text before the opening tag")
        raise ProtocolError(ParseErrorKind.NO_TAG, "a turn must be one tagged action such as <reason>…</reason>")
    found = _TURN.match(stripped)
    if found is None:
        opening = re.match(r"^<([a-z]+)>", stripped)
        if opening and opening.group(1) in {a.value for a in Action}:
            closing = f"</{opening.group(1)}>"
            if closing in stripped:
                raise ProtocolError(ParseErrorKind.TEXT_OUTSIDE_TAGS, f"text after {closing}")
            raise ProtocolError(ParseErrorKind.MISMATCHED_TAG, f"<{opening.group(1)}> is never closed")
        raise ProtocolError(ParseErrorKind.NO_TAG, "a turn must start with an action tag such as <reason>")
    tag, close, body = found.group("open"), found.group("close"), found.group("body")
    if tag not in {a.value for a in Action}:
        raise ProtocolError(ParseErrorKind.UNKNOWN_TAG, f"<{tag}> is not an action; use one of {_action_list()}")
    if close != tag:
        if f"</{tag}>" in body:
            raise ProtocolError(ParseErrorKind.TEXT_OUTSIDE_TAGS, f"more than one action after </{tag}>")
        raise ProtocolError(ParseErrorKind.MISMATCHED_TAG, f"<{tag}> closed by </{close}>")
    action = Action(tag)
    content = _check_body(tag, body)
    if action is Action.REASON:
        return Reason(content)
    if action is Action.DIAGNOSE:
        return _parse_diagnosis(content)
    return Retrieve(action, content)


def _action_list() -> str:
    return ", ".join(f"<{a.value}>" for a in Action)


def _parse_diagnosis(body: str) -> Diagnose:
    text = body.strip()
    if text[: len(INSUFFICIENT_EVIDENCE)].casefold() == INSUFFICIENT_EVIDENCE:
        first, _, below = text.partition("\n")
        rest = first[len(INSUFFICIENT_EVIDENCE) :]
        reason: str | None = None
        if rest.startswith(":"):
            reason = rest[1:].strip()
        elif rest.strip().rstrip("."):
            raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, "'insufficient evidence' is followed by ': reason' only")
        considered = _parse_candidates(below, "considered candidates") if below.strip() else ()
        try:
            return Diagnose((), reason=reason, considered=considered)
        except ValueError as exc:
            raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, str(exc)) from exc
    return Diagnose(_parse_candidates(body, "diagnoses"))


def _parse_candidates(body: str, what: str) -> tuple[Candidate, ...]:
    """Numbered diagnosis lines, 1 to at most :data:`MAX_DIAGNOSES`."""
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    if len(lines) > MAX_DIAGNOSES:
        raise ProtocolError(ParseErrorKind.TOO_MANY_DIAGNOSES, f"{len(lines)} {what}; at most {MAX_DIAGNOSES}")
    candidates: list[Candidate] = []
    for expected_rank, line in enumerate(lines, start=1):
        found = _DIAGNOSIS_LINE.match(line)
        if found is None:
            raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, f"line {expected_rank} is not 'N. name | code | ids'")
        if int(found.group("rank")) != expected_rank:
            raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, f"line {expected_rank} is numbered {found.group('rank')}")
        candidates.append(_parse_candidate(expected_rank, found.group("rest")))
    return tuple(candidates)


def _parse_candidate(rank: int, rest: str) -> Candidate:
    fields = [f.strip() for f in rest.split("|")]
    if len(fields) > 4:
        raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, f"diagnosis {rank} has more than 4 '|' fields")
    fields += [NO_VALUE] * (4 - len(fields))
    name, code, evidence, confidence = fields
    codes = [] if code in ("", NO_VALUE) else list(dict.fromkeys(part.strip() for part in code.split(",")))
    try:
        return Candidate(
            name=name,
            code=codes[0] if codes else None,
            evidence=_parse_evidence_ids(evidence),
            confidence=None if confidence in ("", NO_VALUE) else float(confidence),
            alternate_codes=tuple(codes[1:]),
        )
    except ValueError as exc:
        raise ProtocolError(ParseErrorKind.BAD_DIAGNOSIS, f"diagnosis {rank}: {exc}") from exc


def _parse_evidence_ids(field_text: str) -> tuple[str, ...]:
    if field_text in ("", NO_VALUE):
        return ()
    return tuple(dict.fromkeys(part.strip() for part in field_text.split(",") if part.strip()))


def render_turn(turn: Turn) -> str:
    """The canonical text of a turn; ``parse_turn(render_turn(t)) == t``."""
    if isinstance(turn, Reason):
        return f"<reason>{_render_body(Action.REASON, turn.text)}</reason>"
    if isinstance(turn, Retrieve):
        return f"<{turn.action.value}>{_render_body(turn.action, turn.query)}</{turn.action.value}>"
    if turn.insufficient:
        reason = f": {turn.reason}" if turn.reason else ""
        considered = "".join(f"\n{_render_candidate(rank, c)}" for rank, c in enumerate(turn.considered, start=1))
        tail = "\n" if considered else ""
        return f"<diagnose>{INSUFFICIENT_EVIDENCE}{reason}{considered}{tail}</diagnose>"
    lines = [_render_candidate(rank, c) for rank, c in enumerate(turn.candidates, start=1)]
    return "<diagnose>\n" + "\n".join(lines) + "\n</diagnose>"


def _render_body(action: Action, text: str) -> str:
    body = text.strip()
    if not body:
        raise ValueError(f"<{action.value}> needs content")
    if body != text:
        raise ValueError(f"<{action.value}> content must be trimmed")
    if _ANY_PROTOCOL_TAG.search(body):
        raise ValueError(f"<{action.value}> content must not contain protocol tags")
    if action is Action.DIAGNOSE:
        raise ValueError("render a Diagnose, not raw text")
    return body


def probability_text(value: float, places: int = 2) -> str:
    """A probability as text shows it (an abstention's reason, a reasoning line, the command line's differential and
    considered list, a CDS card): ``places`` decimals, except that one that would print as 0 is "under 0.01" and
    one that would print as 1 "over 0.99" (at ``places=2``).

    Why: an abstention's reason said "probability 0.00" of a candidate at 0.004, and the command line's considered
    list the same, while the viewer said "fewer than 1 in 100". The ends are said as the next steps say them
    (``<0.01`` / ``>0.99``, :func:`dxsearch.next_steps.said`), in words, since a reason may not hold '<' or '>'
    (:class:`Diagnose`): the reason and every list print one figure the same way. A 0 is "under" too: the
    policies round what they answer (a candidate's confidence to 3 places), so 0.0 stands for anything below
    0.0005, and no policy here is ever certain a disease is ruled out (or, at 1, in).
    """
    shown = f"{value:.{places}f}"
    if math.isfinite(value) and 0.0 <= value <= 1.0:
        if float(shown) == 0.0:
            return f"under {10.0**-places:.{places}f}"
        if float(shown) == 1.0:
            return f"over {1.0 - 10.0**-places:.{places}f}"
    return shown


def _render_candidate(rank: int, candidate: Candidate) -> str:
    parts = [
        f"{rank}. {candidate.name}",
        ", ".join((candidate.code, *candidate.alternate_codes)) if candidate.code else NO_VALUE,
        ", ".join(candidate.evidence) if candidate.evidence else NO_VALUE,
    ]
    if candidate.confidence is not None:
        parts.append(repr(candidate.confidence))
    return " | ".join(parts)


# -- observations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Passage:
    """One retrieved passage as the policy sees it, tagged with its evidence id."""

    evidence_id: str
    title: str
    text: str
    score: float
    codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        split_evidence_id(self.evidence_id)
        if not math.isfinite(self.score):
            raise ValueError("passage score must be finite")


@dataclass(frozen=True, slots=True)
class Result:
    """The environment's answer to a turn: passages and/or a note (budget, duplicates, errors)."""

    passages: tuple[Passage, ...] = ()
    note: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)


_RESULT = re.compile(r"^<result>(?P<body>.*)</result>$", re.DOTALL)
_NOTE = re.compile(r"^<note>(?P<text>[^<]*)</note>", re.DOTALL)
_PASSAGE = re.compile(
    r'^<passage id="(?P<id>[^"]+)" score="(?P<score>[^"]+)" codes="(?P<codes>[^"]*)" title="(?P<title>[^"]*)">'
    r"(?P<text>[^<]*)</passage>",
    re.DOTALL,
)


def render_result(result: Result) -> str:
    """The text an LLM policy reads; escaped so corpus text cannot close or forge tags."""
    parts = ["<result>"]
    if result.note is not None:
        parts.append(f"<note>{html.escape(result.note, quote=False)}</note>")
    for p in result.passages:
        parts.append(
            f'<passage id="{html.escape(p.evidence_id)}" score="{p.score:.4f}" '
            f'codes="{html.escape(" ".join(p.codes))}" title="{html.escape(p.title)}">'
            f"{html.escape(p.text, quote=False)}</passage>"
        )
    parts.append("</result>")
    return "\n".join(parts)


def parse_result(text: str) -> Result:
    """Inverse of :func:`render_result` (scores to 4 decimals); rewards read transcripts with it."""
    found = _RESULT.match(text.strip())
    if found is None:
        raise ProtocolError(ParseErrorKind.BAD_RESULT, "not a <result> element")
    body = found.group("body").strip()
    note: str | None = None
    note_match = _NOTE.match(body)
    if note_match:
        note = html.unescape(note_match.group("text"))
        body = body[note_match.end() :].strip()
    passages: list[Passage] = []
    while body:
        passage = _PASSAGE.match(body)
        if passage is None:
            raise ProtocolError(ParseErrorKind.BAD_RESULT, f"unreadable passage near {body[:40]!r}")
        try:
            passages.append(
                Passage(
                    evidence_id=html.unescape(passage.group("id")),
                    title=html.unescape(passage.group("title")),
                    text=html.unescape(passage.group("text")),
                    score=float(passage.group("score")),
                    codes=tuple(html.unescape(passage.group("codes")).split()),
                )
            )
        except ValueError as exc:
            raise ProtocolError(ParseErrorKind.BAD_RESULT, str(exc)) from exc
        body = body[passage.end() :].strip()
    return Result(tuple(passages), note)
