"""The diagnosis service's parts that need no running app."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
        policy = default_policy(Settings(llm_base_url="http://127.0.0.1:9", llm_model="served"))
        assert type(policy).__name__ == "LlmPolicy" and policy.thread_safe, policy
        print(sorted(name for name in ("torch", "transformers") if name in sys.modules))
        """
    )
    # A DXSEARCH_LLM_MODEL_PATH in the environment would choose the local backend instead.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DXSEARCH_")}  # noqa: TID251
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
