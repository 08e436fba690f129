"""DxSearch: a diagnostic agent that reasons by alternating thought with retrieval.

This package holds what every other part shares: the corpus vocabulary, the
retrievers, the case model and (later) the agent, its environment and policies.
It never imports ``api`` or ``corpus_builder``.
"""

__version__ = "0.1.0"
