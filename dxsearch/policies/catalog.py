"""The policy registry and its one factory: every entry point builds a policy by name, the same way.

Why one factory: the CLI (``diagnose``, ``eval``), the API and the benchmark must play a policy under the
same conditions. A trained checkpoint carries a policy card (its prompt, turn length and episode budget);
reading that card in one place means the API cannot serve a checkpoint under a different prompt or
budget than ``dxsearch eval`` scored it with. Heavy modules (the LLM backends, the phenotype scorer) are
imported inside the builders, so choosing a policy imports only what that policy needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dxsearch.episode import Budget
from dxsearch.policies.base import Policy, PolicyError
from dxsearch.registry import Registry
from dxsearch.settings import Settings

if TYPE_CHECKING:
    from dxsearch.knowledge.hpo import HpoKnowledge
    from dxsearch.retrieval.base import Retriever
    from dxsearch.retrieval.embedded import EmbeddedIndex

#: Builds a policy from the settings and the disease knowledge it may rank with (``None``: the full release).
PolicyBuilder = Callable[[Settings, "HpoKnowledge | None"], tuple[Policy, Budget | None]]


@dataclass(frozen=True, slots=True)
class PolicyEntry:
    """How to build one named policy, and which retriever its environment searches with."""

    build: PolicyBuilder
    retriever: str = "hybrid"
    description: str = ""


#: Policies by the name ``--policy`` and ``DXSEARCH_POLICY`` accept.
POLICIES: Registry[PolicyEntry] = Registry("policy")


class PolicyLoadError(ValueError):
    """A policy could not be built (missing checkpoint, malformed card, no LLM configured): one line for users."""


def make_policy(
    name: str, settings: Settings, model: Path | None = None, knowledge: HpoKnowledge | None = None
) -> tuple[Policy, Budget]:
    """The policy called ``name`` and the episode budget to play it under (its card's, else the default).

    ``model`` overrides ``settings.llm_model_path`` (a local checkpoint for ``llm``). ``knowledge`` is the
    disease knowledge the policy ranks with: pass :func:`index_knowledge` of the index it plays against, so
    an index built without some publications is never ranked with their annotation rows. Unknown names
    raise :class:`dxsearch.registry.RegistryError`; a policy that cannot be built raises
    :class:`PolicyLoadError`.
    """
    entry = POLICIES.get(name)
    if model is not None:
        settings = settings.model_copy(update={"llm_model_path": model})
    try:
        policy, budget = entry.build(settings, knowledge)
    except PolicyLoadError:
        raise
    except (PolicyError, ValueError, OSError) as exc:
        raise PolicyLoadError(f"cannot load the {name} policy: {exc}") from None
    return policy, budget or Budget()


def index_knowledge(index: EmbeddedIndex) -> HpoKnowledge:
    """The disease knowledge an index was built with: the HPO rows minus its excluded publications' rows."""
    from dxsearch.knowledge.hpo import get_hpo_knowledge

    return get_hpo_knowledge(index.manifest.excluded_publications)


def index_retriever(index: EmbeddedIndex, name: str) -> Retriever:
    """The named retriever of ``index`` as an environment searches with it: similar patients (``<match>``) ranked
    by the meaning of their findings over the index's own knowledge (:mod:`dxsearch.policies.patient_match`),
    unless ``Settings.match_by_meaning`` is off."""
    from dxsearch.policies.patient_match import PatientMatchRetriever

    inner = index.retriever(name)
    if not index.settings.match_by_meaning:
        return inner
    return PatientMatchRetriever.over(index, inner, index_knowledge(index))


def retriever_for(name: str) -> str:
    """The retriever the named policy's environment searches with."""
    return POLICIES.get(name).retriever


def configured_policy_name(settings: Settings) -> str:
    """What a server plays: the LLM when one is configured (a checkpoint or a server), else ``settings.policy``."""
    if settings.llm_model_path is not None or (settings.llm_base_url and settings.llm_model):
        return "llm"
    return settings.policy


def _evidence(settings: Settings, knowledge: HpoKnowledge | None) -> tuple[Policy, Budget | None]:
    from dxsearch.knowledge.similarity import get_phenotype_similarity
    from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig

    config = EvidencePolicyConfig.from_settings(settings)
    return EvidencePolicy(config, similarity=get_phenotype_similarity(knowledge)), None


def _phenotype(settings: Settings, knowledge: HpoKnowledge | None) -> tuple[Policy, Budget | None]:
    from dxsearch.knowledge.similarity import get_phenotype_similarity
    from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig

    no_votes = EvidencePolicyConfig.from_settings(settings, vote_weight=0.0, retrieval_weight=0.0)
    return EvidencePolicy(no_votes, similarity=get_phenotype_similarity(knowledge), name="phenotype"), None


def _ranking(retriever: str) -> PolicyBuilder:
    def build(settings: Settings, knowledge: HpoKnowledge | None) -> tuple[Policy, Budget | None]:
        from dxsearch.policies.ranking import RetrievalRankingPolicy

        return RetrievalRankingPolicy(retriever), None

    return build


def _llm(settings: Settings, knowledge: HpoKnowledge | None) -> tuple[Policy, Budget | None]:
    """A local checkpoint (played under its policy card), else an OpenAI-compatible server."""
    from dxsearch.policies.llm import LlmPolicy

    if settings.llm_model_path is not None:
        from dxsearch.policies.backends.transformers import TransformersBackend
        from dxsearch.policies.card import read_card
        from dxsearch.policies.prompt import SYSTEM_PROMPTS

        model = settings.llm_model_path
        backend = TransformersBackend(model, num_threads=settings.llm_threads)
        card = read_card(model)
        if card is None:
            return LlmPolicy(backend, max_new_tokens=settings.llm_max_new_tokens), None
        prompt = SYSTEM_PROMPTS[card.prompt]
        return LlmPolicy(backend, max_new_tokens=card.max_new_tokens, system_prompt=prompt), card.budget
    if settings.llm_base_url is not None and settings.llm_model is not None:
        from dxsearch.policies.backends.openai_http import OpenAIChatBackend

        http = OpenAIChatBackend(
            settings.llm_base_url,
            settings.llm_model,
            api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            revision=settings.llm_revision,
        )
        return LlmPolicy(http, max_new_tokens=settings.llm_max_new_tokens), None
    raise PolicyLoadError(
        "--policy llm needs --model PATH (local checkpoint) or --llm-url and --llm-name "
        "(DXSEARCH_LLM_MODEL_PATH, or DXSEARCH_LLM_BASE_URL and DXSEARCH_LLM_MODEL)"
    )


def _learned(settings: Settings, knowledge: HpoKnowledge | None) -> tuple[Policy, Budget | None]:
    """Weights from ``--model DIR`` (a ``dxsearch train --preset cpu-policy`` model), else the shipped ones."""
    from dxsearch.knowledge.similarity import get_phenotype_similarity
    from dxsearch.policies.card import read_card
    from dxsearch.policies.evidence import EvidencePolicy, EvidencePolicyConfig
    from dxsearch.policies.learned import LearnedPolicy, default_weights, load_params

    model = settings.llm_model_path or default_weights()
    if model is None:
        raise PolicyLoadError(
            "--policy learned needs --model DIR (OUT/models/grpo of `dxsearch train --preset cpu-policy --out OUT`)"
        )
    card = read_card(model) if model.is_dir() else None
    budget = card.budget if card is not None else None
    # Its features, and its abstention (findings checks, DXSEARCH_ABSTAIN_*), come from the evidence policy.
    evidence = EvidencePolicy(
        EvidencePolicyConfig.from_settings(settings), similarity=get_phenotype_similarity(knowledge)
    )
    return LearnedPolicy(load_params(model), budget, evidence=evidence), budget


POLICIES.register("evidence")(
    PolicyEntry(_evidence, description="hand-weighted evidence baseline: phenotype scores, similar patients, lookups")
)
POLICIES.register("phenotype")(
    PolicyEntry(_phenotype, description="the evidence baseline with retrieval votes off (ablation)")
)
for _name in ("lexical", "dense", "hybrid"):
    POLICIES.register(_name)(
        PolicyEntry(_ranking(_name), retriever=_name, description=f"diagnose the {_name} retrieval ranking in order")
    )
POLICIES.register("learned")(
    PolicyEntry(_learned, description="evidence signals; decisions and ranking learned by GRPO (shipped, or --model)")
)
POLICIES.register("llm")(
    PolicyEntry(_llm, description="a language model: local checkpoint (--model) or OpenAI-compatible server")
)
