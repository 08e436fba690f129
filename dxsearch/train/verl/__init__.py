"""verl integration: DxSearch retrieval as a verl tool, datasets in verl's layout, the reward, the GRPO config.

What runs where:

* **On the GPU cluster only** (verl's trainer needs CUDA): ``python -m verl.trainer.main_ppo`` with
  ``config/dxsearch_grpo.yaml`` — FSDP actor/reference, vLLM rollouts, and verl's ``tool_agent`` loop,
  which calls :class:`~dxsearch.train.verl.tool.RetrieveTool` inside its CPU-side ``AgentLoopWorker``
  actors and scores finished rollouts with :func:`dxsearch.train.verl.reward.compute_score`.
  ``deploy/verl/launch_ray.sh`` starts Ray and that job.
* **Anywhere, CPU only** (and in the tests): the tool against a real index
  (:mod:`~dxsearch.train.verl.tool`), the parquet export (:mod:`~dxsearch.train.verl.export`), the
  transcript conversion and reward (:mod:`~dxsearch.train.verl.convert`, :mod:`~dxsearch.train.verl.reward`),
  and the config check (:mod:`~dxsearch.train.verl.preflight`), which composes the GRPO config against
  verl's own defaults and runs verl's own ``validate_config`` before any GPU is allocated.

The policy speaks the DxSearch protocol (:mod:`dxsearch.protocol`) except that retrieval actions are
hermes-style calls of one ``retrieve`` tool (:mod:`~dxsearch.train.verl.calls`) — the format verl's
tool loop and Qwen2.5's chat template understand. Every call is answered by the same
:class:`dxsearch.env.DiagnosticEnv` as local inference, and the reward converts the transcript back
to protocol text, so rewards are computed by :mod:`rewards` exactly as everywhere else.
"""
