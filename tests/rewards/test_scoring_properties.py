"""Properties every reward must keep on any input: bounded, never raising, monotone where it should be."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dxsearch.protocol import (
    Action,
    Candidate,
    Diagnose,
    Passage,
    ProtocolError,
    Reason,
    Result,
    Retrieve,
    Turn,
    parse_turn,
    render_result,
    render_turn,
)
from rewards import (
    BudgetLimits,
    Gold,
    RetrievedEvidence,
    RewardConfig,
    RewardResult,
    RewardWeights,
    accuracy_reward,
    combine,
    format_reward,
    frugality_reward,
    retrieval_reward,
    split_transcript,
    structure_reward,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REWARDS = (format_reward, retrieval_reward, structure_reward, accuracy_reward, frugality_reward, combine)

GOLD = Gold(id="OMIM:154700", label="Marfan syndrome", synonyms=("MFS",), equivalent_codes=("ORPHA:558",))
TITLES = ("Marfan syndrome", "Loeys-Dietz syndrome", "Ehlers-Danlos syndrome", "Homocystinuria", "Stickler syndrome")
CODES = ("OMIM:154700", "OMIM:609192", "OMIM:130000", "OMIM:236200", "OMIM:108300")
PASSAGES = (
    *(
        Passage(f"omim:{code.split(':')[1]}#{chunk}", title, f"About {title}.", 0.5, (code,))
        for title, code in zip(TITLES, CODES, strict=True)
        for chunk in range(2)
    ),
    Passage("pt:ab12#0", "Published patient", "Tall, lens dislocation.", 0.7, ("ORPHA:558",)),
)
PASSAGE_IDS = tuple(p.evidence_id for p in PASSAGES)

# -- strategies -----------------------------------------------------------------------------------

FRAGMENTS = (
    *(f"<{a.value}>" for a in Action),
    *(f"</{a.value}>" for a in Action),
    "<result>",
    "</result>",
    "<note>",
    "</note>",
    '<passage id="omim:154700#0" score="0.9000" codes="OMIM:154700" title="Marfan syndrome">',
    '<passage id="bad" score="nan" codes="" title="">',
    "</passage>",
    "1. Marfan syndrome | OMIM:154700 | omim:154700#0 | 0.9",
    "2. MFS | - | -",
    "insufficient evidence",
    "<|im_start|>user\n",
    "<|im_end|>",
    "assistant\n",
    "omim:154700#0",
    "ORPHA:558",
    "\n",
    " ",
    "|",
    "#",
)
soups = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=40).map("".join)
any_text = st.text() | soups
golds = st.just(GOLD) | st.builds(
    Gold,
    id=st.from_regex(r"\A[A-Za-z][A-Za-z0-9_.\-]{0,8}:[A-Za-z0-9:#_.\-]{1,10}\Z"),
    label=st.text(min_size=1).filter(str.strip),
    synonyms=st.lists(st.text(max_size=20), max_size=3).map(tuple),
    equivalent_codes=st.lists(st.text(max_size=12) | st.sampled_from(CODES), max_size=3).map(tuple),
)
weights = st.floats(min_value=0.0, max_value=10.0)
configs = st.builds(
    RewardConfig,
    weights=st.builds(
        RewardWeights,
        format=weights,
        retrieval=weights,
        structure=weights,
        accuracy=st.floats(min_value=0.01, max_value=10.0),
        frugality=weights,
    ),
    rank_schedule=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=6).map(
        lambda xs: tuple(sorted(xs, reverse=True))
    ),
    budget=st.builds(BudgetLimits, max_turns=st.integers(1, 20), max_retrievals=st.integers(0, 10)),
    duplicate_query_penalty=st.floats(min_value=0.0, max_value=1.0),
    duplicate_passage_penalty=st.floats(min_value=0.0, max_value=1.0),
    frugality_requires_correct=st.booleans(),
    format_gate=st.booleans(),
)
evidence_items = st.builds(
    RetrievedEvidence,
    evidence_id=st.sampled_from(PASSAGE_IDS) | st.text(max_size=12),
    codes=st.lists(st.sampled_from(CODES) | st.text(max_size=10), max_size=3).map(tuple),
    rank=st.integers(1, 50),
    duplicate=st.booleans(),
    title=st.sampled_from(TITLES) | st.text(max_size=15),
)
results = st.builds(
    Result,
    passages=st.lists(st.sampled_from(PASSAGES), max_size=4).map(tuple),
    note=st.none() | st.text(max_size=20),
)
words = st.sampled_from(("tall", "lens", "aorta", "fits", *TITLES, *PASSAGE_IDS))
sentences = st.lists(words, min_size=1, max_size=6).map(" ".join)
candidates = st.builds(
    Candidate,
    name=st.sampled_from((*TITLES, "MFS", "Other disease")),
    code=st.none() | st.sampled_from((*CODES, "ORPHA:558", "OMIM:999999")),
    evidence=st.lists(st.sampled_from(PASSAGE_IDS), max_size=3, unique=True).map(tuple),
)

Pairs = list[tuple[Turn, Result | None]]


@st.composite
def episodes(draw: st.DrawFn) -> Pairs:
    """Well-formed episodes as the environment would record them (retrievals answered, reasoning not)."""
    pairs: Pairs = []
    for _ in range(draw(st.integers(0, 7))):
        if draw(st.booleans()):
            pairs.append((Reason(draw(sentences)), None))
        else:
            action = draw(st.sampled_from([Action.LOOKUP, Action.MATCH, Action.SEARCH]))
            pairs.append((Retrieve(action, draw(st.sampled_from(TITLES))), draw(results)))
    if draw(st.booleans()):
        final = Diagnose(tuple(draw(st.lists(candidates, max_size=5))))
        pairs.append((final, None))
    return pairs


def malformed(text: str) -> bool:
    """A turn the grammar rejects that writes no observation (a policy turn, not an environment one)."""
    if "result>" in text.lower():
        return False
    try:
        parse_turn(text)
    except ProtocolError:
        return all(not t.ok for t in split_transcript(text).turns)
    return False


malformed_turns = any_text.filter(malformed)


def structured(pairs: Pairs) -> list[tuple[str, Result | None]]:
    return [(render_turn(turn), observation) for turn, observation in pairs]


def as_text(pairs: Sequence[tuple[str, Result | None]]) -> str:
    parts: list[str] = []
    for turn, observation in pairs:
        parts.append(turn)
        if observation is not None:
            parts.append(render_result(observation))
    return "\n".join(parts)


def check(result: RewardResult) -> float:
    assert 0.0 <= result.value <= 1.0
    assert all(math.isfinite(v) for v in result.breakdown.values())
    return result.value


# -- bounded, never raising -----------------------------------------------------------------------


@SETTINGS
@given(text=any_text, gold=golds, config=st.none() | configs)
def test_every_reward_is_bounded_on_any_string(text: str, gold: Gold, config: RewardConfig | None) -> None:
    for reward in REWARDS:
        check(reward(text, gold, None, config))


@SETTINGS
@given(
    turns=st.lists(st.tuples(any_text, st.none() | results | any_text), max_size=6),
    gold=golds,
    retrieved=st.none() | st.lists(evidence_items, max_size=8),
    config=st.none() | configs,
)
def test_every_reward_is_bounded_on_any_structured_input(
    turns: list[tuple[str, Result | str | None]],
    gold: Gold,
    retrieved: list[RetrievedEvidence] | None,
    config: RewardConfig | None,
) -> None:
    for reward in REWARDS:
        check(reward(turns, gold, retrieved, config))


@SETTINGS
@given(pairs=episodes(), gold=golds, config=st.none() | configs)
def test_text_and_structured_episodes_score_the_same(pairs: Pairs, gold: Gold, config: RewardConfig | None) -> None:
    turns = structured(pairs)
    assert combine(as_text(turns), gold, None, config) == combine(turns, gold, None, config)


# -- monotone -------------------------------------------------------------------------------------


@SETTINGS
@given(
    others=st.lists(
        st.builds(Candidate, name=st.sampled_from(TITLES[1:]), code=st.none() | st.sampled_from(CODES[1:])),
        min_size=2,
        max_size=4,
    ),
    gold_candidate=st.sampled_from(
        [
            Candidate("Marfan syndrome", "OMIM:154700"),
            Candidate("Some name", "ORPHA:558"),
            Candidate("MFS"),
            Candidate("marfan SYNDROME"),
        ]
    ),
    config=st.none() | configs,
)
def test_gold_at_rank_one_beats_rank_three_beats_absent(
    others: list[Candidate], gold_candidate: Candidate, config: RewardConfig | None
) -> None:
    def score(candidates: list[Candidate]) -> float:
        return check(accuracy_reward(render_turn(Diagnose(tuple(candidates))), GOLD, None, config))

    first = score([gold_candidate, *others[:4]])
    third = score([*others[:2], gold_candidate, *others[2:4]])
    absent = score(others)
    assert first >= third >= absent == 0.0


@SETTINGS
@given(pairs=episodes(), bad=malformed_turns, note=st.booleans(), data=st.data())
def test_adding_a_malformed_turn_never_raises_format(pairs: Pairs, bad: str, note: bool, data: st.DataObject) -> None:
    turns = structured(pairs)
    position = data.draw(st.integers(0, len(turns)))
    observation = Result(note="malformed turn") if note else None
    worse = [*turns[:position], (bad, observation), *turns[position:]]
    assert check(format_reward(worse, GOLD)) <= check(format_reward(turns, GOLD))
    # as text, inserted anywhere between turns and observations (even between a retrieval and its result)
    parts = split_parts(turns)
    cut = data.draw(st.integers(0, len(parts)))
    worse_text = "\n".join([*parts[:cut], bad, *parts[cut:]])
    assert check(format_reward(worse_text, GOLD)) <= check(format_reward("\n".join(parts), GOLD))


def split_parts(turns: Sequence[tuple[str, Result | None]]) -> list[str]:
    parts: list[str] = []
    for turn, observation in turns:
        parts.append(turn)
        if observation is not None:
            parts.append(render_result(observation))
    return parts


@SETTINGS
@given(pairs=episodes(), data=st.data())
def test_more_duplicate_retrievals_never_raise_retrieval(pairs: Pairs, data: st.DataObject) -> None:
    turns = structured(pairs)
    position = data.draw(st.integers(0, len(turns)))
    seen = [p for _, observation in turns[:position] if observation is not None for p in observation.passages]
    shown_again = data.draw(st.lists(st.sampled_from(seen), max_size=3)) if seen else []
    previous_queries = [turn for turn, _ in pairs[:position] if isinstance(turn, Retrieve)]
    query = data.draw(st.sampled_from(previous_queries)) if previous_queries else Retrieve(Action.SEARCH, "x")
    repeat = (render_turn(query), Result(tuple(shown_again), note="this query was already run"))
    worse = [*turns[:position], repeat, *turns[position:]]
    for shape in (lambda t: t, as_text):
        assert check(retrieval_reward(shape(worse), GOLD)) <= check(retrieval_reward(shape(turns), GOLD))


@SETTINGS
@given(
    retrieved=st.lists(evidence_items, max_size=8),
    duplicates=st.lists(
        evidence_items.map(lambda e: RetrievedEvidence(e.evidence_id, e.codes, e.rank, True, e.title)),
        min_size=1,
        max_size=4,
    ),
    gold=golds,
)
def test_more_duplicate_records_never_raise_retrieval(
    retrieved: list[RetrievedEvidence], duplicates: list[RetrievedEvidence], gold: Gold
) -> None:
    before = check(retrieval_reward("", gold, retrieved))
    assert check(retrieval_reward("", gold, [*retrieved, *duplicates])) <= before


@SETTINGS
@given(pairs=episodes(), bogus=st.from_regex(r"\Abogus:[0-9]{1,4}#[0-9]{1,2}\Z"), data=st.data())
def test_citing_a_never_retrieved_id_never_raises_structure(pairs: Pairs, bogus: str, data: st.DataObject) -> None:
    before = structured(pairs)
    # in the final diagnosis
    final = pairs[-1][0] if pairs else None
    if isinstance(final, Diagnose) and final.candidates:
        index = data.draw(st.integers(0, len(final.candidates) - 1))
        chosen = final.candidates[index]
        cited = Candidate(chosen.name, chosen.code, (*chosen.evidence, bogus), chosen.confidence)
        changed = Diagnose((*final.candidates[:index], cited, *final.candidates[index + 1 :]))
        after = [*before[:-1], (render_turn(changed), None)]
        for shape in (lambda t: t, as_text):
            assert check(structure_reward(shape(after), GOLD)) <= check(structure_reward(shape(before), GOLD))
    # in a reasoning turn
    reasons = [i for i, (turn, _) in enumerate(pairs) if isinstance(turn, Reason)]
    assume(reasons or isinstance(final, Diagnose))
    if reasons:
        index = data.draw(st.sampled_from(reasons))
        turn = pairs[index][0]
        assert isinstance(turn, Reason)
        after = [*before[:index], (render_turn(Reason(f"{turn.text} see {bogus}")), None), *before[index + 1 :]]
        for shape in (lambda t: t, as_text):
            assert check(structure_reward(shape(after), GOLD)) <= check(structure_reward(shape(before), GOLD))
