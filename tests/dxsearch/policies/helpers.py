"""What the LLM policy's and its backends' tests share: one case mid-episode, and stop-string probes."""

from __future__ import annotations

import pytest

from dxsearch.cases import Case, Finding
from dxsearch.episode import Exchange
from dxsearch.policies.backends.transformers import TransformersBackend
from dxsearch.protocol import Passage, Result

CASE = Case(
    case_id="PMID_31234567_proband-7",
    sex="female",
    age="P4Y6M",
    findings=(
        Finding(label="Seizure", hpo_id="HP:0001250"),
        Finding(label="Global developmental delay", hpo_id="HP:0001263"),
        Finding(label="Unusual gait"),
        Finding(label="Microcephaly", hpo_id="HP:0000252", excluded=True),
    ),
    text="Referred at 4 years; <b>regression</b> after febrile illness & fever.",
)
LOOKUP_RESULT = Result(
    passages=(
        Passage(
            evidence_id="omim:607208#0",
            title="Dravet syndrome",
            text="Dravet syndrome: seizures in infancy, developmental delay",
            score=0.9,
            codes=("OMIM:607208",),
        ),
    ),
    note="3 retrievals left",
)
HISTORY = (
    Exchange("<reason>Early seizures with delay.</reason>", None),
    Exchange("<lookup>Dravet syndrome</lookup>", LOOKUP_RESULT),
)
MAX_NEW = 40


def free_output(backend: TransformersBackend, messages: list[dict[str, str]]) -> str:
    """Greedy output with no stop strings at all: the reference the stop tests cut."""
    completion = backend.generate(messages, [], MAX_NEW)
    assert completion.finish_reason in ("length", "eos")
    return completion.text


def stop_inside(text: str) -> str:
    """A short ASCII piece from the middle of ``text``, to use as a stop string the model will hit."""
    for start in range(len(text) // 3, len(text) - 3):
        piece = text[start : start + 3]
        if piece.isascii() and piece.strip() and piece.isprintable():
            return piece
    pytest.fail(f"no usable stop string in the generated text {text!r}")
