"""The evidence policy says "insufficient evidence", and why, when the findings cannot support an answer.

Real HPO knowledge and the real phenotype scorer; no index is needed, because these answers come
before any retrieval.
"""

from __future__ import annotations

import pytest

from dxsearch.intake import CaseInput, FindingInput, intake
from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
from dxsearch.protocol import Action, Diagnose, Retrieve, parse_turn
from dxsearch.pseudonym import Pseudonymiser
from dxsearch.settings import Settings

PSEUDONYMS = Pseudonymiser("abstention-test-pseudonym-key")
MARFAN = ["Arachnodactyly", "Ectopia lentis", "Tall stature", "Aortic root aneurysm"]


def _first_turn(labels: list[str], policy: EvidencePolicy | None = None) -> Diagnose | Retrieve:
    prepared = intake(
        CaseInput(findings=[FindingInput(label=label) for label in labels]), pseudonymiser=PSEUDONYMS, fallback_id="t"
    )
    turn = parse_turn((policy or EvidencePolicy()).next_turn(prepared.case, []))
    assert isinstance(turn, Diagnose | Retrieve)
    return turn


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        (["xyzzy plugh"], "no finding was understood"),
        (["Fever", "Cough"], "nonspecific"),
        (["Headache"], "nonspecific"),
        (["Fever"], "nonspecific"),
        (["Cough"], "nonspecific"),
        (["Seizure", "Hypotonia", "Intellectual disability"], "nonspecific"),
        (
            ["Ectopia lentis", "Seizure", "Hypotonia", "Intellectual disability", "Global developmental delay"],
            "too few specific findings: 1 of the 2",
        ),
    ],
)
def test_unsupported_findings_are_insufficient_evidence_with_a_reason(labels: list[str], why: str) -> None:
    turn = _first_turn(labels)
    assert isinstance(turn, Diagnose) and turn.insufficient
    assert turn.reason is not None and why in turn.reason


def test_the_reason_names_what_was_not_understood() -> None:
    turn = _first_turn(["xyzzy plugh"])
    assert isinstance(turn, Diagnose) and turn.reason is not None and "xyzzy plugh" in turn.reason


def test_specific_findings_go_on_to_retrieval() -> None:
    turn = _first_turn(MARFAN)
    assert isinstance(turn, Retrieve) and turn.action is Action.MATCH


def test_thresholds_come_from_settings_and_zero_turns_the_checks_off() -> None:
    off = Settings(abstain_below=0.0, abstain_min_specific_findings=0, abstain_min_information=0.0)
    config = EvidencePolicyConfig.from_settings(off)
    assert (config.abstain_below, config.min_specific_findings, config.min_information) == (0.0, 0, 0.0)
    turn = _first_turn(["Fever", "Cough"], EvidencePolicy(config))
    assert isinstance(turn, Retrieve)
    assert EvidencePolicyConfig.from_settings(Settings()) == EvidencePolicyConfig()
