"""The diagnosis service's parts that need no running app."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from api.app import create_app
from audit import SqliteAuditStore
from dxsearch.episode import Budget
from dxsearch.policies.card import PolicyCard, write_card
from dxsearch.policies.prompt import SYSTEM_PROMPTS
from dxsearch.retrieval.embedded import EmbeddedIndex
from dxsearch.settings import Settings
from dxsearch.train.tiny_model import build_tiny_model
from tests.api.helpers import api_settings, auth, running

REPO = Path(__file__).resolve().parents[2]


def test_the_service_builds_an_http_llm_policy_without_torch() -> None:
    """``api.service`` and the policy it builds for an OpenAI-compatible server never import torch.

    Only the policy: opening an index (``EmbeddedIndex``) loads the dense retriever's query encoder,
    sentence-transformers on torch, whichever policy serves.
    """
    code = textwrap.dedent(
        """
        import sys
        from api.service import default_policy
        from dxsearch.settings import Settings
        policy, budget, retriever = default_policy(Settings(llm_base_url="http://127.0.0.1:9", llm_model="served"))
        assert retriever == "hybrid"
        assert type(policy).__name__ == "LlmPolicy" and policy.thread_safe, policy
        print(sorted(name for name in ("torch", "transformers") if name in sys.modules))
        """
    )
    # A DXSEARCH_LLM_MODEL_PATH in the environment would choose the local backend instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXSEARCH_")}  # noqa: TID251
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_api_serves_a_checkpoint_under_its_policy_card(
    tmp_path: Path, small_index: Path, test_settings: Settings
) -> None:
    """The API plays a trained checkpoint with its card's prompt, turn length and episode budget, as eval does.

    Before the one policy factory, ``default_policy`` ignored the card and ``DiagnosticEnv`` got the default
    budget, so the API served a checkpoint under other conditions than ``dxsearch eval`` scored it.
    """
    model = build_tiny_model(tmp_path / "checkpoint", seed=0)
    card = PolicyCard(
        budget=Budget(max_turns=2, max_retrievals=1, passages_per_retrieval=2, observation_tokens=128),
        max_new_tokens=16,
        prompt="compact",
        trained_by="test: a card the defaults do not match",
    )
    write_card(model, card)
    settings = api_settings(test_settings, index=small_index, llm_model_path=model, llm_threads=1)
    with SqliteAuditStore(tmp_path / "audit.db") as store:
        app = create_app(settings, index=EmbeddedIndex(small_index, test_settings), audit_store=store)
        with running(app) as client:
            service = app.state.services.diagnosis
            assert service.budget == card.budget != Budget()
            policy = service.policy.inner if hasattr(service.policy, "inner") else service.policy
            assert policy.system_prompt == SYSTEM_PROMPTS["compact"] != SYSTEM_PROMPTS["full"]
            assert policy.max_new_tokens == 16
            response = client.post(
                "/v1/diagnose", json={"findings": ["Arachnodactyly", "Ectopia lentis"]}, headers=auth("clinician")
            )
            assert response.status_code == 200, response.text
            trace = response.json()["trace"]
            assert 1 <= len(trace["turns"]) <= card.budget.max_turns
            assert trace["retrievals_used"] <= card.budget.max_retrievals
            assert trace["policy"]["version"] == policy.version
