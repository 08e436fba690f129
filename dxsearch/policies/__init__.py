"""Policies: the evidence baseline (no LLM) and LLM policies over local or HTTP backends."""
