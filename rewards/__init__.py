"""Reward functions for training the diagnostic agent (format, retrieval, structure, accuracy).

Pure functions of (trajectory text, gold answer, retrieved ids), shared by verl's
``compute_score``, the local GRPO trainer and evaluation. Empty until the rewards
issue lands; the package exists so the distribution's layout is settled.
"""
