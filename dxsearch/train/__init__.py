"""Training: the local CPU loop (SFT warm start, then GRPO with TRL over DiagnosticEnv) and verl integration.

Everything here drives policies through :class:`dxsearch.env.DiagnosticEnv` and scores them with
:mod:`rewards`, the same environment and rewards that inference and evaluation use.
"""
