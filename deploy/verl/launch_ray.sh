#!/usr/bin/env bash
# DxSearch GRPO with verl on a Ray cluster: start/join Ray, export the data, check and run the trainer.
# Everything is offline: the model is a local directory, the index and the cases are local files.
# See deploy/verl/README.md; run with --help for the options.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: deploy/verl/launch_ray.sh COMMAND [options] [-- hydra overrides...]

commands
  head      start the Ray head on this node (run first, on node 0)
  worker    join this node to the head's cluster (every other node; needs --address)
  export    write DATA/train.parquet and DATA/validation.parquet from case files
  check     compose the trainer config and run verl's and DxSearch's checks (CPU only)
  train     check, then run python -m verl.trainer.main_ppo on the cluster (on the head node)
  stop      stop Ray on this node

options
  --model DIR          local Qwen2.5-7B-Instruct checkpoint (train, check)      [$MODEL_PATH]
  --index DIR          DxSearch index, same path on every node (train, check) [$DXSEARCH_INDEX]
  --data DIR           parquet directory (export writes, train reads)          [var/verl]
  --train-cases FILE   cases to train on, phenopacket JSONL (export)           [var/sim/indexed.jsonl]
  --heldout FILE       held-out cases: refused in train, used for validation   [var/sim/heldout.jsonl]
  --nnodes N           nodes in the cluster (train, check)                     [1]
  --gpus-per-node N    GPUs per node                                            [8]
  --address HOST:PORT  the head's Ray address (worker; train from another node) [this node:--port]
  --port N             Ray head port                                            [6379]
  --checkpoints DIR    trainer.default_local_dir                                [checkpoints/dxsearch]
  --python PATH        interpreter with dxsearch[train] and verl installed     [.venv/bin/python or python3]

After "--", arguments are Hydra overrides for the trainer, e.g. -- trainer.total_epochs=1.

example (2 nodes x 8 GPUs)
  node0$ deploy/verl/launch_ray.sh head
  node1$ deploy/verl/launch_ray.sh worker --address node0:6379
  node0$ deploy/verl/launch_ray.sh export --index /data/index
  node0$ deploy/verl/launch_ray.sh train --model /models/Qwen2.5-7B-Instruct --index /data/index --nnodes 2
EOF
}

die() {
    echo "launch_ray.sh: $*" >&2
    exit 2
}

if [[ $# -eq 0 ]]; then
    usage >&2
    exit 2
fi
command="$1"
shift
case "$command" in
    -h | --help | help)
        usage
        exit 0
        ;;
    head | worker | export | check | train | stop) ;;
    *) die "unknown command '$command' (try --help)" ;;
esac

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
model="${MODEL_PATH:-}"
index="${DXSEARCH_INDEX:-}"
data="var/verl"
train_cases="var/sim/indexed.jsonl"
heldout="var/sim/heldout.jsonl"
nnodes=1
gpus_per_node=8
address=""
port=6379
checkpoints="checkpoints/dxsearch"
python=""
overrides=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --model) model="$2"; shift 2 ;;
        --index) index="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --train-cases) train_cases="$2"; shift 2 ;;
        --heldout) heldout="$2"; shift 2 ;;
        --nnodes) nnodes="$2"; shift 2 ;;
        --gpus-per-node) gpus_per_node="$2"; shift 2 ;;
        --address) address="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        --checkpoints) checkpoints="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        --) shift; overrides=("$@"); break ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done
if [[ -z "$python" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python="python3"; fi
fi
ray=("$python" -m ray.scripts.scripts)

# Offline everywhere: no process of this job may reach the Hugging Face hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

absolute() {
    # An absolute path (Ray workers do not share the driver's working directory).
    case "$1" in
        /*) printf '%s\n' "$1" ;;
        *) printf '%s/%s\n' "$(pwd)" "$1" ;;
    esac
}

need() {
    # need NAME VALUE: fail with the option to give when VALUE is empty.
    [[ -n "$2" ]] || die "$command needs $1"
}

case "$command" in
    head)
        "${ray[@]}" start --head --port "$port" --num-gpus "$gpus_per_node" --disable-usage-stats
        ;;
    worker)
        need --address "$address"
        "${ray[@]}" start --address "$address" --num-gpus "$gpus_per_node" --disable-usage-stats
        ;;
    stop)
        "${ray[@]}" stop
        ;;
    export)
        [[ -f "$train_cases" ]] || die "no train cases at $train_cases (e.g. corpus-builder simulate-cases --out var/sim)"
        [[ -f "$heldout" ]] || die "no held-out cases at $heldout"
        index_args=()
        if [[ -n "$index" ]]; then index_args=(--index "$index"); fi
        "$python" -m dxsearch.train.verl.export --split train --cases "$train_cases" --heldout "$heldout" \
            "${index_args[@]}" --out "$data/train.parquet"
        "$python" -m dxsearch.train.verl.export --split validation --cases "$heldout" \
            "${index_args[@]}" --out "$data/validation.parquet"
        ;;
    check | train)
        need --model "$model"
        need --index "$index"
        tool_config="$("$python" -m dxsearch.train.verl.preflight --print-tool-config)"
        config_dir="$("$python" -m dxsearch.train.verl.preflight --print-config-dir)"
        # Everything dxsearch_grpo.yaml leaves null, as absolute paths (Ray workers have other working
        # directories). The index reaches every worker's tool as DXSEARCH_INDEX through Ray's runtime_env.
        trainer_args=(
            "actor_rollout_ref.model.path=$(absolute "$model")"
            "data.train_files=$(absolute "$data")/train.parquet"
            "data.val_files=$(absolute "$data")/validation.parquet"
            "actor_rollout_ref.rollout.multi_turn.tool_config_path=$tool_config"
            "ray_kwargs.ray_init.runtime_env.env_vars.DXSEARCH_INDEX=$(absolute "$index")"
            "trainer.nnodes=$nnodes"
            "trainer.n_gpus_per_node=$gpus_per_node"
            "trainer.default_local_dir=$(absolute "$checkpoints")"
            "${overrides[@]}"
        )
        "$python" -m dxsearch.train.verl.preflight --check-paths "${trainer_args[@]}"
        if [[ "$command" == train ]]; then
            # main_ppo calls ray.init() without an address: RAY_ADDRESS makes it join this cluster.
            export RAY_ADDRESS="${address:-127.0.0.1:$port}"
            exec "$python" -m verl.trainer.main_ppo --config-path "$config_dir" --config-name dxsearch_grpo \
                "${trainer_args[@]}"
        fi
        ;;
esac
