"""The text backends an :class:`~dxsearch.policies.llm.LlmPolicy` runs on, one module each.

``base`` holds the protocol and what both backends share; ``transformers`` runs a local checkpoint
and is the only module of the policy's that imports torch and transformers; ``openai_http`` talks to
an OpenAI-compatible server (vLLM) over HTTP, so a policy served through vLLM never loads torch.
This package imports none of them.
"""
