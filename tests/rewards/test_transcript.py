"""Splitting trajectories: text and structured inputs agree, errors are typed, forged observations are rejected."""

from __future__ import annotations

from dxsearch.episode import Exchange
from dxsearch.protocol import (
    Action,
    Candidate,
    Diagnose,
    ParseErrorKind,
    Passage,
    Reason,
    Result,
    Retrieve,
    render_result,
    render_turn,
)
from rewards.transcript import (
    ObservationSegment,
    OutsideText,
    TurnSegment,
    as_transcript,
    retrieval_attempts,
    split_transcript,
    transcript_from_turns,
)

GOLD_PASSAGE = Passage(
    "omim:154700#0", "Marfan syndrome", "Ectopia lentis, aortic root dilatation.", 0.9, ("OMIM:154700",)
)
OTHER_PASSAGE = Passage("omim:609192#0", "Loeys-Dietz syndrome 1", "Arterial tortuosity.", 0.4, ("OMIM:609192",))
LOOKUP = render_turn(Retrieve(Action.LOOKUP, "Marfan syndrome"))
REASON = render_turn(Reason("omim:154700#0 fits the lens dislocation."))
DIAGNOSE = render_turn(Diagnose((Candidate("Marfan syndrome", "OMIM:154700", ("omim:154700#0",)),)))
RESULT = Result((GOLD_PASSAGE, OTHER_PASSAGE))


def forged(passage: Passage = GOLD_PASSAGE) -> str:
    return render_result(Result((passage,)))


def test_text_and_structured_inputs_give_the_same_segments() -> None:
    pairs: list[tuple[str, Result | None]] = [(LOOKUP, RESULT), (REASON, None), (DIAGNOSE, None)]
    text = "\n".join([LOOKUP, render_result(RESULT), REASON, DIAGNOSE])
    from_text = split_transcript(text)
    from_pairs = transcript_from_turns(pairs)
    assert [type(s) for s in from_text.segments] == [TurnSegment, ObservationSegment, TurnSegment, TurnSegment]
    assert from_text.passages == from_pairs.passages == (GOLD_PASSAGE, OTHER_PASSAGE)
    assert [t.turn for t in from_text.turns] == [t.turn for t in from_pairs.turns]
    assert from_text.final == from_pairs.final
    assert from_text.errors == ()
    # Exchange objects and rendered observation text are accepted too
    exchanges = [Exchange(LOOKUP, RESULT), Exchange(REASON, None)]
    assert transcript_from_turns(exchanges).passages == from_pairs.passages
    assert transcript_from_turns([(LOOKUP, render_result(RESULT))]).passages == from_pairs.passages
    assert as_transcript(text) == from_text
    assert as_transcript(from_text) is from_text


def test_malformed_turns_are_typed_protocol_errors() -> None:
    text = "\n".join(["<reason></reason>", "<reason>a</lookup>", "<reason>x</reason>", "I guess Marfan"])
    transcript = split_transcript(text)
    kinds = [t.error.kind if t.error else None for t in transcript.turns]
    assert kinds == [ParseErrorKind.EMPTY_BODY, ParseErrorKind.MISMATCHED_TAG, None]
    # a tagless tail is text outside any tag, not a turn
    assert transcript.outside == (OutsideText("I guess Marfan"),)
    # structured turns are judged one by one, exactly as the environment does
    pairs: list[tuple[str, Result | None]] = [("<think>hmm</think>", None), ("I guess Marfan", None)]
    structured = transcript_from_turns(pairs)
    assert [e.kind for e in structured.errors] == [ParseErrorKind.UNKNOWN_TAG, ParseErrorKind.NO_TAG]


def test_a_text_turn_ends_at_its_first_closing_action_tag() -> None:
    # generation stops at a closing action tag, so an unknown tag runs on into the next action
    transcript = split_transcript("<think>hmm</think>\n<reason>a</reason>")
    (turn,) = transcript.turns
    assert turn.error is not None and turn.error.kind is ParseErrorKind.UNKNOWN_TAG


def test_text_before_a_tag_is_detected_as_outside_text() -> None:
    transcript = split_transcript("Sure, let me think. <reason>tall stature</reason>")
    (turn,) = transcript.turns
    assert turn.error is not None and turn.error.kind is ParseErrorKind.TEXT_OUTSIDE_TAGS


def test_an_unreadable_or_unterminated_result_is_a_typed_error() -> None:
    transcript = split_transcript(f'{LOOKUP}<result><passage id="x">broken')
    (observation,) = transcript.observations
    assert observation.error is not None and observation.error.kind is ParseErrorKind.BAD_RESULT
    assert transcript.stray_observations == (observation,)
    assert transcript.passages == ()


def test_a_result_smuggled_inside_a_turn_is_not_retrieved_evidence() -> None:
    # the policy writes a fake result before its closing tag; the env then answers with a note
    note = render_result(Result(note="malformed turn (nested_tag)"))
    text = f"<reason>see {forged()}</reason>{note}{DIAGNOSE}"
    transcript = split_transcript(text)
    assert transcript.passages == ()
    assert len(transcript.stray_observations) == 1
    assert transcript.final is not None


def test_results_where_the_environment_would_not_answer_are_stray() -> None:
    after_reason = split_transcript(f"{REASON}{forged()}")
    after_result = split_transcript(f"{LOOKUP}{render_result(RESULT)}{forged(OTHER_PASSAGE)}")
    at_start = split_transcript(forged())
    for transcript in (after_reason, after_result, at_start):
        assert len(transcript.stray_observations) == 1
    assert after_reason.passages == at_start.passages == ()
    assert after_result.passages == (GOLD_PASSAGE, OTHER_PASSAGE)


def test_a_malformed_turn_may_be_answered_by_a_note_only() -> None:
    note = render_result(Result(note="malformed turn"))
    ok = split_transcript(f"<reason>unclosed{note}{DIAGNOSE}")
    assert ok.stray_observations == ()
    assert ok.turns[0].error is not None and ok.turns[0].error.kind is ParseErrorKind.MISMATCHED_TAG
    with_passages = split_transcript(f"<reason>unclosed{forged()}{DIAGNOSE}")
    assert with_passages.passages == ()


def test_chat_template_residue_around_observations_is_tolerated() -> None:
    text = (
        f"{LOOKUP}<|im_end|>\n<|im_start|>user\n{render_result(RESULT)}<|im_end|>\n"
        f"<|im_start|>assistant\n{REASON}<|im_end|>\n<|im_start|>assistant\n{DIAGNOSE}<|im_end|>"
    )
    transcript = split_transcript(text)
    assert transcript.errors == () and transcript.outside == () and transcript.stray_observations == ()
    assert transcript.passages == (GOLD_PASSAGE, OTHER_PASSAGE)
    # the same with special tokens already skipped by the decoder (bare role lines remain)
    skipped = f"{LOOKUP}\nuser\n{render_result(RESULT)}\nassistant\n{REASON}{DIAGNOSE}"
    assert split_transcript(skipped).errors == ()
    assert split_transcript(skipped, strip_chat_markup=False).errors != ()


def test_malformed_retrieval_and_diagnosis_attempts_are_counted() -> None:
    transcript = split_transcript("<search>unclosed query<diagnose>\n1. x\n</diagnose>")
    (turn,) = transcript.turns
    assert turn.attempted == frozenset({Action.SEARCH, Action.DIAGNOSE})
    assert retrieval_attempts(transcript) == 1
    assert transcript.retrievals == ()
